/**
 * The model repository extension (`POST /v2/repository/index`, `.../load`, `.../unload`) on a
 * real gateway over signed models, and the repository poller (`models.pollIntervalSec`).
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { signModelDirectory } from '../../src/models/oms/sign-model.js';
import { createRepositoryPoller, type PollerTimers } from '../../src/models/repository-poller.js';
import {
  createCleanup,
  postJson,
  startGateway,
  tempDir,
  type TestGateway,
} from '../helpers/gateway.js';
import { createTestKeys } from '../models/oms/oms-test-fixtures.js';

const modelBytes = Buffer.from(buildIdentityModel('float32', ['batch']));
const echo = { inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2] }] };
const publisher = createTestKeys();

interface IndexRow {
  name: string;
  version: string;
  state: string;
  reason: string;
}

/** Writes `<repo>/<model>/<version>/model.onnx`; signs it unless `sign` is false. */
async function addVersion(repo: string, model: string, version: number, sign = true) {
  const dir = join(repo, model, String(version));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), modelBytes);
  if (sign) await signModelDirectory({ root: dir, privateKeyPem: publisher.privatePem });
  return dir;
}

/** Config for a gateway that only serves models signed by {@link publisher}. */
async function signedConfig(
  t: { after: (fn: () => Promise<void>) => void },
  repo: string,
  extra = '',
) {
  const keys = await tempDir(t, 'bastion-keys-');
  const key = join(keys, 'publisher.pub.pem');
  await writeFile(key, publisher.publicPem);
  return `models:
  repository: ${JSON.stringify(repo)}
  allowUnsigned: false
  trustedKeys: [${JSON.stringify(key)}]
  defaults:
    poolSize: 0
${extra}`;
}

function codeOf(body: unknown): string | undefined {
  return (body as { code?: string } | undefined)?.code;
}

void describe('repository API', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let repo: string;

  before(async () => {
    repo = await tempDir(cleanup, 'bastion-repo-');
    await addVersion(repo, 'echo', 1);
    const tampered = await addVersion(repo, 'echo', 2);
    await writeFile(join(tampered, 'model.onnx'), Buffer.concat([modelBytes, Buffer.from([1])]));
    await addVersion(repo, 'other', 1);
    await addVersion(repo, 'busy', 1);
    // The reload-under-load model runs in a worker pool, whose engines close on retirement.
    await writeFile(join(repo, 'busy', 'config.yaml'), 'poolSize: 1\n');
    gw = await startGateway(cleanup, repo, await signedConfig(cleanup, repo));
  });
  after(() => cleanup.run());

  async function index(body: unknown = {}): Promise<IndexRow[]> {
    const res = await gw.post('/v2/repository/index', body);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as IndexRow[];
  }

  void it('index lists every version with its state and reason; {ready: true} filters', async () => {
    const rows = await index();
    const sorted = rows.map((r) => [r.name, r.version, r.state]).sort();
    assert.deepEqual(sorted, [
      ['busy', '1', 'READY'],
      ['echo', '1', 'READY'],
      ['echo', '2', 'UNAVAILABLE'],
      ['other', '1', 'READY'],
    ]);
    const failed = rows.find((r) => r.name === 'echo' && r.version === '2');
    assert.match(failed?.reason ?? '', /digest-mismatch/);
    assert.equal(rows.find((r) => r.name === 'echo' && r.version === '1')?.reason, '');
    const ready = await index({ ready: true });
    assert.ok(ready.length === 3 && ready.every((r) => r.state === 'READY'));
    assert.deepEqual(await index({ ready: false }), rows);
    // No body at all is an unfiltered index too.
    const bare = await fetch(`${gw.url}/v2/repository/index`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await gw.token()}` },
    });
    assert.equal(bare.status, 200);
    assert.equal(((await bare.json()) as IndexRow[]).length, rows.length);
  });

  void it('load after adding a version verifies and serves it', async () => {
    await addVersion(repo, 'other', 2);
    const res = await gw.post('/v2/repository/models/other/load', {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const infer = await gw.post('/v2/models/other/infer', echo);
    assert.equal(infer.status, 200);
    assert.equal((infer.body as { model_version: string }).model_version, '2');
    const v1 = await gw.post('/v2/models/other/versions/1/infer', echo);
    assert.equal(v1.status, 200);
  });

  void it('load with no request body (Triton clients send none) is a load', async () => {
    const res = await fetch(`${gw.url}/v2/repository/models/other/load`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await gw.token()}` },
    });
    assert.equal(res.status, 200);
  });

  void it('a load whose every version fails is 503 with the reasons, other models unaffected', async () => {
    await addVersion(repo, 'unsigned-only', 1, false);
    const res = await gw.post('/v2/repository/models/unsigned-only/load', {});
    assert.equal(res.status, 503);
    assert.equal(codeOf(res.body), 'MODEL_NOT_READY');
    assert.match((res.body as { error: string }).error, /version 1: no signature/);
    assert.doesNotMatch((res.body as { error: string }).error, new RegExp(repo));
    assert.equal((await gw.post('/v2/models/echo/infer', echo)).status, 200);
  });

  void it('unload → 503 on infer, then load → 200', async () => {
    assert.equal((await gw.post('/v2/repository/models/echo/unload', {})).status, 200);
    const rows = (await index()).filter((r) => r.name === 'echo');
    assert.ok(
      rows.every((r) => r.state === 'UNLOADED'),
      JSON.stringify(rows),
    );
    const refused = await gw.post('/v2/models/echo/infer', echo);
    assert.equal(refused.status, 503);
    assert.equal(codeOf(refused.body), 'MODEL_NOT_READY');
    assert.equal((await gw.get('/v2/models/echo/ready')).status, 503);
    assert.equal((await gw.post('/v2/repository/models/echo/load', {})).status, 200);
    const served = await gw.post('/v2/models/echo/infer', echo);
    assert.equal(served.status, 200);
    assert.equal((served.body as { model_version: string }).model_version, '1');
  });

  void it('load or unload of an unknown model is 404 MODEL_NOT_FOUND', async () => {
    for (const path of [
      '/v2/repository/models/nope/load',
      '/v2/repository/models/nope/unload',
      '/v2/repository/models/Not%20A%20Name/load',
    ]) {
      const res = await gw.post(path, {});
      assert.equal(res.status, 404, path);
      assert.equal(codeOf(res.body), 'MODEL_NOT_FOUND', path);
    }
  });

  void it('without models:manage every repository route is 403', async () => {
    const inferOnly = { authorization: `Bearer ${await gw.token(['infer:*'])}` };
    for (const path of [
      '/v2/repository/index',
      '/v2/repository/models/echo/load',
      '/v2/repository/models/echo/unload',
      '/v2/repository/models/nope/load',
    ]) {
      const res = await gw.post(path, {}, inferOnly);
      assert.equal(res.status, 403, path);
      assert.equal(codeOf(res.body), 'FORBIDDEN', path);
    }
    // Nothing was unloaded by the refused call.
    assert.equal((await gw.post('/v2/models/echo/infer', echo)).status, 200);
  });

  const badBodies: { name: string; path: string; body: unknown; code: string }[] = [
    {
      name: 'index: ready not a boolean',
      path: 'index',
      body: { ready: 'yes' },
      code: 'INVALID_REQUEST',
    },
    {
      name: 'index: unknown field',
      path: 'index',
      body: { repository: 'x' },
      code: 'INVALID_REQUEST',
    },
    { name: 'index: an array', path: 'index', body: [], code: 'INVALID_REQUEST' },
    { name: 'index: malformed JSON', path: 'index', body: '{"ready":', code: 'MALFORMED_JSON' },
    {
      name: 'load: parameters not an object',
      path: 'models/echo/load',
      body: { parameters: 5 },
      code: 'INVALID_REQUEST',
    },
    {
      name: 'load: unknown field',
      path: 'models/echo/load',
      body: { model: 'echo' },
      code: 'INVALID_REQUEST',
    },
    {
      name: 'unload: malformed JSON',
      path: 'models/echo/unload',
      body: '{',
      code: 'MALFORMED_JSON',
    },
    { name: 'unload: a string', path: 'models/echo/unload', body: '"x"', code: 'INVALID_REQUEST' },
  ];
  for (const c of badBodies) {
    void it(`bad body → 400 ${c.code}: ${c.name}`, async () => {
      const res = await gw.post(`/v2/repository/${c.path}`, c.body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(codeOf(res.body), c.code);
    });
  }
  void it('a bad body does not unload anything', async () => {
    assert.equal((await gw.post('/v2/models/echo/infer', echo)).status, 200);
  });

  void it('a reload under concurrent inference swaps with no failed in-flight request', async () => {
    const statuses: number[] = [];
    let duringReload = 0;
    let reloading = true;
    const reload = gw.post('/v2/repository/models/busy/load', {}).finally(() => {
      reloading = false;
    });
    const client = async () => {
      while (statuses.length < 200 || reloading) {
        const res = await gw.post('/v2/models/busy/infer', echo);
        if (reloading) duringReload++;
        statuses.push(res.status);
        if (res.status !== 200) assert.fail(`infer during reload: ${JSON.stringify(res.body)}`);
      }
    };
    const [reloaded] = await Promise.all([reload, ...Array.from({ length: 16 }, client)]);
    assert.equal(reloaded.status, 200, JSON.stringify(reloaded.body));
    assert.ok(statuses.length >= 200);
    assert.ok(duringReload > 0, 'requests overlapped the reload');
    assert.deepEqual(new Set(statuses), new Set([200]));
    // The swapped-in engine serves.
    assert.equal((await gw.post('/v2/models/busy/infer', echo)).status, 200);
  });
});

/** Timers the test fires by hand: `tick()` runs one scan and resolves when it has finished. */
function manualTimers(): PollerTimers & { tick(): Promise<void>; readonly armed: boolean } {
  let pending: (() => void) | undefined;
  let scheduled: (() => void) | undefined;
  return {
    setTimeout(fn) {
      pending = fn;
      scheduled?.();
      return 1;
    },
    clearTimeout() {
      pending = undefined;
    },
    get armed() {
      return pending !== undefined;
    },
    async tick() {
      const fn = pending;
      assert.ok(fn, 'a scan is scheduled');
      pending = undefined;
      const next = new Promise<void>((resolve) => {
        scheduled = resolve;
      });
      fn();
      await next;
    },
  };
}

void describe('repository poller', () => {
  void it('loads new model and version folders, verified; never reloads unchanged ones', async (t) => {
    const repo = await tempDir(t, 'bastion-poll-');
    await addVersion(repo, 'echo', 1);
    const gw = await startGateway(t, repo, await signedConfig(t, repo));
    const registry = gw.gateway.registry;
    const timers = manualTimers();
    const poller = createRepositoryPoller({ registry, intervalMs: 60_000, timers });
    t.after(() => poller.stop());
    poller.start();
    const loadedAt = () =>
      registry
        .list()
        .map((s) => (s.state === 'ready' ? `${s.model}/${s.version}@${s.loadedAt.getTime()}` : ''))
        .join(',');
    const readyLogs = () => gw.log.filter((l) => l.msg === 'model version ready').length;
    const refusedLogs = () => gw.log.filter((l) => l.msg === 'model version refused').length;

    // Nothing new: nothing is loaded again.
    const before = loadedAt();
    const readyBefore = readyLogs();
    await timers.tick();
    assert.equal(loadedAt(), before);
    assert.equal(readyLogs(), readyBefore);

    // A new version folder and a new model folder are picked up; echo/1 is left alone.
    await addVersion(repo, 'echo', 2);
    await addVersion(repo, 'fresh', 1);
    await timers.tick();
    assert.equal(readyLogs(), readyBefore + 2);
    assert.ok(loadedAt().includes(before), 'echo/1 was not reloaded');
    const v2 = await gw.post('/v2/models/echo/infer', echo);
    assert.equal((v2.body as { model_version: string }).model_version, '2');
    assert.equal((await gw.post('/v2/models/fresh/infer', echo)).status, 200);

    // A version still being copied (no signature yet) fails, is not retried while unchanged,
    // and is loaded once its signature lands.
    const dir = await addVersion(repo, 'echo', 3, false);
    const refusedBefore = refusedLogs();
    await timers.tick();
    assert.equal(refusedLogs(), refusedBefore + 1);
    assert.equal(
      registry.list().find((s) => s.model === 'echo' && s.version === 3)?.state,
      'failed',
    );
    await timers.tick();
    await timers.tick();
    assert.equal(
      refusedLogs(),
      refusedBefore + 1,
      'an unchanged failed version is not re-verified',
    );
    await signModelDirectory({ root: dir, privateKeyPem: publisher.privatePem });
    await timers.tick();
    assert.equal(
      registry.list().find((s) => s.model === 'echo' && s.version === 3)?.state,
      'ready',
    );

    // A tampered new version is refused by the same verification as any load.
    const bad = await addVersion(repo, 'fresh', 2);
    await writeFile(join(bad, 'model.onnx'), Buffer.from('not the signed bytes'));
    await timers.tick();
    const row = registry.index().find((r) => r.name === 'fresh' && r.version === '2');
    assert.equal(row?.state, 'UNAVAILABLE');
    assert.match(row.reason, /digest-mismatch/);
    assert.equal((await gw.post('/v2/models/fresh/infer', echo)).status, 200);

    // A model the operator unloaded stays unloaded, even when a version is added.
    assert.equal((await gw.post('/v2/repository/models/fresh/unload', {})).status, 200);
    await addVersion(repo, 'fresh', 3);
    const readyBeforeUnloaded = readyLogs();
    await timers.tick();
    assert.equal(readyLogs(), readyBeforeUnloaded);
    assert.equal((await gw.post('/v2/models/fresh/infer', echo)).status, 503);

    await poller.stop();
    assert.equal(timers.armed, false, 'stop cancels the next scan');
  });

  void it('a repository that cannot be read is logged, and polling goes on', async (t) => {
    const repo = await tempDir(t, 'bastion-poll-');
    await addVersion(repo, 'echo', 1);
    const gw = await startGateway(t, repo, await signedConfig(t, repo));
    const logged: string[] = [];
    const timers = manualTimers();
    const poller = createRepositoryPoller({
      registry: { ...gw.gateway.registry, repository: join(repo, 'missing') },
      intervalMs: 1000,
      timers,
      log: (_level, msg) => logged.push(msg),
    });
    poller.start();
    await timers.tick();
    assert.deepEqual(logged, ['model repository scan failed']);
    assert.ok(timers.armed, 'the next scan is scheduled');
    await poller.stop();
  });

  void it('models.pollIntervalSec wires a poller into the gateway', async (t) => {
    const repo = await tempDir(t, 'bastion-poll-');
    await addVersion(repo, 'echo', 1);
    const gw = await startGateway(t, repo, await signedConfig(t, repo, '  pollIntervalSec: 1\n'));
    await addVersion(repo, 'late', 1);
    const deadline = Date.now() + 5000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (
        await postJson(`${gw.url}/v2/models/late/infer`, echo, {
          authorization: `Bearer ${await gw.token()}`,
        })
      ).status;
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(status, 200, 'the poller loaded the new model within 5 s');
  });
});
