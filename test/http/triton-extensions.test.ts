import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IRIS_CLASSES } from '../../scripts/demo-models/iris-model.js';
import { signModelDirectory } from '../../src/models/oms/sign-model.js';
import {
  createCleanup,
  demoPublisherKey,
  startGateway,
  tempDir,
  type TestGateway,
} from '../helpers/gateway.js';
import { createTestKeys } from '../models/oms/oms-test-fixtures.js';
import { demoModels, readAudit } from '../helpers/observe.js';

interface Duration {
  count: number;
  ns: number;
}
interface ModelStat {
  name: string;
  version: string;
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<
    'success' | 'fail' | 'queue' | 'compute_input' | 'compute_infer' | 'compute_output',
    Duration
  >;
  batch_stats: { batch_size: number; compute_infer: Duration }[];
}
interface InferBody {
  outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[];
}

const samples = [
  [5.1, 3.5, 1.4, 0.2],
  [6.4, 3.2, 4.5, 1.5],
  [6.3, 3.3, 6.0, 2.5],
];

function irisRequest(rows: number[][], outputs?: unknown[]) {
  return {
    inputs: [{ name: 'features', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }],
    ...(outputs === undefined ? {} : { outputs }),
  };
}

/**
 * A repository with the demo models (signed by the demo key; iris carries labels.txt), a
 * test-signed copy of iris with labels.txt, and a batching copy of iris without one.
 */
async function buildRepo(root: string): Promise<{ repo: string; keyFile: string }> {
  const repo = join(root, 'models');
  for (const name of await readdir(demoModels, { withFileTypes: true })) {
    if (!name.isDirectory()) continue;
    const from = join(demoModels, name.name, '1');
    const to = join(repo, name.name, '1');
    await mkdir(to, { recursive: true });
    for (const file of await readdir(from)) await copyFile(join(from, file), join(to, file));
  }
  const keys = createTestKeys();
  const keyFile = join(root, 'labels-publisher.pub.pem');
  await writeFile(keyFile, keys.publicPem);
  const labeled = join(repo, 'iris-labeled', '1');
  await mkdir(labeled, { recursive: true });
  await copyFile(join(demoModels, 'iris', '1', 'model.onnx'), join(labeled, 'model.onnx'));
  await writeFile(join(labeled, 'labels.txt'), `${IRIS_CLASSES.join('\n')}\n`);
  await writeFile(join(repo, 'iris-labeled', 'config.yaml'), 'poolSize: 0\n');
  await signModelDirectory({ root: labeled, privateKeyPem: keys.privatePem });
  const batched = join(repo, 'iris-batched', '1');
  await mkdir(batched, { recursive: true });
  await copyFile(join(demoModels, 'iris', '1', 'model.onnx'), join(batched, 'model.onnx'));
  await signModelDirectory({ root: batched, privateKeyPem: keys.privatePem });
  await writeFile(
    join(repo, 'iris-batched', 'config.yaml'),
    'poolSize: 1\nmaxBatchSize: 8\nmaxQueueDelayMs: 50\npreferredBatchSizes: [4]\n',
  );
  return { repo, keyFile };
}

void describe('Triton extensions: statistics, model configuration, classification', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let auditPath: string;
  before(async () => {
    const root = await tempDir(cleanup);
    const { repo, keyFile } = await buildRepo(root);
    auditPath = join(root, 'audit.log');
    gw = await startGateway(
      cleanup,
      repo,
      `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(demoPublisherKey)}, ${JSON.stringify(keyFile)}]\naudit:\n  path: ${JSON.stringify(auditPath)}\n  fsync: always\n`,
    );
  });
  after(() => cleanup.run());

  const stat = async (path: string): Promise<ModelStat> => {
    const res = await gw.get(path);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const stats = (res.body as { model_stats: ModelStat[] }).model_stats;
    assert.equal(stats.length, 1);
    return stats[0] as ModelStat;
  };

  void it('GET /v2 advertises every extension it serves', async () => {
    const res = await gw.get('/v2');
    const extensions = (res.body as { extensions: string[] }).extensions;
    for (const name of ['statistics', 'model_configuration', 'classification']) {
      assert.ok(extensions.includes(name), name);
    }
  });

  void it('statistics count real inferences: successes, rows, executions, failures', async () => {
    const before = await stat('/v2/models/iris/versions/1/stats');
    assert.equal(before.name, 'iris');
    assert.equal(before.version, '1');
    const started = Date.now();
    for (let i = 1; i <= 3; i++) {
      const res = await gw.post('/v2/models/iris/infer', irisRequest(samples.slice(0, i)));
      assert.equal(res.status, 200);
    }
    const bad = await gw.post('/v2/models/iris/infer', irisRequest([[1, 2, 3]]));
    assert.equal(bad.status, 400);
    const now = await stat('/v2/models/iris/stats');
    const delta = (k: keyof ModelStat['inference_stats']) =>
      now.inference_stats[k].count - before.inference_stats[k].count;
    assert.equal(delta('success'), 3);
    assert.equal(delta('fail'), 1);
    assert.equal(now.inference_count - before.inference_count, 1 + 2 + 3);
    assert.equal(now.execution_count - before.execution_count, 3);
    assert.equal(delta('compute_infer'), 3);
    assert.equal(delta('compute_output'), 3);
    // The failed request was validated too (and refused there).
    assert.equal(delta('compute_input'), 4);
    assert.ok(now.inference_stats.success.ns > before.inference_stats.success.ns);
    assert.ok(now.inference_stats.compute_infer.ns > before.inference_stats.compute_infer.ns);
    assert.ok(now.last_inference >= started && now.last_inference <= Date.now());
    assert.deepEqual(now.batch_stats, []);
  });

  void it('dynamic batching: execution_count and batch_stats add up to the rows sent', async () => {
    const before = await stat('/v2/models/iris-batched/stats');
    const answers = await Promise.all(
      [0, 1, 2, 0].map((i) =>
        gw.post('/v2/models/iris-batched/infer', irisRequest([samples[i] as number[]])),
      ),
    );
    for (const res of answers) assert.equal(res.status, 200);
    const now = await stat('/v2/models/iris-batched/stats');
    assert.equal(now.inference_count - before.inference_count, 4);
    assert.equal(now.inference_stats.success.count - before.inference_stats.success.count, 4);
    const executions = now.execution_count - before.execution_count;
    assert.ok(executions >= 1 && executions <= 4, String(executions));
    assert.equal(now.inference_stats.queue.count - before.inference_stats.queue.count, 4);
    const rows = now.batch_stats.reduce((sum, b) => sum + b.batch_size * b.compute_infer.count, 0);
    const rowsBefore = before.batch_stats.reduce(
      (sum, b) => sum + b.batch_size * b.compute_infer.count,
      0,
    );
    assert.equal(rows - rowsBefore, 4);
    assert.equal(
      now.batch_stats.reduce((sum, b) => sum + b.compute_infer.count, 0) -
        before.batch_stats.reduce((sum, b) => sum + b.compute_infer.count, 0),
      executions,
    );
  });

  void it('/v2/models/stats lists only the models the caller may call; others are 403', async () => {
    const irisOnly = `Bearer ${await gw.token(['infer:iris'])}`;
    const res = await gw.get('/v2/models/stats', { authorization: irisOnly });
    assert.equal(res.status, 200);
    const names = (res.body as { model_stats: ModelStat[] }).model_stats.map((s) => s.name);
    assert.deepEqual(names, ['iris']);
    const all = await gw.get('/v2/models/stats');
    const allNames = (all.body as { model_stats: ModelStat[] }).model_stats.map((s) => s.name);
    assert.deepEqual(allNames, ['iris', 'iris-batched', 'iris-labeled', 'mlp', 'tensor-types']);
    const none = `Bearer ${await gw.token([])}`;
    const empty = await gw.get('/v2/models/stats', { authorization: none });
    assert.deepEqual(empty.body, { model_stats: [] });
    for (const path of ['/v2/models/mlp/stats', '/v2/models/mlp/config', '/v2/models/nope/stats']) {
      const refused = await gw.get(path, { authorization: irisOnly });
      assert.equal(refused.status, 403, path);
    }
    assert.equal((await gw.get('/v2/models/stats', { authorization: '' })).status, 401);
    assert.equal((await gw.get('/v2/models/iris/versions/7/stats')).status, 404);
    assert.equal((await gw.get('/v2/models/nope/config')).status, 404);
    assert.equal((await gw.get('/v2/models/iris/versions/x/stats')).status, 400);
    const post = await gw.post('/v2/models/iris/stats', {});
    assert.equal(post.status, 405);
  });

  void it('model configuration for every demo model, batching settings in force', async () => {
    for (const name of ['iris', 'mlp', 'tensor-types']) {
      const res = await gw.get(`/v2/models/${name}/config`);
      assert.equal(res.status, 200, name);
      const meta = (await gw.get(`/v2/models/${name}`)).body as {
        inputs: { name: string; datatype: string; shape: number[] }[];
      };
      const config = res.body as {
        name: string;
        platform: string;
        max_batch_size: number;
        input: { name: string; data_type: string; dims: number[] }[];
        dynamic_batching?: unknown;
      };
      assert.equal(config.name, name);
      assert.equal(config.platform, 'onnxruntime_onnx');
      assert.equal(config.max_batch_size, 0);
      assert.equal(config.dynamic_batching, undefined);
      assert.deepEqual(
        config.input.map((t) => [t.name, t.data_type, t.dims]),
        meta.inputs.map((t) => [
          t.name,
          t.datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${t.datatype}`,
          t.shape,
        ]),
      );
    }
    const batched = (await gw.get('/v2/models/iris-batched/versions/1/config')).body as {
      max_batch_size: number;
      input: { dims: number[] }[];
      output: { name: string; dims: number[] }[];
      dynamic_batching: { max_queue_delay_microseconds: number; preferred_batch_size: number[] };
      instance_group: { count: number }[];
    };
    assert.equal(batched.max_batch_size, 8);
    assert.deepEqual(batched.input[0]?.dims, [4]);
    assert.deepEqual(
      batched.output.map((o) => [o.name, o.dims]),
      [
        ['label', []],
        ['probabilities', [3]],
      ],
    );
    assert.equal(batched.dynamic_batching.max_queue_delay_microseconds, 50_000);
    assert.deepEqual(batched.dynamic_batching.preferred_batch_size, [4]);
    assert.equal(batched.instance_group[0]?.count, 1);
  });

  void it('classification on iris: the argmax first, k strings per row, labels from labels.txt', async () => {
    const plain = await gw.post('/v2/models/iris/infer', irisRequest(samples));
    const probabilities = (plain.body as InferBody).outputs.find((o) => o.name === 'probabilities');
    const labels = (plain.body as InferBody).outputs.find((o) => o.name === 'label');
    const res = await gw.post(
      '/v2/models/iris-labeled/infer',
      irisRequest(samples, [
        { name: 'probabilities', parameters: { classification: 2 } },
        { name: 'label' },
      ]),
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [top, label] = (res.body as InferBody).outputs;
    assert.ok(top !== undefined && label !== undefined);
    assert.equal(top.datatype, 'BYTES');
    assert.deepEqual(top.shape, [3, 2]);
    const rows = probabilities?.data as number[];
    (top.data as string[]).forEach((text, i) => {
      const [score, index, name] = text.split(':');
      const row = Math.floor(i / 2);
      const rowScores = rows.slice(row * 3, row * 3 + 3);
      const sorted = [...rowScores].sort((a, b) => b - a);
      // The shortest decimal that reads back as the same float32 score.
      assert.equal(Math.fround(Number(score)), sorted[i % 2]);
      assert.equal(rowScores[Number(index)], Math.fround(Number(score)));
      assert.equal(name, IRIS_CLASSES[Number(index)]);
      if (i % 2 === 0) assert.equal(Number(index), (labels?.data as number[])[row]);
    });
    assert.deepEqual(label.data, labels?.data);
    // Without labels.txt (the batching copy has none): "<score>:<index>" only; k = 3.
    const bare = await gw.post(
      '/v2/models/iris-batched/infer',
      irisRequest(
        [samples[2] as number[]],
        [{ name: 'probabilities', parameters: { classification: 3 } }],
      ),
    );
    const strings = (bare.body as InferBody).outputs[0]?.data as string[];
    assert.equal(strings.length, 3);
    assert.match(strings[0] ?? '', /^[0-9.e-]+:2$/);
  });

  void it('classification with binary_data answers BYTES in binary form', async () => {
    const res = await fetch(`${gw.url}/v2/models/iris-labeled/infer`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await gw.token(['infer:iris-labeled'])}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(
        irisRequest(
          [samples[0] as number[]],
          [{ name: 'probabilities', parameters: { classification: 1, binary_data: true } }],
        ),
      ),
    });
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const headerLength = Number(res.headers.get('inference-header-content-length'));
    const header = JSON.parse(bytes.subarray(0, headerLength).toString('utf8')) as {
      outputs: { datatype: string; shape: number[] }[];
    };
    assert.deepEqual(header.outputs[0]?.shape, [1, 1]);
    const tail = bytes.subarray(headerLength);
    const length = tail.readUInt32LE(0);
    assert.match(tail.subarray(4, 4 + length).toString('utf8'), /^[0-9.e-]+:0:setosa$/);
  });

  void it('a bad classification count is a 400 naming the output, and changes no statistic', async () => {
    const before = await stat('/v2/models/iris/stats');
    for (const k of [0, 4, -1, 1.5, 'two', true]) {
      const res = await gw.post(
        '/v2/models/iris/infer',
        irisRequest(
          [samples[0] as number[]],
          [{ name: 'probabilities', parameters: { classification: k } }],
        ),
      );
      assert.equal(res.status, 400, String(k));
      const body = res.body as { error: string; code: string };
      assert.equal(body.code, 'INVALID_REQUEST');
      assert.match(body.error, /output "probabilities": parameters\.classification/);
    }
    const now = await stat('/v2/models/iris/stats');
    assert.equal(now.inference_stats.success.count, before.inference_stats.success.count);
    assert.equal(now.execution_count, before.execution_count);
  });

  void it('every extension request is audited like the other model routes, denials included', async () => {
    const irisOnly = `Bearer ${await gw.token(['infer:iris'], 'auditee')}`;
    await gw.get('/v2/models/iris/stats', { authorization: irisOnly });
    await gw.get('/v2/models/mlp/config', { authorization: irisOnly });
    await gw.get('/v2/models/stats', { authorization: irisOnly });
    await gw.get('/v2/models/iris/versions/1/config', { authorization: irisOnly });
    await gw.gateway.audit?.flush();
    const records = (await readAudit(auditPath)).filter((r) => r.sub === 'auditee');
    assert.deepEqual(
      records.map((r) => [r.path, r.model ?? null, r.status, r.outcome]),
      [
        ['/v2/models/iris/stats', 'iris', 200, 'allowed'],
        ['/v2/models/mlp/config', 'mlp', 403, 'denied'],
        ['/v2/models/stats', null, 200, 'allowed'],
        ['/v2/models/iris/versions/1/config', 'iris', 200, 'allowed'],
      ],
    );
  });
});
