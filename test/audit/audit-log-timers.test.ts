// The interval fsync policy, with time controlled by node:test's mock timers instead of sleeps:
// a record is written at once, fdatasync'ed exactly `intervalMs` after the first unsynced write
// (not before), and only then does the head checkpoint move. Real files; only setTimeout is
// mocked (the writer's setImmediate and the file system run for real).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test, type TestContext } from 'node:test';
import { readAuditCheckpoint } from '../../src/audit/audit-checkpoint.js';
import { createAuditLog } from '../../src/audit/audit-log.js';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-audit-timers-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** Lets real I/O and setImmediate callbacks run until `done()` holds (bounded). */
async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (await done()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  assert.fail(`never: ${what}`);
}

/**
 * Turns of real I/O for at least 50 ms of real time, for checking that nothing happens: long
 * enough for a write and fdatasync the writer might have started to finish (setTimeout is
 * mocked, so the wait is a loop of setImmediate turns).
 */
async function settle(): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < 50 || performance.now() - start < 50; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

const entry = { event: 'request', outcome: 'allowed', sub: 'alice' } as const;

test('interval fsync: written now, synced intervalMs after the first unsynced write', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const d = await dir(t);
  const path = join(d, 'audit.log');
  const checkpointPath = join(d, 'state', 'checkpoint.json');
  const log = await createAuditLog({ path, checkpointPath, fsync: { intervalMs: 5000 } });
  const syncs = () => log.stats().syncs;
  const base = syncs();

  const first = await log.append(entry);
  assert.equal(first.seq, 1);
  assert.equal((await readFile(path, 'utf8')).split('\n').length, 2, 'written before any sync');
  await settle();
  assert.equal(syncs(), base, 'no fdatasync yet');
  assert.equal(await readAuditCheckpoint(checkpointPath, undefined), undefined);

  // A second record inside the interval does not restart the clock.
  t.mock.timers.tick(3000);
  await log.append(entry);
  t.mock.timers.tick(1999);
  await settle();
  assert.equal(syncs(), base, 'still none 1 ms before the interval ends');

  t.mock.timers.tick(1);
  await until(() => syncs() === base + 1, 'the interval fdatasync');
  // The checkpoint follows the synced head (seq 2), never a record that is not yet durable.
  await until(async () => {
    const cp = await readAuditCheckpoint(checkpointPath, undefined);
    return typeof cp === 'object' && cp.seq === 2;
  }, 'the checkpoint at seq 2');

  // Nothing unsynced: a flush has nothing to sync, and there is no timer, however long we wait.
  await log.flush();
  assert.equal(syncs(), base + 1, 'a flush after the interval sync does not sync again');
  t.mock.timers.tick(60_000);
  await settle();
  assert.equal(syncs(), base + 1);

  // The next write starts a new interval.
  await log.append(entry);
  t.mock.timers.tick(4999);
  await settle();
  assert.equal(syncs(), base + 1);
  t.mock.timers.tick(1);
  await until(() => syncs() === base + 2, 'the second interval fdatasync');
  await log.close();
});

test('interval fsync: close syncs at once, without waiting for the interval', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const d = await dir(t);
  const path = join(d, 'audit.log');
  const checkpointPath = join(d, 'checkpoint.json');
  const log = await createAuditLog({ path, checkpointPath, fsync: { intervalMs: 60_000 } });
  const base = log.stats().syncs;
  await log.append(entry);
  await log.close();
  assert.equal(log.stats().syncs, base + 1);
  const cp = await readAuditCheckpoint(checkpointPath, undefined);
  assert.equal(typeof cp === 'object' && cp.seq, 1);
});

test('the always policy syncs every batch and needs no timer', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const path = join(await dir(t), 'audit.log');
  const log = await createAuditLog({ path });
  const base = log.stats().syncs;
  await log.append(entry);
  assert.equal(log.stats().syncs, base + 1);
  await Promise.all([log.append(entry), log.append(entry), log.append(entry)]);
  assert.equal(log.stats().syncs, base + 2, 'one group commit for records appended together');
  assert.equal(log.stats().writes, 2);
  assert.equal(log.stats().records, 4);
  await log.close();
});

test('interval fsync: one timer per interval, however many writes it covers', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const d = await dir(t);
  const log = await createAuditLog({ path: join(d, 'audit.log'), fsync: { intervalMs: 5000 } });
  const syncs = () => log.stats().syncs;
  const base = syncs();
  // Writes at 0, 1000 and 2000 ms: one sync, at 5000.
  for (let i = 0; i < 3; i++) {
    await log.append(entry);
    t.mock.timers.tick(1000);
  }
  t.mock.timers.tick(2000);
  await until(() => syncs() === base + 1, 'the interval fdatasync at 5000 ms');
  // A write at 6000 ms is synced at 11000 ms, not by a timer left from the writes before.
  t.mock.timers.tick(1000);
  await log.append(entry);
  t.mock.timers.tick(4999);
  await settle();
  assert.equal(syncs(), base + 1, 'no sync before 11000 ms');
  t.mock.timers.tick(1);
  await until(() => syncs() === base + 2, 'the fdatasync at 11000 ms');
  await log.close();
});
