// Unit tests of how audit files are read: forward lines across chunk boundaries, the last lines
// read backwards, the rotated-file names, the tail check before appending, and the filtered
// reader. Real files; records hashed here with node:crypto over sorted-key JSON.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { readAuditLines, readLastLines } from '../../src/audit/audit-lines.js';
import { matchesAuditFilter, readAuditRecords } from '../../src/audit/audit-read.js';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import {
  inspectAuditTail,
  listRotatedAuditFiles,
  rotatedAuditPath,
} from '../../src/audit/audit-tail.js';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-audit-files-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

type Fields = Record<string, string | number | null>;
const sorted = (fields: Fields): string =>
  JSON.stringify(Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1))));

/** A linked chain of request records seq from..to, as file lines; hashes computed here. */
function chain(
  from: number,
  to: number,
  opts: { prev?: string; key?: Buffer; extra?: (seq: number) => Fields } = {},
) {
  const out: { seq: number; hash: string; text: string }[] = [];
  let prev = opts.prev ?? '0'.repeat(64);
  for (let seq = from; seq <= to; seq++) {
    const fields: Fields = {
      seq,
      ts: `2026-02-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`,
      event: 'request',
      outcome: seq % 3 === 0 ? 'denied' : 'allowed',
      requestId: `r${seq}`,
      sub: seq % 2 === 0 ? 'bob' : 'alice',
      ip: null,
      method: 'POST',
      path: '/v2/models/m/infer',
      model: seq <= 3 ? 'm' : 'n',
      version: '1',
      status: 200,
      reason: null,
      durationMs: 1,
      inputSha256: null,
      prevHash: prev,
      ...opts.extra?.(seq),
    };
    const h = opts.key === undefined ? createHash('sha256') : createHmac('sha256', opts.key);
    const hash = h.update(sorted(fields), 'utf8').digest('hex');
    out.push({ seq, hash, text: sorted({ ...fields, hash }) });
    prev = hash;
  }
  return out;
}
const text = (lines: readonly { text: string }[]): string =>
  lines.map((l) => `${l.text}\n`).join('');

async function collect(path: string, start?: number) {
  const out: { text: string; terminated: boolean }[] = [];
  for await (const line of readAuditLines(path, start)) out.push(line);
  return out;
}

void describe('readAuditLines', () => {
  void it('yields each line without its newline, and an unterminated last line as such', async (t) => {
    const path = join(await dir(t), 'a.log');
    await writeFile(path, 'one\n\ntwo\nlast');
    assert.deepEqual(await collect(path), [
      { text: 'one', terminated: true },
      { text: '', terminated: true },
      { text: 'two', terminated: true },
      { text: 'last', terminated: false },
    ]);
    assert.deepEqual(await collect(path, 4), [
      { text: '', terminated: true },
      { text: 'two', terminated: true },
      { text: 'last', terminated: false },
    ]);
    await writeFile(path, '');
    assert.deepEqual(await collect(path), []);
  });

  void it('joins a line split across read chunks, multibyte characters included', async (t) => {
    const path = join(await dir(t), 'big.log');
    // The 256 KiB read size falls inside the second line, inside a 3-byte character.
    const first = 'a'.repeat(256 * 1024 - 10);
    const second = `${'b'.repeat(8)}€€€${'c'.repeat(300_000)}`;
    await writeFile(path, `${first}\n${second}\nend\n`);
    const lines = await collect(path);
    assert.equal(lines.length, 3);
    assert.equal(lines[0]?.text, first);
    assert.equal(lines[1]?.text, second);
    assert.deepEqual(lines[2], { text: 'end', terminated: true });
  });
});

void describe('readLastLines', () => {
  void it('returns the last count lines, the torn rest, the size, and whether it reached the start', async (t) => {
    const d = await dir(t);
    const path = join(d, 'a.log');
    await writeFile(path, 'a\nb\nc\n');
    assert.deepEqual(await readLastLines(path, 2), {
      lines: ['b', 'c'],
      partial: '',
      size: 6,
      fromStart: false,
    });
    assert.deepEqual(await readLastLines(path, 3), {
      lines: ['a', 'b', 'c'],
      partial: '',
      size: 6,
      fromStart: true,
    });
    assert.deepEqual(await readLastLines(path, 9), {
      lines: ['a', 'b', 'c'],
      partial: '',
      size: 6,
      fromStart: true,
    });
    await writeFile(path, 'a\nb\ntorn');
    assert.deepEqual(await readLastLines(path, 1), {
      lines: ['b'],
      partial: 'torn',
      size: 8,
      fromStart: false,
    });
    await writeFile(path, 'no newline');
    assert.deepEqual(await readLastLines(path, 2), {
      lines: [],
      partial: 'no newline',
      size: 10,
      fromStart: true,
    });
    await writeFile(path, '');
    assert.deepEqual(await readLastLines(path, 2), {
      lines: [],
      partial: '',
      size: 0,
      fromStart: true,
    });
    await writeFile(path, '\n');
    assert.deepEqual(await readLastLines(path, 2), {
      lines: [''],
      partial: '',
      size: 1,
      fromStart: true,
    });
  });

  void it('closes the file it reads', async (t) => {
    const path = join(await dir(t), 'a.log');
    await writeFile(path, 'a\nb\n');
    const openFiles = async () => (await readdir('/proc/self/fd')).length;
    await readLastLines(path, 1);
    const before = await openFiles();
    for (let i = 0; i < 30; i++) await readLastLines(path, 1);
    const grown = (await openFiles()) - before;
    assert.ok(grown < 10, `${grown} more open files after 30 reads`);
  });

  void it('reads back across 64 KiB chunks for long lines', async (t) => {
    const path = join(await dir(t), 'long.log');
    const long = 'y'.repeat(150_000);
    await writeFile(path, `head\n${long}\nz\n`);
    const tail = await readLastLines(path, 2);
    assert.deepEqual(tail.lines, [long, 'z']);
    assert.equal(tail.fromStart, false);
    assert.equal(tail.size, 5 + 150_001 + 2);
    const all = await readLastLines(path, 3);
    assert.deepEqual(all.lines, ['head', long, 'z']);
    assert.equal(all.fromStart, true);
  });
});

void describe('rotated files', () => {
  void it('names a rotated file by the last seq, zero-padded to 12 digits', () => {
    assert.equal(rotatedAuditPath('/a/audit.log', 42), '/a/audit.log.000000000042');
    assert.equal(rotatedAuditPath('audit.log', 123456789012), 'audit.log.123456789012');
  });

  void it('lists only <name>.<12 digits>, oldest first', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    for (const name of [
      'audit.log',
      'audit.log.000000000200',
      'audit.log.000000000010',
      'audit.log.1',
      'audit.log.0000000000300',
      'audit.log.00000000030x',
      'audit.logx.000000000001',
      'other.log.000000000005',
      'audit.log.000000000010.tmp',
    ]) {
      await writeFile(join(d, name), '');
    }
    assert.deepEqual(await listRotatedAuditFiles(path), [
      join(d, 'audit.log.000000000010'),
      join(d, 'audit.log.000000000200'),
    ]);
    assert.deepEqual(await listRotatedAuditFiles(join(d, 'missing', 'audit.log')), []);
  });
});

void describe('inspectAuditTail', () => {
  void it('empty when there is no file, or only an empty one and no rotated file', async (t) => {
    const d = await dir(t);
    assert.deepEqual(await inspectAuditTail(join(d, 'audit.log'), undefined), { state: 'empty' });
    await writeFile(join(d, 'audit.log'), '');
    assert.deepEqual(await inspectAuditTail(join(d, 'audit.log'), undefined), { state: 'empty' });
  });

  void it('the last record of the file, or of the newest rotated file when the file is empty', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    const lines = chain(1, 5);
    await writeFile(rotatedAuditPath(path, 2), text(lines.slice(0, 2)));
    await writeFile(rotatedAuditPath(path, 4), text(lines.slice(2, 4)));
    assert.deepEqual(await inspectAuditTail(path, undefined), {
      state: 'ok',
      file: rotatedAuditPath(path, 4),
      seq: 4,
      hash: lines[3]?.hash,
    });
    await writeFile(path, text(lines.slice(4)));
    assert.deepEqual(await inspectAuditTail(path, undefined), {
      state: 'ok',
      file: path,
      seq: 5,
      hash: lines[4]?.hash,
    });
  });

  void it('checks the last two records with the HMAC key', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const key = Buffer.from('h'.repeat(32));
    const lines = chain(1, 3, { key });
    await writeFile(path, text(lines));
    assert.deepEqual(await inspectAuditTail(path, key), {
      state: 'ok',
      file: path,
      seq: 3,
      hash: lines[2]?.hash,
    });
    assert.deepEqual(await inspectAuditTail(path, undefined), {
      state: 'broken',
      file: path,
      detail:
        'the last record (seq 3) does not match its hash: the record was modified, or it was written with another HMAC key',
      lastSeq: 3,
    });
  });

  const lines = chain(1, 4);
  const broken: [string, string, string, number][] = [
    [
      'a torn last line',
      `${text(lines.slice(0, 3))}{"seq":4,"torn`,
      'the last line is incomplete (14 bytes after the last newline)',
      3,
    ],
    [
      'a last line that is not JSON',
      `${text(lines.slice(0, 3))}not json\n`,
      'the last record is not valid JSON',
      3,
    ],
    [
      'a last line that is not a record',
      `${text(lines.slice(0, 3))}{"seq":0}\n`,
      'the last record bad seq',
      3,
    ],
    [
      'an edited last record',
      text([...lines.slice(0, 3), { text: (lines[3]?.text ?? '').replace('"bob"', '"eve"') }]),
      'the last record (seq 4) does not match its hash: the record was modified, or it was written with another HMAC key',
      4,
    ],
    [
      'an edited record before the last',
      text([
        lines[0] ?? { text: '' },
        lines[1] ?? { text: '' },
        { text: (lines[2]?.text ?? '').replace('"alice"', '"eve"') },
        lines[3] ?? { text: '' },
      ]),
      'the record before the last (seq 3) does not match its hash: the record was modified, or it was written with another HMAC key',
      4,
    ],
    [
      'a record before the last that is not JSON',
      `${text(lines.slice(0, 2))}garbage\n${lines[3]?.text}\n`,
      'the record before the last is not valid JSON',
      4,
    ],
    [
      'a last record that links elsewhere',
      text([...lines.slice(0, 3), ...chain(4, 4, { prev: 'e'.repeat(64) })]),
      'the last record (seq 4) does not follow the one before it',
      4,
    ],
    [
      'a last record with a skipped seq',
      text([...lines.slice(0, 3), ...chain(5, 5, { prev: lines[2]?.hash ?? '' })]),
      'the last record (seq 5) does not follow the one before it',
      5,
    ],
  ];
  for (const [name, content, detail, lastSeq] of broken) {
    void it(`broken: ${name}`, async (t) => {
      const path = join(await dir(t), 'audit.log');
      await writeFile(path, content);
      assert.deepEqual(await inspectAuditTail(path, undefined), {
        state: 'broken',
        file: path,
        detail,
        lastSeq,
      });
    });
  }

  void it('one record alone is checked by itself', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const one = chain(1, 1);
    await writeFile(path, text(one));
    assert.deepEqual(await inspectAuditTail(path, undefined), {
      state: 'ok',
      file: path,
      seq: 1,
      hash: one[0]?.hash,
    });
  });

  void it('a folder where the file should be is an error, not empty', async (t) => {
    const d = await dir(t);
    await mkdir(join(d, 'audit.log', 'x'), { recursive: true });
    await assert.rejects(inspectAuditTail(join(d, 'audit.log'), undefined), { code: 'EISDIR' });
  });
});

void describe('readAuditRecords', () => {
  const record = (ts: string, extra: Partial<AuditRecord> = {}) =>
    ({ ts, sub: 'alice', model: 'm', outcome: 'allowed', ...extra }) as AuditRecord;

  void it('time filters include both ends', () => {
    const r = record('2026-02-01T00:00:05.000Z');
    const at = new Date('2026-02-01T00:00:05.000Z');
    const before = new Date(at.getTime() - 1);
    const after = new Date(at.getTime() + 1);
    assert.equal(matchesAuditFilter(r, { since: at, until: at }), true);
    assert.equal(matchesAuditFilter(r, { since: after }), false);
    assert.equal(matchesAuditFilter(r, { until: before }), false);
    assert.equal(matchesAuditFilter(r, { since: before, until: after }), true);
    assert.equal(matchesAuditFilter(r, { since: before }), true);
    assert.equal(matchesAuditFilter(r, { until: after }), true);
    assert.equal(matchesAuditFilter(r, {}), true);
    assert.equal(matchesAuditFilter(r, { sub: 'bob' }), false);
    assert.equal(matchesAuditFilter(r, { model: 'n' }), false);
    assert.equal(matchesAuditFilter(r, { outcome: 'denied' }), false);
    assert.equal(matchesAuditFilter(r, { sub: 'alice', model: 'm', outcome: 'allowed' }), true);
  });

  void it('reads files in order, skips lines that are not records, keeps the last limit', async (t) => {
    const d = await dir(t);
    const lines = chain(1, 30);
    const a = join(d, 'a.log');
    const b = join(d, 'b.log');
    await writeFile(a, `${text(lines.slice(0, 10))}not json\n{"seq":0}\n`);
    await writeFile(b, text(lines.slice(10)));
    const seqs = async (options: Parameters<typeof readAuditRecords>[1]) =>
      (await readAuditRecords([a, b], options)).map((r) => r.seq);
    assert.deepEqual(
      await seqs({}),
      lines.map((l) => l.seq),
    );
    for (const limit of [1, 3, 7, 29, 30, 31]) {
      const expected = lines.map((l) => l.seq).slice(-limit);
      assert.deepEqual(await seqs({ limit }), expected, `limit ${limit}`);
    }
    assert.deepEqual(await seqs({ limit: 2, sub: 'alice' }), [27, 29]);
    assert.deepEqual(await seqs({ model: 'm' }), [1, 2, 3]);
    assert.deepEqual(await seqs({ limit: 0 }), []);
    assert.deepEqual(await seqs({ limit: -1 }), []);
    await assert.rejects(readAuditRecords([join(d, 'missing.log')]), { code: 'ENOENT' });
  });
});
