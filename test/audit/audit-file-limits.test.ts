// The audit file under real kernel limits, no mocks: a file-size limit (RLIMIT_FSIZE, set with
// the shell's `ulimit -f` on a child process) makes a batch's write stop part way, and the writer
// must cut the file back to its last whole record so the chain on disk still verifies; and a
// writer that rotates and closes leaves no file descriptor open.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { listRotatedAuditFiles } from '../../src/audit/audit-tail.js';
import { verifyAuditFiles } from '../../src/audit/audit-verify.js';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-audit-limits-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

interface ChildReport {
  readonly outcomes: readonly string[];
  readonly lastSeq: number;
  readonly healthy: boolean;
  readonly writeFailures: number;
  readonly stats: { readonly records: number; readonly syncs: number; readonly writes: number };
}

const child = join(import.meta.dirname, 'fixtures', 'file-size-limit-child.ts');

/** Runs the child with a file-size limit of `kib` KiB (ulimit -f counts 1024-byte blocks). */
function runLimited(path: string, kib: number, batch: number, batches: number): ChildReport {
  const run = spawnSync(
    'bash',
    [
      '-c',
      `ulimit -f ${kib} && exec "$0" --import tsx "$@"`,
      process.execPath,
      child,
      path,
      String(batch),
      String(batches),
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as ChildReport;
}

void describe('audit file: a write cut short by the disk', () => {
  for (const batch of [1, 5]) {
    void it(`batches of ${batch}: the file is cut back to the last whole record and verifies`, async (t) => {
      const path = join(await dir(t), 'audit.log');
      const limit = 8; // KiB; each record is about 500 bytes, so 16 fit
      const report = runLimited(path, limit, batch, 30);
      const ok = report.outcomes.filter((o) => o.startsWith('ok '));
      const failed = report.outcomes.filter((o) => o.startsWith('failed '));
      assert.ok(ok.length > 0 && failed.length > 0, JSON.stringify(report.outcomes));
      for (const f of failed) {
        assert.match(
          f,
          /^failed audit log .*audit\.log: write failed \(EFBIG: file too large, write\)$/,
        );
      }
      // Every record that was confirmed is on disk, in order; nothing else is.
      const text = await readFile(path, 'utf8');
      assert.ok(text.endsWith('\n'), 'the file ends with a whole record');
      const lines = text.slice(0, -1).split('\n');
      assert.deepEqual(
        lines.map((l) => `ok ${(JSON.parse(l) as { seq: number }).seq}`),
        ok,
      );
      assert.equal(report.lastSeq, ok.length);
      assert.equal(report.healthy, false);
      assert.equal(report.writeFailures, failed.length);
      assert.equal(report.stats.records, ok.length);
      // The limit was reached: what is left is less than one more batch short of it.
      const { size } = await stat(path);
      assert.ok(size <= limit * 1024, `${size} bytes`);
      assert.ok(size > limit * 1024 - 600 * batch, `${size} bytes`);
      const verified = await verifyAuditFiles([path]);
      assert.equal(verified.ok, true, JSON.stringify(verified));
    });
  }
});

/** Open file descriptors of this process (Linux: /proc/self/fd). */
async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

void describe('audit file: descriptors', () => {
  void it('writing, rotating and closing leaves no descriptor open', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const before = await openFds();
    const log = await createAuditLog({ path, maxBytes: 600 });
    for (let i = 0; i < 12; i++) {
      await log.append({ event: 'request', outcome: 'allowed', sub: `s${i}` });
    }
    // One descriptor (the current file) while open, however many batches and rotations.
    assert.equal(await openFds(), before + 1);
    assert.ok((await listRotatedAuditFiles(path)).length >= 3);
    await log.close();
    assert.equal(await openFds(), before);
  });
});

/** The open flags of this process's descriptor on `path` (Linux: /proc/self/fdinfo), or undefined. */
async function openFlagsOf(path: string): Promise<number | undefined> {
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target !== path) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
    const flags = /^flags:\s+([0-7]+)$/m.exec(info)?.[1];
    return flags === undefined ? undefined : Number.parseInt(flags, 8);
  }
  return undefined;
}

void describe('audit file: how it is opened', () => {
  void it('fsync: always writes through O_DSYNC, one durable write per batch', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const log = await createAuditLog({ path });
    await Promise.all(
      [1, 2, 3].map((i) => log.append({ event: 'request', outcome: 'allowed', sub: `s${i}` })),
    );
    const flags = await openFlagsOf(path);
    assert.ok(flags !== undefined, 'the log is open');
    assert.equal(flags & constants.O_DSYNC, constants.O_DSYNC);
    assert.equal(flags & constants.O_APPEND, constants.O_APPEND);
    // One batch, one synchronised write: counted as one sync.
    assert.deepEqual(log.stats(), { records: 3, writes: 1, syncs: 1 });
    await log.close();
  });

  void it('an interval policy writes without O_DSYNC and fdatasyncs on its timer', async (t) => {
    const path = join(await dir(t), 'audit.log');
    const log = await createAuditLog({ path, fsync: { intervalMs: 60_000 } });
    await log.append({ event: 'request', outcome: 'allowed', sub: 's' });
    const flags = await openFlagsOf(path);
    assert.ok(flags !== undefined, 'the log is open');
    assert.equal(flags & constants.O_DSYNC, 0);
    assert.equal(log.stats().syncs, 0);
    await log.flush();
    assert.equal(log.stats().syncs, 1);
    await log.close();
  });
});
