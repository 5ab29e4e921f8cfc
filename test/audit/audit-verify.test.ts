import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { canonicalJson, computeAuditHash } from '../../src/audit/audit-hash.js';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { verifyAuditFiles } from '../../src/audit/audit-verify.js';
import { readLines, tempDir, writeLog } from './audit-fixtures.js';

function rehash(record: Omit<AuditRecord, 'hash'>): string {
  return canonicalJson({ ...record, hash: computeAuditHash(record) });
}

interface Tampering {
  readonly name: string;
  readonly edit: (lines: string[]) => string;
  readonly firstBadSeq: number | undefined;
  readonly anchor?: (lines: string[]) => string;
  readonly message?: RegExp;
}

const parse = (line: string | undefined): AuditRecord => JSON.parse(line!) as AuditRecord;
const join1 = (lines: string[]): string => `${lines.join('\n')}\n`;

// Each case starts from 6 good records (seq 1..6).
const cases: Tampering[] = [
  { name: 'untouched', edit: join1, firstBadSeq: undefined },
  {
    name: 'edited field',
    edit: (l) => join1(l.map((x, i) => (i === 2 ? x.replace('"user3"', '"user9"') : x))),
    firstBadSeq: 3,
    message: /hash does not match/,
  },
  {
    name: 'edited status',
    edit: (l) => join1(l.map((x, i) => (i === 3 ? x.replace('"status":200', '"status":403') : x))),
    firstBadSeq: 4,
  },
  {
    name: 'deleted line',
    edit: (l) => join1(l.filter((_, i) => i !== 2)),
    firstBadSeq: 3,
    message: /missing/,
  },
  {
    name: 'inserted forged line (self-consistent, linked)',
    edit: (l) => {
      const third = parse(l[2]);
      const { hash: _h, ...rest } = third;
      const forged = rehash({ ...rest, seq: 4, sub: 'mallory', prevHash: third.hash });
      return join1([...l.slice(0, 3), forged, ...l.slice(3)]);
    },
    firstBadSeq: 4,
  },
  {
    name: 'inserted duplicate line',
    edit: (l) => join1([...l.slice(0, 3), l[2]!, ...l.slice(3)]),
    firstBadSeq: 3,
  },
  {
    name: 'swapped lines',
    edit: (l) => join1([l[0]!, l[1]!, l[3]!, l[2]!, l[4]!, l[5]!]),
    firstBadSeq: 3,
  },
  {
    name: 'record re-hashed but not re-linked',
    edit: (l) => {
      const { hash: _h, ...rest } = parse(l[1]);
      return join1(l.map((x, i) => (i === 1 ? rehash({ ...rest, sub: 'mallory' }) : x)));
    },
    firstBadSeq: 3,
    message: /prevHash does not match the previous record/,
  },
  {
    name: 'truncated last line',
    edit: (l) => `${l.slice(0, 5).join('\n')}\n${l[5]!.slice(0, 40)}`,
    firstBadSeq: 6,
    message: /truncated last line/,
  },
  {
    name: 'not JSON',
    edit: (l) => join1(l.map((x, i) => (i === 4 ? x.slice(0, 30) : x))),
    firstBadSeq: 5,
  },
  {
    name: 'extra field (re-hashed)',
    edit: (l) => {
      const { hash: _h, ...rest } = parse(l[0]);
      return join1([rehash({ ...rest, token: 'eyJ' } as never), ...l.slice(1)]);
    },
    firstBadSeq: 1,
    message: /unexpected field "token"/,
  },
  {
    name: 'cut head without anchor',
    edit: (l) => join1(l.slice(2)),
    firstBadSeq: 1,
    message: /chain starts at seq 3/,
  },
  {
    name: 'cut head with the right anchor',
    edit: (l) => join1(l.slice(2)),
    anchor: (l) => parse(l[1]).hash,
    firstBadSeq: undefined,
  },
  {
    name: 'cut head with a wrong anchor',
    edit: (l) => join1(l.slice(2)),
    anchor: (l) => parse(l[0]).hash,
    firstBadSeq: 3,
    message: /anchor/,
  },
];

for (const c of cases) {
  test(`verify: ${c.name}`, async (t) => {
    const path = join(await tempDir(t), 'audit.log');
    await writeLog(path, 6);
    const lines = await readLines(path);
    await writeFile(path, c.edit(lines));
    const options = c.anchor === undefined ? {} : { anchorHash: c.anchor(lines) };
    const result = await verifyAuditFiles([path], options);
    assert.equal(result.ok, c.firstBadSeq === undefined, result.message);
    assert.equal(result.firstBadSeq, c.firstBadSeq);
    if (c.message !== undefined) assert.match(result.message, c.message);
    assert.doesNotMatch(result.message, /\n/);
  });
}

test('verify: an empty file or a missing one is not intact', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'empty.log'), '');
  const empty = await verifyAuditFiles([join(dir, 'empty.log')]);
  assert.equal(empty.ok, false);
  assert.match(empty.message, /no audit records/);
  const missing = await verifyAuditFiles([join(dir, 'missing.log')]);
  assert.equal(missing.ok, false);
  assert.equal(missing.firstBadSeq, 1);
  assert.match(missing.message, /cannot read file/);
});

test('verify: files given in the wrong order fail', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.log');
  await writeLog(path, 4);
  const lines = await readLines(path);
  await writeFile(join(dir, 'a'), join1(lines.slice(0, 2)));
  await writeFile(join(dir, 'b'), join1(lines.slice(2)));
  assert.equal((await verifyAuditFiles([join(dir, 'a'), join(dir, 'b')])).ok, true);
  const swapped = await verifyAuditFiles([join(dir, 'b'), join(dir, 'a')]);
  assert.equal(swapped.ok, false);
  assert.equal(swapped.firstBadSeq, 1);
});
