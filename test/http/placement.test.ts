/**
 * `poolSize: auto` seen from outside: the repository index says where each ready version runs
 * and `bastion_model_placement` exports the same decision.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildComputeMlp, buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { startGateway, tempDir, writeModel } from '../helpers/gateway.js';
import { metricsPortOf, parseScrape, samplesOf } from '../helpers/observe.js';

test('the repository index and a metric show each version placement', async (t) => {
  const repo = await tempDir(t, 'bastion-repo-');
  await writeModel(repo, 'tiny', 1, buildIdentityModel('float32', ['batch', 2]));
  await writeModel(
    repo,
    'heavy',
    1,
    buildComputeMlp({ inputs: 1024, hidden: 4096, outputs: 1024, seed: 9 }),
  );
  const gw = await startGateway(t, repo, 'metrics:\n  port: 0\n');
  const res = await gw.post('/v2/repository/index', {});
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const rows = res.body as { name: string; state: string; placement?: string }[];
  const placementOf = (name: string): string | undefined =>
    rows.find((r) => r.name === name)?.placement;
  assert.equal(placementOf('tiny'), 'inline');
  assert.equal(placementOf('heavy'), 'pool');
  const infer = await gw.post('/v2/models/tiny/infer', {
    inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }],
  });
  assert.equal(infer.status, 200);

  const url = `http://127.0.0.1:${metricsPortOf(gw)}/metrics`;
  let samples = parseScrape(await (await fetch(url)).text());
  // Sampled with the queue depth, once a second.
  for (let i = 0; i < 30 && samplesOf(samples, 'bastion_model_placement').length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    samples = parseScrape(await (await fetch(url)).text());
  }
  const placed = samplesOf(samples, 'bastion_model_placement').map((s) => [
    s.labels['model'],
    s.labels['version'],
    s.labels['placement'],
    s.value,
  ]);
  assert.deepEqual(placed.sort(), [
    ['heavy', '1', 'pool', 1],
    ['tiny', '1', 'inline', 1],
  ]);
});
