/**
 * Probe semantics over a real `bastion serve` process (issue 15 item 2, issue 9 item 3): the
 * listeners open before the models load, ready flips to 503 at SIGTERM while the listener still
 * serves for `server.drainDelayMs`, and both listeners answer the health probes.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { buildMlp } from '../../scripts/onnx/onnx-builder.js';
import { tempDir } from '../helpers/gateway.js';
import { copyDemoModels, readAudit, root, runCli } from '../helpers/observe.js';
import { probe, startServe } from '../helpers/serve-process.js';

const demoKey = join(root, 'config/keys/demo-publisher.pub.pem');

function configText(repo: string, server: string[] = []): string {
  return [
    'stateDir: ./var',
    ['server:', '  port: 0', ...server].join('\n'),
    'auth:\n  devIssuer: true',
    `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(demoKey)}]`,
    'metrics:\n  port: 0',
    'audit:\n  path: ./var/audit.log',
  ].join('\n');
}

async function token(dir: string, scope: string): Promise<string> {
  const run = await runCli([
    'token',
    '--sub',
    'probe-test',
    '--scope',
    scope,
    '--state-dir',
    join(dir, 'var/dev-issuer'),
  ]);
  assert.equal(run.code, 0, run.stderr);
  return run.stdout.trim();
}

let big: Uint8Array | undefined;

/** A repository of one ~100 MB model: reading and optimizing it takes seconds. */
async function bigModelConfig(t: TestContext): Promise<{ dir: string; config: string }> {
  const dir = await tempDir(t);
  const repo = join(dir, 'models');
  big ??= buildMlp({ layers: [1024, 4096, 4096, 1024], seed: 3, name: 'big' });
  for (const version of [1]) {
    await mkdir(join(repo, 'big', String(version)), { recursive: true });
    await writeFile(join(repo, 'big', String(version), 'model.onnx'), big);
  }
  const config = join(dir, 'bastion.yaml');
  await writeFile(
    config,
    [
      'stateDir: ./var',
      'server:\n  port: 0\n  drainDelayMs: 200',
      'auth:\n  devIssuer: true',
      `models:\n  repository: ${JSON.stringify(repo)}\n  allowUnsigned: true`,
      'metrics:\n  port: 0',
      'audit:\n  path: ./var/audit.log',
    ].join('\n'),
  );
  return { dir, config };
}

const irisBody = JSON.stringify({
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
});

void describe('bastion serve: probes', () => {
  void it(
    'the listeners answer while a large model loads: live 200, ready 503, then ready 200',
    { timeout: 120_000 },
    async (t) => {
      const { config } = await bigModelConfig(t);
      const serve = startServe(t, config);
      const open = await serve.waitFor((l) => l.msg === 'listeners open; loading models');
      const api = `http://127.0.0.1:${String(open.port)}`;
      const management = `http://127.0.0.1:${String(open.metricsPort)}`;
      const live = await probe(`${api}/v2/health/live`);
      const ready = await probe(`${api}/v2/health/ready`);
      const managementReady = await probe(`${management}/v2/health/ready`);
      const answeredAt = performance.now();
      const loaded = await serve.waitFor((l) => l.msg === 'bastion listening', 90_000);
      assert.ok(
        answeredAt < loaded.at,
        'the probes were answered before the models finished loading',
      );
      assert.deepEqual(live, { status: 200, body: { live: true } });
      assert.deepEqual(ready, { status: 503, body: { ready: false } });
      assert.deepEqual(managementReady, { status: 503, body: { ready: false } });
      t.diagnostic(
        `listeners open ${(loaded.at - open.at).toFixed(0)} ms before the models finished loading`,
      );
      assert.ok(
        loaded.at - open.at > 300,
        `loading took ${(loaded.at - open.at).toFixed(0)} ms: long enough to matter`,
      );
      assert.deepEqual(await probe(`${api}/v2/health/ready`), {
        status: 200,
        body: { ready: true },
      });
      serve.child.kill('SIGTERM');
      assert.equal(await serve.exited, 0);
    },
  );

  void it(
    'SIGTERM while the models load: ready stays 503, the load finishes, the stop is graceful and audited',
    { timeout: 120_000 },
    async (t) => {
      const { dir, config } = await bigModelConfig(t);
      const serve = startServe(t, config);
      const open = await serve.waitFor((l) => l.msg === 'listeners open; loading models');
      serve.child.kill('SIGTERM');
      await serve.waitFor((l) => String(l.msg).startsWith('draining'));
      const ready = await probe(`http://127.0.0.1:${String(open.port)}/v2/health/ready`);
      assert.deepEqual(ready, { status: 503, body: { ready: false } });
      assert.equal(await serve.exited, 0, serve.stderr());
      assert.ok(!serve.lines.some((l) => l.msg === 'bastion listening'), 'never announced serving');
      assert.ok(
        !serve.lines.some((l) => Number(l.level) >= 50),
        `no error lines: ${JSON.stringify(serve.lines.filter((l) => Number(l.level) >= 50))}`,
      );
      const events = (await readAudit(join(dir, 'var/audit.log'))).map((r) => r.event);
      assert.equal(events.at(-1), 'server.stop');
    },
  );

  void it(
    'SIGTERM: ready turns 503 at once, the API still serves during drainDelayMs, then the port closes; the audit log ends with server.stop',
    { timeout: 60_000 },
    async (t) => {
      const dir = await tempDir(t);
      const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
      const config = join(dir, 'bastion.yaml');
      const drainDelayMs = 2500;
      await writeFile(config, configText(repo, [`  drainDelayMs: ${drainDelayMs}`]));
      const serve = startServe(t, config);
      const up = await serve.waitFor((l) => l.msg === 'bastion listening');
      const api = `http://127.0.0.1:${String(up.port)}`;
      const management = `http://127.0.0.1:${String(up.metricsPort)}`;
      const auth = { authorization: `Bearer ${await token(dir, 'infer:iris')}` };
      assert.deepEqual(await probe(`${api}/v2/health/ready`), {
        status: 200,
        body: { ready: true },
      });
      assert.deepEqual(await probe(`${management}/v2/health/ready`), {
        status: 200,
        body: { ready: true },
      });

      const signalledAt = performance.now();
      serve.child.kill('SIGTERM');
      await serve.waitFor((l) => String(l.msg).startsWith('draining'));
      const ready = await probe(`${api}/v2/health/ready`);
      const managementReady = await probe(`${management}/v2/health/ready`);
      const live = await probe(`${api}/v2/health/live`);
      const infer = await fetch(`${api}/v2/models/iris/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...auth },
        body: irisBody,
      });
      const probedAt = performance.now();
      assert.ok(probedAt - signalledAt < drainDelayMs, 'probed inside the drain window');
      assert.deepEqual(ready, { status: 503, body: { ready: false } });
      assert.deepEqual(managementReady, { status: 503, body: { ready: false } });
      assert.deepEqual(live, { status: 200, body: { live: true } });
      assert.equal(infer.status, 200, 'requests are still served while draining');

      assert.equal(await serve.exited, 0);
      const stoppedAt = performance.now();
      assert.ok(
        stoppedAt - signalledAt >= drainDelayMs,
        `stopped ${(stoppedAt - signalledAt).toFixed(0)} ms after SIGTERM, not before the drain delay`,
      );
      const after = await probe(`${api}/v2/health/live`);
      assert.ok('error' in after, 'the port is closed after the drain');
      const events = (await readAudit(join(dir, 'var/audit.log'))).map((r) => r.event);
      assert.equal(events.at(-1), 'server.stop');
      assert.equal(
        events.filter((e) => e === 'request').length,
        1,
        'the drained request is audited',
      );
    },
  );

  void it(
    'a second SIGTERM ends the drain delay early; shutdown stays graceful',
    { timeout: 60_000 },
    async (t) => {
      const dir = await tempDir(t);
      const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
      const config = join(dir, 'bastion.yaml');
      await writeFile(config, configText(repo, ['  drainDelayMs: 60000']));
      const serve = startServe(t, config);
      await serve.waitFor((l) => l.msg === 'bastion listening');
      const at = performance.now();
      serve.child.kill('SIGTERM');
      await serve.waitFor((l) => String(l.msg).startsWith('draining'));
      serve.child.kill('SIGTERM');
      assert.equal(await serve.exited, 0);
      assert.ok(performance.now() - at < 30_000, 'did not wait the whole minute');
      const events = (await readAudit(join(dir, 'var/audit.log'))).map((r) => r.event);
      assert.equal(events.at(-1), 'server.stop');
    },
  );
});
