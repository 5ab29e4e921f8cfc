import assert from 'node:assert/strict';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { readLastLines } from '../../src/audit/audit-lines.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { readAuditRecords } from '../../src/audit/audit-read.js';
import { requestEntry, tempDir } from './audit-fixtures.js';

test('readAuditRecords filters by sub, model, outcome and time, keeping the last N', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  let clock = Date.parse('2024-05-01T00:00:00.000Z');
  const log = await createAuditLog({ path, now: () => new Date((clock += 60_000)) });
  for (let i = 0; i < 10; i++) {
    await log.append(
      requestEntry(i % 2 === 0 ? 'alice' : 'bob', {
        model: i < 5 ? 'iris' : 'mnist',
        outcome: i % 3 === 0 ? 'denied' : 'allowed',
      }),
    );
  }
  await log.close();
  await appendFile(path, 'not json\n');

  assert.equal((await readAuditRecords([path])).length, 10);
  const alice = await readAuditRecords([path], { sub: 'alice' });
  assert.deepEqual(
    alice.map((r) => r.seq),
    [1, 3, 5, 7, 9],
  );
  const last2 = await readAuditRecords([path], { sub: 'alice', limit: 2 });
  assert.deepEqual(
    last2.map((r) => r.seq),
    [7, 9],
  );
  const denied = await readAuditRecords([path], { outcome: 'denied', model: 'mnist' });
  assert.deepEqual(
    denied.map((r) => r.seq),
    [7, 10],
  );
  const window = await readAuditRecords([path], {
    since: new Date('2024-05-01T00:03:00.000Z'),
    until: new Date('2024-05-01T00:05:00.000Z'),
  });
  assert.deepEqual(
    window.map((r) => r.seq),
    [3, 4, 5],
  );
  assert.deepEqual(await readAuditRecords([path], { limit: 0 }), []);
});

test('readLastLines reads only the end of a large file, and sees a torn line', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'big.log');
  const long = 'x'.repeat(200_000);
  const body = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n');
  await writeFile(path, `${body}\n${long}\nlast\n`);
  const tail = await readLastLines(path, 2);
  assert.deepEqual(tail.lines, [long, 'last']);
  assert.equal(tail.partial, '');
  assert.equal(tail.fromStart, false);

  await appendFile(path, 'torn');
  assert.equal((await readLastLines(path, 1)).partial, 'torn');

  const small = join(dir, 'small.log');
  await writeFile(small, 'a\nb\n');
  assert.deepEqual(await readLastLines(small, 5), {
    lines: ['a', 'b'],
    partial: '',
    size: 4,
    fromStart: true,
  });
});
