/**
 * The readiness rule over a real listener: refused models settle (they do not hold readiness
 * down) but at least one version must be ready; model ready answers `{"name", "ready"}`.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { getJson, startGateway, tempDir } from '../helpers/gateway.js';
import { copyDemoModels } from '../helpers/observe.js';

async function brokenModel(repo: string): Promise<void> {
  await mkdir(join(repo, 'broken/1'), { recursive: true });
  await writeFile(join(repo, 'broken/1/model.onnx'), 'not an onnx model');
}

void it('one refused model beside a ready one: ready 200; its own ready route 503 with a body', async (t) => {
  const dir = await tempDir(t);
  const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
  await brokenModel(repo);
  const gw = await startGateway(t, repo);
  assert.deepEqual(await getJson(`${gw.url}/v2/health/ready`).then((r) => [r.status, r.body]), [
    200,
    { ready: true },
  ]);
  const broken = await gw.get('/v2/models/broken/ready');
  assert.equal(broken.status, 503);
  assert.equal(broken.headers.get('retry-after'), '5');
  assert.deepEqual(
    { ...(broken.body as object), error: undefined },
    { name: 'broken', ready: false, code: 'MODEL_NOT_READY', error: undefined },
  );
  const iris = await gw.get('/v2/models/iris/versions/1/ready');
  assert.deepEqual([iris.status, iris.body], [200, { name: 'iris', ready: true }]);
  const missing = await gw.get('/v2/models/nope/ready');
  assert.deepEqual(
    [missing.status, (missing.body as { code: string }).code],
    [404, 'MODEL_NOT_FOUND'],
  );
});

void it('only refused models: every model settled but none ready, so ready is 503', async (t) => {
  const dir = await tempDir(t);
  const repo = join(dir, 'models');
  await brokenModel(repo);
  const gw = await startGateway(t, repo);
  const ready = await getJson(`${gw.url}/v2/health/ready`);
  assert.deepEqual([ready.status, ready.body], [503, { ready: false }]);
  const live = await getJson(`${gw.url}/v2/health/live`);
  assert.deepEqual([live.status, live.body], [200, { live: true }]);
  // The operator unloads the failing model and loads nothing else: still not ready.
  assert.equal((await gw.post('/v2/repository/models/broken/unload', {})).status, 200);
  assert.equal((await getJson(`${gw.url}/v2/health/ready`)).status, 503);
});
