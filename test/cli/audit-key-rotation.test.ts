/**
 * Rotating the audit HMAC key as docs/deploy.md ("Key rotation") says, over a real `bastion
 * serve` and real files: a start with the new key over the old chain is refused (with
 * `audit.acceptBrokenTail` too, since the head checkpoint no longer verifies); rolling once with
 * `--recover-audit` (the Kubernetes steps) or moving the log and its checkpoint aside (the
 * single-host steps) starts a new chain; every chain verifies with its own key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it, type TestContext } from 'node:test';
import { tempDir } from '../helpers/gateway.js';
import { copyDemoModels, root, verifyWithCli } from '../helpers/observe.js';
import { spawnServe } from '../helpers/serve-process.js';

/** `bastion serve` until it listens, then SIGTERM; resolves with the exit code and stderr. */
function serveOnce(
  t: TestContext,
  config: string,
  extra: readonly string[] = [],
): Promise<{ code: number | null; stderr: string }> {
  const child = spawnServe(t, config, extra);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('"msg":"bastion listening"')) child.kill('SIGTERM');
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise) => {
    child.once('exit', (code) => {
      resolvePromise({ code, stderr });
    });
  });
}

void it(
  'a new audit key: refused over the old chain, acceptBrokenTail too; --recover-audit or moving log and checkpoint aside starts a new chain; each verifies with its key',
  { timeout: 120_000 },
  async (t) => {
    const dir = await tempDir(t, 'bastion-audit-rotation-');
    const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
    const keys: Record<'a' | 'b' | 'c', string> = { a: '', b: '', c: '' };
    for (const name of ['a', 'b', 'c'] as const) {
      keys[name] = join(dir, `audit-${name}.key`);
      await writeFile(keys[name], randomBytes(32).toString('hex'), { mode: 0o600 });
    }
    const config = join(dir, 'bastion.yaml');
    const useKey = (key: string, acceptBrokenTail = false): Promise<void> =>
      writeFile(
        config,
        [
          'stateDir: ./var',
          'server:\n  port: 0',
          'auth:\n  devIssuer: true',
          `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(join(root, 'config/keys/demo-publisher.pub.pem'))}]`,
          'metrics:\n  enabled: false',
          `audit:\n  path: ./var/audit/audit.log\n  checkpointFile: ./var/audit-head.json\n  hmacKeyFile: ${JSON.stringify(key)}\n  acceptBrokenTail: ${String(acceptBrokenTail)}`,
        ].join('\n'),
      );
    const audit = join(dir, 'var/audit');
    const checkpoint = join(dir, 'var/audit-head.json');
    const ok = async (extra: string[] = []): Promise<void> => {
      const run = await serveOnce(t, config, extra);
      assert.equal(run.code, 0, run.stderr);
    };
    const verifies = async (files: string[], key: string, head?: string): Promise<void> => {
      const run = await verifyWithCli(files, key, head);
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /intact/);
    };

    await useKey(keys.a);
    await ok();
    await verifies([join(audit, 'audit.log')], keys.a, checkpoint);

    for (const acceptBrokenTail of [false, true]) {
      await useKey(keys.b, acceptBrokenTail);
      const refused = await serveOnce(t, config);
      assert.equal(refused.code, 2, `acceptBrokenTail: ${String(acceptBrokenTail)}`);
      assert.match(refused.stderr, /checkpoint .* does not verify with the audit key/);
    }

    // Kubernetes: one roll with --recover-audit, then one without.
    await useKey(keys.b);
    await ok(['--recover-audit']);
    await ok();
    const aside = (await readdir(audit)).filter((f) => f.startsWith('audit.log.broken-'));
    assert.equal(aside.length, 1, 'the old chain is moved aside, not deleted');
    await verifies([join(audit, aside[0] ?? '')], keys.a);
    await verifies([join(audit, 'audit.log')], keys.b, checkpoint);

    // Single host: stop, move the log files and the checkpoint to an archive, start.
    await useKey(keys.c);
    const archive = join(dir, 'var/archive-1');
    await mkdir(archive);
    await rename(join(audit, 'audit.log'), join(archive, 'audit.log'));
    await rename(checkpoint, join(archive, 'audit-head.json'));
    await ok();
    await verifies([join(archive, 'audit.log')], keys.b, join(archive, 'audit-head.json'));
    await verifies([join(audit, 'audit.log')], keys.c, checkpoint);
  },
);
