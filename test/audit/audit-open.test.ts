// Unit tests of where an audit chain continues on open: the tail and the head checkpoint compared,
// each finding by its exact message, and what recovery and acceptBrokenTail do (the new segment's
// reason, the broken file moved aside). Hand-written logs; record hashes computed here with
// node:crypto over sorted-key JSON.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { makeAuditCheckpoint, writeAuditCheckpoint } from '../../src/audit/audit-checkpoint.js';
import { AuditLogError } from '../../src/audit/audit-log-error.js';
import {
  checkAgainstCheckpoint,
  openAuditChain,
  recoveryHint,
} from '../../src/audit/audit-open.js';
import { rotatedAuditPath } from '../../src/audit/audit-tail.js';

const genesis = '0'.repeat(64);
const at = new Date('2026-04-05T06:07:08.009Z');

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-audit-open-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

type Fields = Record<string, string | number | null>;
const sorted = (fields: Fields): string =>
  JSON.stringify(Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1))));

function chain(from: number, to: number, prev = genesis) {
  const out: { seq: number; hash: string; text: string }[] = [];
  for (let seq = from; seq <= to; seq++) {
    const fields: Fields = {
      seq,
      ts: '2026-04-05T00:00:00.000Z',
      event: 'request',
      outcome: 'allowed',
      requestId: null,
      sub: `u${seq}`,
      ip: null,
      method: null,
      path: null,
      model: null,
      version: null,
      status: null,
      reason: null,
      durationMs: null,
      inputSha256: null,
      prevHash: prev,
    };
    const hash = createHash('sha256').update(sorted(fields), 'utf8').digest('hex');
    out.push({ seq, hash, text: sorted({ ...fields, hash }) });
    prev = hash;
  }
  return out;
}
const text = (lines: readonly { text: string }[]): string =>
  lines.map((l) => `${l.text}\n`).join('');

/** A checkpoint of the record `index` of `lines` as written to `file` (offset after its line). */
function checkpointAt(
  path: string,
  lines: readonly { seq: number; hash: string; text: string }[],
  index: number,
  file = path,
) {
  const line = lines[index];
  assert.ok(line !== undefined, 'line !== undefined');
  const offset = Buffer.byteLength(text(lines.slice(0, index + 1)));
  return makeAuditCheckpoint(
    { log: path, file, offset, seq: line.seq, hash: line.hash },
    undefined,
    at,
  );
}

const said = (cp: { ts: string; seq: number; hash: string; offset: number; file: string }) =>
  `the checkpoint (written ${cp.ts}) records seq ${cp.seq}, hash ${cp.hash}, ending at byte ${cp.offset} of ${cp.file}`;

void describe('checkAgainstCheckpoint', () => {
  const lines = chain(1, 4);

  void it('holds when the head is at its offset and the records after it verify', async (t) => {
    const path = join(await dir(t), 'audit.log');
    await writeFile(path, text(lines));
    assert.equal(
      await checkAgainstCheckpoint(path, checkpointAt(path, lines, 1), undefined),
      undefined,
    );
    assert.equal(
      await checkAgainstCheckpoint(path, checkpointAt(path, lines, 3), undefined),
      undefined,
    );
    const zero = makeAuditCheckpoint(
      { log: path, file: path, offset: 0, seq: 0, hash: genesis },
      undefined,
      at,
    );
    assert.equal(
      await checkAgainstCheckpoint(
        join(path, 'nowhere'),
        { ...zero, log: join(path, 'nowhere') },
        undefined,
      ),
      undefined,
    );
  });

  void it('names a checkpoint of another log', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const cp = checkpointAt('/other/audit.log', lines, 1);
    assert.equal(
      await checkAgainstCheckpoint(path, cp, undefined),
      `the checkpoint is for /other/audit.log, not ${path}`,
    );
  });

  void it('a missing or shortened log', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const cp = checkpointAt(path, lines, 2);
    assert.equal(
      await checkAgainstCheckpoint(path, cp, undefined),
      `the audit log ${path} is missing; ${said(cp)}`,
    );
    const short = text(lines.slice(0, 2));
    await writeFile(path, short);
    assert.equal(
      await checkAgainstCheckpoint(path, cp, undefined),
      `the audit log ${path} is shorter than the checkpoint (${Buffer.byteLength(short)} bytes): records were cut; ${said(cp)}`,
    );
  });

  void it('a different head at the offset, by what is found there', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const cp = checkpointAt(path, lines, 1);
    const differs = (found: string) =>
      `the head of ${path} differs from the checkpoint: at byte ${cp.offset} there is ${found}; ${said(cp)}`;
    // Another chain of the same length: a record ends there, with another hash.
    const other = chain(1, 4, 'a'.repeat(64));
    await writeFile(path, text(other));
    assert.equal(
      await checkAgainstCheckpoint(path, cp, undefined),
      differs(`seq 2 with hash ${other[1]?.hash}`),
    );
    // The same bytes shifted by one: no line ends at the offset.
    await writeFile(path, ` ${text(lines)}`);
    assert.equal(
      await checkAgainstCheckpoint(path, cp, undefined),
      differs('no record ends there'),
    );
    // A line that is not JSON, or JSON that is not a record, ends there.
    const first = Buffer.byteLength(text(lines.slice(0, 1)));
    const filler = (body: string) =>
      `${text(lines.slice(0, 1))}${body.padEnd(cp.offset - first - 1, ' ')}\n`;
    await writeFile(path, filler('{not json'));
    assert.equal(await checkAgainstCheckpoint(path, cp, undefined), differs('not a JSON record'));
    await writeFile(path, filler('{"seq":0}'));
    assert.equal(await checkAgainstCheckpoint(path, cp, undefined), differs('bad seq'));
  });

  void it('records after the head that do not verify, unless only the head is asked for', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const edited = lines.map((l, i) => (i === 3 ? { text: l.text.replace('"u4"', '"eve"') } : l));
    await writeFile(path, text(edited));
    const cp = checkpointAt(path, lines, 1);
    assert.equal(
      await checkAgainstCheckpoint(path, cp, undefined),
      `the records after the checkpoint do not verify: seq 4: hash does not match the record's contents (if the log is HMAC-keyed, give its key) (${path}:2)`,
    );
    assert.equal(await checkAgainstCheckpoint(path, cp, undefined, false), undefined);
  });

  void it('finds a head that is the last record of a rotated file, with no live file yet', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    // The head was seq 3 in audit.log; the file was then rotated after seq 3, nothing since.
    const cp = checkpointAt(path, lines, 2, 'audit.log');
    await writeFile(rotatedAuditPath(path, 3), text(lines.slice(0, 3)));
    assert.equal(await checkAgainstCheckpoint(path, cp, undefined), undefined);
    // And with records after it in a new live file.
    await writeFile(path, text(lines.slice(3)));
    assert.equal(await checkAgainstCheckpoint(path, cp, undefined), undefined);
  });

  void it('passes on a file system error other than a missing file', async (t) => {
    const d = await dir(t);
    await writeFile(join(d, 'not-a-folder'), 'x');
    const path = join(d, 'not-a-folder', 'audit.log');
    await assert.rejects(checkAgainstCheckpoint(path, checkpointAt(path, lines, 1), undefined), {
      code: 'ENOTDIR',
    });
  });

  void it('closes the log file it reads the head from', async (t) => {
    const path = join(await dir(t), 'audit.log');
    await writeFile(path, text(lines));
    const cp = checkpointAt(path, lines, 3);
    const openFiles = async () => (await readdir('/proc/self/fd')).length;
    await checkAgainstCheckpoint(path, cp, undefined, false);
    const before = await openFiles();
    for (let i = 0; i < 30; i++) await checkAgainstCheckpoint(path, cp, undefined, false);
    const grown = (await openFiles()) - before;
    assert.ok(grown < 10, `${grown} more open files after 30 checks`);
  });

  void it('follows the head into the rotated file that holds it now', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    // Written when seq 1..2 were in audit.log; since then it was rotated after seq 3.
    const cp = checkpointAt(path, lines, 1, 'audit.log');
    await writeFile(rotatedAuditPath(path, 1), text([]));
    await writeFile(rotatedAuditPath(path, 3), text(lines.slice(0, 3)));
    await writeFile(path, text(lines.slice(3)));
    assert.equal(await checkAgainstCheckpoint(path, cp, undefined), undefined);
    // A checkpoint that names the rotated file itself.
    const named = checkpointAt(path, lines, 2, 'audit.log.000000000003');
    assert.equal(await checkAgainstCheckpoint(path, named, undefined), undefined);
    const gone = { ...named, file: 'audit.log.000000000099' };
    assert.equal(
      await checkAgainstCheckpoint(path, gone, undefined),
      `the audit log ${join(d, 'audit.log.000000000099')} is missing; ${said(gone)}`,
    );
  });
});

void describe('openAuditChain', () => {
  const lines = chain(1, 3);
  const base = (path: string, extra: Partial<Parameters<typeof openAuditChain>[0]> = {}) => ({
    path,
    hmacKey: undefined,
    checkpointPath: undefined,
    acceptBrokenTail: false,
    recover: false,
    now: () => at,
    ...extra,
  });
  const refused = (code: string, message: string) => (error: unknown) => {
    assert.ok(error instanceof AuditLogError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  };

  void it('a new log starts at genesis; an intact one continues after its last record', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    assert.deepEqual(await openAuditChain(base(path)), {
      lastSeq: 0,
      lastHash: genesis,
      segmentReason: undefined,
    });
    await writeFile(path, text(lines));
    assert.deepEqual(await openAuditChain(base(path)), {
      lastSeq: 3,
      lastHash: lines[2]?.hash,
      segmentReason: undefined,
    });
    const checkpointPath = join(d, 'cp.json');
    await writeAuditCheckpoint(checkpointPath, checkpointAt(path, lines, 2), false);
    assert.deepEqual(await openAuditChain(base(path, { checkpointPath })), {
      lastSeq: 3,
      lastHash: lines[2]?.hash,
      segmentReason: undefined,
    });
  });

  void it('records without a checkpoint are refused, or recovered into a new segment', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    const checkpointPath = join(d, 'cp.json');
    // No records and no checkpoint yet: a first start.
    assert.equal((await openAuditChain(base(path, { checkpointPath }))).lastSeq, 0);
    await writeFile(path, text(lines));
    const finding = `the audit log ${path} has records but there is no head checkpoint at ${checkpointPath} (deleted, or the first start of a version that keeps one)`;
    await assert.rejects(
      openAuditChain(base(path, { checkpointPath })),
      refused('AUDIT_CHECKPOINT_MISMATCH', `audit log refused: ${finding}. ${recoveryHint}`),
    );
    assert.deepEqual(await openAuditChain(base(path, { checkpointPath, recover: true })), {
      lastSeq: 3,
      lastHash: genesis,
      segmentReason: `recovery requested: ${finding}; new chain segment after seq 3`,
    });
  });

  void it('an unusable checkpoint, and recovery past a checkpoint ahead of the log', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    const checkpointPath = join(d, 'cp.json');
    await writeFile(path, text(lines.slice(0, 2)));
    await writeFile(checkpointPath, 'garbage');
    await assert.rejects(
      openAuditChain(base(path, { checkpointPath })),
      refused(
        'AUDIT_CHECKPOINT_MISMATCH',
        `audit log refused: the head checkpoint ${checkpointPath} is not valid JSON. ${recoveryHint}`,
      ),
    );
    // The checkpoint says seq 3 but the log ends at 2: the new segment starts after 3.
    const ahead = checkpointAt(path, lines, 2);
    await writeAuditCheckpoint(checkpointPath, ahead, false);
    const opened = await openAuditChain(base(path, { checkpointPath, recover: true }));
    assert.equal(opened.lastSeq, 3);
    assert.equal(opened.lastHash, genesis);
    assert.equal(
      opened.segmentReason,
      `recovery requested: the audit log ${path} is shorter than the checkpoint (${Buffer.byteLength(text(lines.slice(0, 2)))} bytes): records were cut; ${said(ahead)}; new chain segment after seq 3`,
    );
  });

  void it('a broken tail is refused, or moved aside with acceptBrokenTail', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    await writeFile(path, `${text(lines)}{"torn`);
    const detail = 'the last line is incomplete (6 bytes after the last newline)';
    await assert.rejects(
      openAuditChain(base(path)),
      refused(
        'AUDIT_BROKEN_TAIL',
        `audit log ${path} has a broken tail: ${detail}. ${recoveryHint} (or set audit.acceptBrokenTail)`,
      ),
    );
    const opened = await openAuditChain(base(path, { acceptBrokenTail: true }));
    assert.deepEqual(opened, {
      lastSeq: 3,
      lastHash: genesis,
      segmentReason: `broken tail in audit.log (moved to audit.log.broken-20260405T060708009Z): ${detail}; new chain segment after seq 3`,
    });
    assert.deepEqual(await readdir(d), ['audit.log.broken-20260405T060708009Z']);
  });

  void it('a broken tail in the newest rotated file is not moved', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    const rotated = rotatedAuditPath(path, 3);
    await writeFile(rotated, `${text(lines.slice(0, 2))}not json\n`);
    const opened = await openAuditChain(base(path, { recover: true }));
    assert.equal(
      opened.segmentReason,
      'broken tail in audit.log.000000000003: the last record is not valid JSON; new chain segment after seq 2',
    );
    assert.deepEqual(await readdir(d), ['audit.log.000000000003']);
  });

  void it('a broken tail and a checkpoint finding: both named; recovery records both', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    const checkpointPath = join(d, 'cp.json');
    const other = chain(1, 3, 'b'.repeat(64));
    await writeFile(path, `${text(other)}torn`);
    const cp = checkpointAt(path, lines, 1);
    await writeAuditCheckpoint(checkpointPath, cp, false);
    const detail = 'the last line is incomplete (4 bytes after the last newline)';
    const finding = `the head of ${path} differs from the checkpoint: at byte ${cp.offset} there is seq 2 with hash ${other[1]?.hash}; ${said(cp)}`;
    await assert.rejects(
      openAuditChain(base(path, { checkpointPath, acceptBrokenTail: true })),
      refused(
        'AUDIT_CHECKPOINT_MISMATCH',
        `audit log refused: ${path} has a broken tail (${detail}) and ${finding}. ${recoveryHint}`,
      ),
    );
    const opened = await openAuditChain(base(path, { checkpointPath, recover: true }));
    assert.equal(
      opened.segmentReason,
      `broken tail in audit.log (moved to audit.log.broken-20260405T060708009Z): ${detail}; also: ${finding}; new chain segment after seq 3`,
    );
  });

  void it('over a broken tail only the checkpointed head is checked, not the bytes after it', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    const checkpointPath = join(d, 'cp.json');
    await writeFile(path, `${text(lines)}torn`);
    await writeAuditCheckpoint(checkpointPath, checkpointAt(path, lines, 1), false);
    const opened = await openAuditChain(base(path, { checkpointPath, acceptBrokenTail: true }));
    assert.equal(
      opened.segmentReason,
      'broken tail in audit.log (moved to audit.log.broken-20260405T060708009Z): the last line is incomplete (4 bytes after the last newline); new chain segment after seq 3',
    );
  });
});
