/**
 * Which syncs AuditFile asks the kernel for. A sync cannot be seen in the file's bytes (only a
 * power cut would show a missing one), so these tests count the calls on node's FileHandle: the
 * folder's fsync when the file is created or rotated, the file's fdatasync in interval mode, and
 * none per batch with `durableWrites` (O_DSYNC), where the write itself is durable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { AuditFile } from '../../src/audit/audit-file.js';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-audit-sync-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

type SyncCall = { kind: 'sync' | 'datasync'; fd: number };

/** Records every FileHandle sync and datasync made while the test runs (the calls still happen). */
async function recordSyncs(t: TestContext, scratch: string): Promise<SyncCall[]> {
  const probe = await open(join(scratch, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  const calls: SyncCall[] = [];
  // The originals, called with the handle the code under test called them on.
  const realSync = Reflect.get<FileHandle, 'sync'>(proto, 'sync');
  const realDatasync = Reflect.get<FileHandle, 'datasync'>(proto, 'datasync');
  t.mock.method(proto, 'sync', function (this: FileHandle) {
    calls.push({ kind: 'sync', fd: this.fd });
    return realSync.call(this);
  });
  t.mock.method(proto, 'datasync', function (this: FileHandle) {
    calls.push({ kind: 'datasync', fd: this.fd });
    return realDatasync.call(this);
  });
  return calls;
}

/** An empty audit file that already exists, with the syncs made from here on recorded. */
async function existingLog(t: TestContext): Promise<{ path: string; calls: SyncCall[] }> {
  const d = await dir(t);
  const path = join(d, 'audit.log');
  await writeFile(path, '');
  return { path, calls: await recordSyncs(t, d) };
}

const line = (n: number): Buffer => Buffer.from(`{"seq":${n}}\n`);

/** One whole batch, as the writer makes it: written, then committed (nothing left to cut back). */
async function batch(file: AuditFile, n: number, maxBytes?: number): Promise<void> {
  await file.write(line(n), maxBytes, n - 1);
  file.commit();
}

void describe('audit file: syncs', () => {
  void it('creating the file fsyncs its folder once; reopening an existing file does not', async (t) => {
    const d = await dir(t);
    const calls = await recordSyncs(t, d);
    const path = join(d, 'audit.log');

    const first = new AuditFile(path, 0o600);
    const h = await first.open();
    assert.equal(calls.length, 1);
    const [dirSync] = calls;
    assert.ok(dirSync);
    assert.equal(dirSync.kind, 'sync');
    assert.notEqual(dirSync.fd, h.fd, 'the folder is synced, not the file');
    // Opening again returns the same handle and syncs nothing more.
    assert.equal(await first.open(), h);
    assert.equal(calls.length, 1);
    await first.close();

    const again = new AuditFile(path, 0o600);
    await again.open();
    assert.equal(calls.length, 1, 'an existing file needs no folder fsync');
    await again.close();
  });

  void it('an existing file, even an empty one, is not "created"', async (t) => {
    const { path, calls } = await existingLog(t);
    const file = new AuditFile(path, 0o600);
    await file.open();
    assert.equal(calls.length, 0);
    await file.close();
  });

  void it('interval mode (the default): datasync() is an fdatasync of the file', async (t) => {
    const { path, calls } = await existingLog(t);
    const file = new AuditFile(path, 0o600);
    await batch(file, 1);
    assert.equal(calls.length, 0, 'a write alone syncs nothing');
    const h = await file.open();
    assert.equal(await file.datasync(), true);
    assert.deepEqual(calls, [{ kind: 'datasync', fd: h.fd }]);
    assert.equal(file.syncs, 1);
    await file.close();
  });

  void it('durable writes (O_DSYNC): datasync() only counts, no system call', async (t) => {
    const { path, calls } = await existingLog(t);
    const file = new AuditFile(path, 0o600, true);
    await batch(file, 1);
    await batch(file, 2);
    assert.equal(await file.datasync(), true);
    assert.equal(await file.datasync(), true);
    assert.deepEqual(calls, []);
    assert.equal(file.syncs, 2);
    await file.close();
  });

  void it('datasync() on a file not open does nothing and says so, in either mode', async (t) => {
    const d = await dir(t);
    const calls = await recordSyncs(t, d);
    for (const durable of [false, true]) {
      const file = new AuditFile(join(d, `audit-${String(durable)}.log`), 0o600, durable);
      assert.equal(await file.datasync(), false);
      assert.equal(file.syncs, 0);
      await batch(file, 1);
      await file.close();
      assert.equal(await file.datasync(), false, 'closed again');
      assert.equal(file.syncs, 0);
    }
    // Only the two creations' folder syncs.
    assert.deepEqual(
      calls.map((c) => c.kind),
      ['sync', 'sync'],
    );
  });

  void it('rotating fdatasyncs the full file, then fsyncs the folder for the rename and the new file', async (t) => {
    const { path, calls } = await existingLog(t);
    const file = new AuditFile(path, 0o600, true);
    await batch(file, 1);
    const oldFd = (await file.open()).fd;
    // The second batch would take the file past 12 bytes: the first file is rotated.
    await batch(file, 2, 12);
    assert.deepEqual(
      calls.map((c) => c.kind),
      ['datasync', 'sync', 'sync'],
    );
    assert.equal(calls[0]?.fd, oldFd, 'the old file is synced before its rename');
    assert.equal(file.syncs, 1);
    await file.close();
  });
});
