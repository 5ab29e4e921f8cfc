// The audit writer's edges: the exact failure and closed messages, what a throwing listener may
// not break, the rotation boundary (a file is rotated only when the next batch would pass
// maxBytes, and never while empty), the counters, the file mode, the head it reports, and the
// first record of a new segment. Real files; /dev/full stands in for a full disk.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { AuditLogError } from '../../src/audit/audit-log-error.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { listRotatedAuditFiles, rotatedAuditPath } from '../../src/audit/audit-tail.js';
import { verifyAuditFiles } from '../../src/audit/audit-verify.js';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-audit-edges-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

const entry = (sub: string) => ({ event: 'request', outcome: 'allowed', sub }) as const;
const lineBytes = async (path: string) => (await readFile(path, 'utf8')).length;

void describe('audit writer failures', () => {
  void it('names the file and the cause, survives throwing listeners, and recovers', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    await symlink('/dev/full', path);
    const seen: [string, number][] = [];
    const log = await createAuditLog({
      path,
      onError: (error, failed) => {
        seen.push([error.message, failed]);
        throw new Error('listener bug');
      },
    });
    const failure = await log.append(entry('a')).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(failure instanceof AuditLogError, 'failure instanceof AuditLogError');
    assert.equal(failure.code, 'AUDIT_WRITE_FAILED');
    assert.equal(failure.name, 'AuditLogError');
    assert.match(
      failure.message,
      /^audit log .*audit\.log: write failed \(ENOSPC: no space left on device, write\)$/,
    );
    assert.equal((failure.cause as NodeJS.ErrnoException).code, 'ENOSPC');
    assert.deepEqual(seen, [[failure.message, 1]]);
    assert.equal(log.healthy, false);
    assert.equal(log.writeFailures, 1);
    assert.equal(log.lastSeq, 0);
    assert.deepEqual(log.stats(), { records: 0, syncs: 0, writes: 0 });
    await log.close();
  });

  void it('refuses appends after close, naming the file', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const log = await createAuditLog({ path });
    await log.close();
    await assert.rejects(log.append(entry('late')), {
      name: 'AuditLogError',
      code: 'AUDIT_CLOSED',
      message: `audit log ${path} is closed`,
    });
  });

  void it('refuses a non-positive fsync interval', async (t) => {
    const path = join(await dir(t), 'audit.log');
    for (const intervalMs of [0, -5, Number.NaN]) {
      await assert.rejects(createAuditLog({ path, fsync: { intervalMs } }), {
        name: 'RangeError',
        message: 'audit fsync intervalMs must be > 0',
      });
    }
    const log = await createAuditLog({ path, fsync: { intervalMs: 1 } });
    await log.close();
  });
});

void describe('audit writer files', () => {
  void it('creates the file with fileMode (0600 by default) and reports its head', async (t) => {
    const d = await dir(t);
    const path = join(d, 'logs', 'audit.log');
    const log = await createAuditLog({ path });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(d, 'logs'))).mode & 0o777, 0o700);
    assert.equal(log.checkpoint(), undefined);
    const first = await log.append(entry('a'));
    assert.equal(log.lastSeq, 1);
    assert.equal(log.lastHash, first.hash);
    const head = log.checkpoint();
    assert.deepEqual(head && [head.log, head.file, head.seq, head.hash, head.offset], [
      path,
      'audit.log',
      1,
      first.hash,
      await lineBytes(path),
    ]);
    await log.close();
    const shared = join(d, 'shared.log');
    const other = await createAuditLog({ path: shared, fileMode: 0o640 });
    assert.equal((await stat(shared)).mode & 0o777, 0o640);
    await other.close();
  });

  void it('writes at most 4096 records per batch: one turn of 8193 appends is three writes', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const log = await createAuditLog({ path });
    // All appended in one turn: the writer starts after it, so only its batch cap splits them.
    const appended = Array.from({ length: 2 * 4096 + 1 }, (_, i) => log.append(entry(`s${i}`)));
    const records = await Promise.all(appended);
    assert.deepEqual(
      records.map((r) => r.seq),
      records.map((_, i) => i + 1),
    );
    assert.deepEqual(log.stats(), { records: 8193, writes: 3, syncs: 3 });
    await log.close();
    const result = await verifyAuditFiles([path]);
    assert.equal(result.ok, true, result.message);
    assert.equal(result.records, 8193);
  });

  void it('rotates only when the next batch would pass maxBytes, never an empty file', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    // Measure one record's line, then allow exactly two.
    const probe = await createAuditLog({ path: join(d, 'probe.log') });
    await probe.append(entry('x'));
    await probe.close();
    const one = await lineBytes(join(d, 'probe.log'));
    const log = await createAuditLog({ path, maxBytes: 2 * one });
    await log.append(entry('x'));
    await log.append(entry('x'));
    assert.deepEqual(await listRotatedAuditFiles(path), [], 'two records fit exactly');
    await log.append(entry('x'));
    assert.deepEqual(await listRotatedAuditFiles(path), [rotatedAuditPath(path, 2)]);
    assert.equal(await lineBytes(path), one);
    const stats = log.stats();
    assert.equal(stats.records, 3);
    assert.equal(stats.writes, 3);
    // One fdatasync per write, plus the one that closes the rotated file.
    assert.equal(stats.syncs, 4);
    await log.close();
    const result = await verifyAuditFiles([rotatedAuditPath(path, 2), path]);
    assert.equal(result.ok, true, result.message);

    // A first record larger than maxBytes is still written, to the empty file.
    const big = join(d, 'big.log');
    const tiny = await createAuditLog({ path: big, maxBytes: 10 });
    await tiny.append(entry('y'));
    assert.deepEqual(await listRotatedAuditFiles(big), []);
    await tiny.close();
  });

  void it('a broken tail with acceptBrokenTail opens a new segment whose first record says why', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const log = await createAuditLog({ path });
    await log.append(entry('a'));
    await log.close();
    await writeFile(path, `${await readFile(path, 'utf8')}{"torn`);
    const reopened = await createAuditLog({
      path,
      acceptBrokenTail: true,
      now: () => new Date('2026-05-06T07:08:09.010Z'),
    });
    const segment = JSON.parse((await readFile(path, 'utf8')).trim()) as Record<string, unknown>;
    assert.equal(segment['event'], 'audit.segment');
    assert.equal(segment['outcome'], 'error');
    assert.equal(segment['seq'], 2);
    assert.equal(segment['prevHash'], '0'.repeat(64));
    assert.equal(segment['ts'], '2026-05-06T07:08:09.010Z');
    assert.equal(
      segment['reason'],
      'broken tail in audit.log (moved to audit.log.broken-20260506T070809010Z): the last line is incomplete (6 bytes after the last newline); new chain segment after seq 1',
    );
    assert.equal(reopened.lastSeq, 2);
    await reopened.close();
  });
});

void describe('audit writer concurrency and checkpoint failures', () => {
  void it('appends made while a write is in flight wait for the next one: no seq twice', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const log = await createAuditLog({ path });
    // One append per event-loop turn, none awaited: most land while the previous batch's write
    // or fdatasync is still running, and must queue behind it rather than start a second writer.
    const pending = [];
    for (let i = 0; i < 300; i++) {
      pending.push(log.append(entry(`s${i}`)));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const records = await Promise.all(pending);
    assert.deepEqual(
      records.map((r) => r.seq),
      records.map((_, i) => i + 1),
    );
    const stats = log.stats();
    assert.ok(stats.writes < 300, `${stats.writes} writes: some batches held several records`);
    await log.close();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { sub: string }).sub),
      records.map((_, i) => `s${i}`),
    );
    assert.equal((await verifyAuditFiles([path])).ok, true);
  });

  void it('a checkpoint that cannot be written is reported, even to a throwing listener, and the log goes on', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit.log');
    const checkpointPath = join(d, 'state', 'checkpoint.json');
    const seen: string[] = [];
    const log = await createAuditLog({
      path,
      checkpointPath,
      onCheckpointError: (error) => {
        seen.push(error.message);
        throw new Error('listener bug');
      },
    });
    // The checkpoint's folder becomes a plain file: every checkpoint write fails (EEXIST on its mkdir).
    await rm(join(d, 'state'), { recursive: true, force: true });
    await writeFile(join(d, 'state'), 'not a folder');
    assert.equal((await log.append(entry('a'))).seq, 1);
    for (let i = 0; i < 2000 && seen.length === 0; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    assert.equal(seen.length, 1, 'the timed checkpoint write failed and was reported');
    assert.match(seen[0] ?? '', /EEXIST|ENOTDIR/);
    assert.equal((await log.append(entry('b'))).seq, 2);
    // close's durable checkpoint write fails too: reported, and close still resolves.
    const before = seen.length;
    await log.close();
    assert.equal(seen.length, before + 1);
    assert.match(seen.at(-1) ?? '', /EEXIST|ENOTDIR/);
    assert.equal((await verifyAuditFiles([path])).ok, true);
  });
});
