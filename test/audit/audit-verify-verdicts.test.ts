// The verifier's verdicts, one per branch, asserted in full (ok, counts, first bad seq, message).
// The logs are written by hand: each record's hash is SHA-256 (or HMAC-SHA-256) over its fields
// sorted by name and serialized with JSON.stringify, computed here with node:crypto, so neither
// the writer nor the hash code under test produces the expected values.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { AuditCheckpoint } from '../../src/audit/audit-checkpoint.js';
import { verifyAuditFiles, type AuditVerifyResult } from '../../src/audit/audit-verify.js';

const genesis = '0'.repeat(64);
const key = Buffer.from('k'.repeat(32));

type Fields = Record<string, string | number | null>;

/** Sorted-key JSON of a flat object: RFC 8785 for ASCII keys and these values. */
const sorted = (fields: Fields): string =>
  JSON.stringify(Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1))));

function hashOf(fields: Fields, hmac?: Buffer): string {
  const h = hmac === undefined ? createHash('sha256') : createHmac('sha256', hmac);
  return h.update(sorted(fields), 'utf8').digest('hex');
}

/** A record's fields without its hash. */
function body(seq: number, prevHash: string, extra: Fields = {}): Fields {
  return {
    seq,
    ts: `2026-01-01T00:00:0${seq % 10}.000Z`,
    event: 'request',
    outcome: 'allowed',
    requestId: `r${seq}`,
    sub: 'alice',
    ip: null,
    method: 'POST',
    path: '/v2/models/m/infer',
    model: 'm',
    version: '1',
    status: 200,
    reason: null,
    durationMs: 1,
    inputSha256: null,
    prevHash,
    ...extra,
  };
}

interface Line {
  readonly seq: number;
  readonly hash: string;
  readonly text: string;
}

function line(fields: Fields, hmac?: Buffer): Line {
  const hash = hashOf(fields, hmac);
  return { seq: fields['seq'] as number, hash, text: sorted({ ...fields, hash }) };
}

/** A linked chain seq from..to (first prevHash given), with per-seq field overrides. */
function chain(
  from: number,
  to: number,
  first = genesis,
  extra: Record<number, Fields> = {},
  hmac?: Buffer,
): Line[] {
  const out: Line[] = [];
  let prev = first;
  for (let seq = from; seq <= to; seq++) {
    const l = line(body(seq, prev, extra[seq]), hmac);
    out.push(l);
    prev = l.hash;
  }
  return out;
}

const text = (lines: readonly (Line | string)[]): string =>
  lines.map((l) => `${typeof l === 'string' ? l : l.text}\n`).join('');

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-verdicts-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function logFile(t: TestContext, content: string, name = 'audit.log'): Promise<string> {
  const path = join(await dir(t), name);
  await writeFile(path, content);
  return path;
}

function checkpointOf(l: Line, ts = '2026-01-01T00:10:00.000Z'): AuditCheckpoint {
  return {
    v: 1,
    log: '/var/audit.log',
    file: 'audit.log',
    offset: 0,
    seq: l.seq,
    hash: l.hash,
    ts,
  } as AuditCheckpoint; // unkeyed: no `mac`, as a checkpoint written without a key is read
}

function failure(
  result: AuditVerifyResult,
  records: number,
  firstBadSeq: number,
  message: string,
): void {
  assert.deepEqual(
    {
      ok: result.ok,
      records: result.records,
      firstBadSeq: result.firstBadSeq,
      message: result.message,
    },
    { ok: false, records, firstBadSeq, message },
  );
  assert.equal(result.lastSeq, undefined);
  assert.equal(result.lastHash, undefined);
}

void describe('intact chains', () => {
  void it('reports the count, the seq range and the last hash as an anchor', async (t) => {
    const lines = chain(1, 3);
    const result = await verifyAuditFiles([await logFile(t, text(lines))]);
    assert.deepEqual(result, {
      ok: true,
      records: 3,
      message: `intact: 3 records, seq 1..3, last hash ${lines[2]?.hash}`,
      segments: [],
      lastSeq: 3,
      lastHash: lines[2]?.hash,
    });
  });

  void it('verifies an HMAC-keyed chain only with its key', async (t) => {
    const lines = chain(1, 2, genesis, {}, key);
    const path = await logFile(t, text(lines));
    assert.equal((await verifyAuditFiles([path], { hmacKey: key })).ok, true);
    failure(
      await verifyAuditFiles([path]),
      0,
      1,
      `seq 1: hash does not match the record's contents (if the log is HMAC-keyed, give its key) (${path}:1)`,
    );
    failure(
      await verifyAuditFiles([path], { hmacKey: Buffer.from('x'.repeat(32)) }),
      0,
      1,
      `seq 1: hash does not match the record's contents (${path}:1)`,
    );
  });

  void it('continues the chain across files, numbering lines per file', async (t) => {
    const lines = chain(1, 4);
    const d = await dir(t);
    const older = join(d, 'audit.log.1');
    const live = join(d, 'audit.log');
    await writeFile(older, text(lines.slice(0, 2)));
    await writeFile(live, text(lines.slice(2)));
    const result = await verifyAuditFiles([older, live]);
    assert.equal(result.message, `intact: 4 records, seq 1..4, last hash ${lines[3]?.hash}`);
    // A bad second line of the second file is named by that file's own line number.
    const broken = lines.slice(2).map((l) => l.text);
    broken[1] = '{';
    await writeFile(live, text(broken));
    failure(
      await verifyAuditFiles([older, live]),
      3,
      4,
      `seq 4: line is not valid JSON (${live}:2)`,
    );
  });

  void it('starts after an anchor, at a byte offset of the first file only', async (t) => {
    const lines = chain(1, 5);
    const d = await dir(t);
    const first = join(d, 'a.log');
    const second = join(d, 'b.log');
    await writeFile(first, text(lines.slice(0, 3)));
    await writeFile(second, text(lines.slice(3)));
    const offset = Buffer.byteLength(text(lines.slice(0, 2)));
    const result = await verifyAuditFiles([first, second], {
      anchorHash: lines[1]?.hash ?? '',
      anchorSeq: 2,
      startOffset: offset,
    });
    assert.equal(result.ok, true, result.message);
    assert.equal(result.message, `intact: 3 records, seq 3..5, last hash ${lines[4]?.hash}`);
    assert.equal(result.records, 3);
  });

  void it('accepts a segment restart and reports it, with or without a reason', async (t) => {
    const head = chain(1, 2);
    const seg = line(body(3, genesis, { event: 'audit.segment', reason: 'tail was torn' }));
    const after = chain(4, 4, seg.hash);
    const seg2 = line(body(5, genesis, { event: 'audit.segment' }));
    const result = await verifyAuditFiles([await logFile(t, text([...head, seg, ...after, seg2]))]);
    assert.equal(result.ok, true, result.message);
    assert.deepEqual(result.segments, [
      { seq: 3, reason: 'tail was torn' },
      { seq: 5, reason: '' },
    ]);
    assert.equal(
      result.message,
      `intact: 5 records, seq 1..5, 2 segment restart(s), last hash ${seg2.hash}`,
    );
  });

  void it('an audit.segment record that links to its predecessor is an ordinary record', async (t) => {
    const lines = chain(1, 3, genesis, { 2: { event: 'audit.segment', reason: 'r' } });
    const result = await verifyAuditFiles([await logFile(t, text(lines))]);
    assert.deepEqual(result.segments, []);
    assert.equal(result.ok, true);
  });

  void it('with a checkpoint: found at the head, or with records after it', async (t) => {
    const lines = chain(1, 3);
    const path = await logFile(t, text(lines));
    const atHead = await verifyAuditFiles([path], { checkpoint: checkpointOf(lines[2] as Line) });
    assert.equal(
      atHead.message,
      `intact: 3 records, seq 1..3, checkpoint seq 3 found, last hash ${lines[2]?.hash}`,
    );
    const before = await verifyAuditFiles([path], { checkpoint: checkpointOf(lines[0] as Line) });
    assert.equal(
      before.message,
      `intact: 3 records, seq 1..3, checkpoint seq 1 found (2 records after it), last hash ${lines[2]?.hash}`,
    );
  });

  void it('an empty file is "no records" unless allowed (and no checkpoint is given)', async (t) => {
    const path = await logFile(t, '');
    assert.deepEqual(await verifyAuditFiles([path]), {
      ok: false,
      records: 0,
      message: 'no audit records found',
      segments: [],
    });
    assert.deepEqual(await verifyAuditFiles([path], { allowEmpty: true }), {
      ok: true,
      records: 0,
      message: 'intact: no records after the anchor',
      segments: [],
    });
    const cp = checkpointOf(chain(1, 2)[1] as Line);
    assert.deepEqual(await verifyAuditFiles([path], { allowEmpty: true, checkpoint: cp }), {
      ok: false,
      records: 0,
      message: `no audit records found: the log ends at seq 0, but the checkpoint written ${cp.ts} records seq 2 (hash ${cp.hash}): 2 record(s) cut from the end`,
      segments: [],
    });
    assert.equal((await verifyAuditFiles([])).message, 'no audit records found');
  });
});

void describe('broken chains', () => {
  const lines = chain(1, 4);

  void it('a torn last line', async (t) => {
    const path = await logFile(t, `${text(lines.slice(0, 2))}${lines[2]?.text.slice(0, 30)}`);
    failure(await verifyAuditFiles([path]), 2, 3, `seq 3: truncated last line (${path}:3)`);
  });

  void it('a record of the wrong shape', async (t) => {
    const path = await logFile(t, text([lines[0] as Line, '{"seq":0}']));
    failure(await verifyAuditFiles([path]), 1, 2, `seq 2: malformed record: bad seq (${path}:2)`);
  });

  void it('an edited record', async (t) => {
    const edited = (lines[1] as Line).text.replace('"sub":"alice"', '"sub":"mallory"');
    const path = await logFile(t, text([lines[0] as Line, edited, ...lines.slice(2)]));
    failure(
      await verifyAuditFiles([path]),
      1,
      2,
      `seq 2: hash does not match the record's contents (if the log is HMAC-keyed, give its key) (${path}:2)`,
    );
  });

  void it('a head cut without an anchor: the chain must start at seq 1 with genesis', async (t) => {
    const cut = await logFile(t, text(lines.slice(1)));
    const start = (seq: number) =>
      `seq 1: chain starts at seq ${seq}, not at seq 1 with the genesis prevHash: earlier records are missing (give the previous file first, or --anchor) (${cut}:1)`;
    failure(await verifyAuditFiles([cut]), 0, 1, start(2));
    // seq 1 that does not start from genesis is refused the same way.
    const notGenesis = chain(1, 1, 'f'.repeat(64));
    const other = await logFile(t, text(notGenesis), 'other.log');
    failure(
      await verifyAuditFiles([other]),
      0,
      1,
      `seq 1: chain starts at seq 1, not at seq 1 with the genesis prevHash: earlier records are missing (give the previous file first, or --anchor) (${other}:1)`,
    );
  });

  void it('an anchor that does not match, by hash or by seq', async (t) => {
    const path = await logFile(t, text(lines.slice(2)));
    failure(
      await verifyAuditFiles([path], { anchorHash: lines[0]?.hash ?? '' }),
      0,
      3,
      `seq 3: prevHash does not match the anchor hash (${path}:1)`,
    );
    failure(
      await verifyAuditFiles([path], { anchorHash: lines[1]?.hash ?? '', anchorSeq: 1 }),
      0,
      2,
      `seq 2: the record after the anchor is seq 3, not seq 2 (${path}:1)`,
    );
    const ok = await verifyAuditFiles([path], { anchorHash: lines[1]?.hash ?? '', anchorSeq: 2 });
    assert.equal(ok.ok, true, ok.message);
    const noSeq = await verifyAuditFiles([path], { anchorHash: lines[1]?.hash ?? '' });
    assert.equal(noSeq.ok, true, noSeq.message);
  });

  void it('a missing record, and a record out of order', async (t) => {
    const gap = await logFile(t, text([lines[0] as Line, lines[1] as Line, lines[3] as Line]));
    failure(
      await verifyAuditFiles([gap]),
      2,
      3,
      `seq 3: missing or out of order: the next record is seq 4 (${gap}:3)`,
    );
    const back = await logFile(t, text([...lines.slice(0, 3), lines[1] as Line]), 'back.log');
    failure(
      await verifyAuditFiles([back]),
      3,
      2,
      `seq 2: out of order: found seq 2 after seq 3 (${back}:4)`,
    );
    const repeat = await logFile(t, text([...lines.slice(0, 3), lines[2] as Line]), 'repeat.log');
    failure(
      await verifyAuditFiles([repeat]),
      3,
      3,
      `seq 3: out of order: found seq 3 after seq 3 (${repeat}:4)`,
    );
  });

  void it('a replaced record, self-consistent but not linked', async (t) => {
    const forged = line(body(3, 'e'.repeat(64), { sub: 'mallory' }));
    const path = await logFile(t, text([lines[0] as Line, lines[1] as Line, forged]));
    failure(
      await verifyAuditFiles([path]),
      2,
      3,
      `seq 3: prevHash does not match the previous record (inserted or replaced) (${path}:3)`,
    );
  });

  void it('a segment restart that goes back, or repeats the last seq', async (t) => {
    for (const seq of [2, 3]) {
      const seg = line(body(seq, genesis, { event: 'audit.segment', reason: 'r' }));
      const path = await logFile(t, text([...lines.slice(0, 3), seg]), `seg${seq}.log`);
      failure(
        await verifyAuditFiles([path]),
        3,
        4,
        `seq 4: segment record goes back to seq ${seq} (${path}:4)`,
      );
    }
  });

  void it('a first record that is a segment restart at any seq is accepted', async (t) => {
    const seg = line(body(7, genesis, { event: 'audit.segment', reason: 'r' }));
    const result = await verifyAuditFiles([
      await logFile(t, text([seg, ...chain(8, 8, seg.hash)])),
    ]);
    assert.equal(
      result.message,
      `intact: 2 records, seq 7..8, 1 segment restart(s), last hash ${chain(8, 8, seg.hash)[0]?.hash}`,
    );
  });

  void it('an unreadable file', async (t) => {
    const d = await dir(t);
    const first = await logFile(t, text(lines.slice(0, 2)));
    const missing = join(d, 'gone.log');
    const result = await verifyAuditFiles([first, missing]);
    assert.equal(result.ok, false);
    assert.equal(result.records, 2);
    assert.equal(result.firstBadSeq, 3);
    assert.equal(
      result.message,
      `seq 3: cannot read file: ENOENT: no such file or directory, open '${missing}' (${missing})`,
    );
    const alone = await verifyAuditFiles([missing]);
    assert.equal(alone.firstBadSeq, 1);
  });
});

void describe('checkpoints', () => {
  const lines = chain(1, 4);

  void it('a log cut from the end is TRUNCATED', async (t) => {
    const path = await logFile(t, text(lines.slice(0, 2)));
    const cp = checkpointOf(lines[3] as Line);
    const result = await verifyAuditFiles([path], { checkpoint: cp });
    failure(
      result,
      2,
      3,
      `seq 3: TRUNCATED: the log ends at seq 2, but the checkpoint written ${cp.ts} records seq 4 (hash ${cp.hash}): 2 record(s) cut from the end`,
    );
  });

  void it('a head that differs from the checkpoint', async (t) => {
    const path = await logFile(t, text(lines));
    const cp = { ...checkpointOf(lines[2] as Line), hash: 'c'.repeat(64) };
    failure(
      await verifyAuditFiles([path], { checkpoint: cp }),
      2,
      3,
      `seq 3: head differs from the checkpoint (written ${cp.ts}): the checkpoint's record seq 3 has hash ${'c'.repeat(64)}, the log's has ${lines[2]?.hash} (${path}:3)`,
    );
  });

  void it('a checkpoint before the first record given', async (t) => {
    const path = await logFile(t, text(lines.slice(2)));
    const cp = checkpointOf(lines[0] as Line);
    failure(
      await verifyAuditFiles([path], { anchorHash: lines[1]?.hash ?? '', checkpoint: cp }),
      0,
      1,
      `seq 1: the checkpoint's head (seq 1) comes before the first record given (seq 3); give the file that holds it (${path}:1)`,
    );
    // At the first record given is fine.
    const at = await verifyAuditFiles([path], {
      anchorHash: lines[1]?.hash ?? '',
      checkpoint: checkpointOf(lines[2] as Line),
    });
    assert.equal(at.ok, true, at.message);
  });

  void it('a checkpoint skipped by a segment restart', async (t) => {
    const seg = line(body(3, genesis, { event: 'audit.segment', reason: 'r' }));
    const path = await logFile(t, text([lines[0] as Line, seg]));
    const cp = checkpointOf(lines[1] as Line);
    failure(
      await verifyAuditFiles([path], { checkpoint: cp }),
      2,
      2,
      `seq 2: the checkpoint's head record (hash ${cp.hash}) is not in the chain (a segment restart skipped it)`,
    );
  });
});
