/**
 * Model-level defenses end to end: real gateways over loopback, real ONNX Runtime, model folders
 * signed with their policy.yaml, real audit files and metrics, a real redis-server for shared
 * quotas.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.js';
import { createLogger } from '../../src/logger.js';
import { signModelDirectory } from '../../src/models/oms/sign-model.js';
import { loadIrisDataset } from '../../scripts/demo-models/iris-model.js';
import { createGateway } from '../../src/server.js';
import {
  createCleanup,
  memoryLog,
  postJson,
  startGateway,
  tempDir,
  type TestGateway,
} from '../helpers/gateway.js';
import { demoModels, readAudit } from '../helpers/observe.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { missingBinary } from '../helpers/system-tools.js';
import { createTestKeys } from '../models/oms/oms-test-fixtures.js';

const keys = createTestKeys();

/** A copy of the demo iris model signed with `policy` (YAML) by the test key. */
async function signedIris(
  repo: string,
  policy: string | undefined,
  name = 'iris',
): Promise<string> {
  const dir = join(repo, name, '1');
  await cp(join(demoModels, 'iris', '1', 'model.onnx'), join(dir, 'model.onnx'));
  if (policy !== undefined) await writeFile(join(dir, 'policy.yaml'), policy);
  await signModelDirectory({ root: dir, privateKeyPem: keys.privatePem });
  return dir;
}

async function trustYaml(dir: string, repo: string): Promise<string> {
  const pub = join(dir, 'test.pub.pem');
  await writeFile(pub, keys.publicPem);
  return `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(pub)}]\n`;
}

const features = (rows: number[][]) => ({
  inputs: [{ name: 'features', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }],
});

void describe('the iris demo policy (signed with the demo model)', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let auditPath: string;
  after(() => cleanup.run());
  before(async () => {
    const dir = await tempDir(cleanup);
    auditPath = join(dir, 'audit.log');
    gw = await startGateway(
      cleanup,
      demoModels,
      `audit:\n  path: ${JSON.stringify(auditPath)}\nmetrics:\n  port: 0\n`,
    );
  });

  void it('accepts values exactly at 0 and 30 cm and refuses just outside, naming input, index and bound', async () => {
    const edge = await gw.post('/v2/models/iris/infer', features([[0, 30, 0, 30]]));
    assert.equal(edge.status, 200, JSON.stringify(edge.body));
    for (const [row, says] of [
      [[-0.001, 3, 4, 1], /input "features" element 0 \(feature 0\) is -0\.001.*≥ 0/],
      [[5, 30.01, 4, 1], /element 1 \(feature 1\).*≤ 30/],
      [[5, 3, 1e30, 1], /element 2 \(feature 2\).*≤ 30/],
    ] as const) {
      const res = await gw.post('/v2/models/iris/infer', features([[...row]]));
      assert.equal(res.status, 400);
      const body = res.body as { code: string; error: string };
      assert.equal(body.code, 'VALUE_OUT_OF_POLICY');
      assert.match(body.error, says);
    }
  });

  void it('every real iris row passes unflagged; shifted rows are flagged, audited and counted', async () => {
    const { x } = loadIrisDataset();
    const res = await gw.post('/v2/models/iris/infer', features(x));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('bastion-ood'), null, 'the training data is in distribution');
    // Each feature plausible, the combination not: a long petal that is very thin, a tiny petal
    // that is very wide, a long sepal with a setosa's petals.
    for (const row of [
      [5.0, 3.4, 6.0, 0.3],
      [5.1, 3.5, 1.4, 2.4],
      [7.7, 2.2, 1.2, 0.2],
    ]) {
      const flagged = await gw.post('/v2/models/iris/infer', features([row]), {
        'x-request-id': `shifted-${row.join('-')}`,
      });
      assert.equal(flagged.status, 200, 'the demo policy flags, it does not reject');
      assert.match(
        flagged.headers.get('bastion-ood') ?? '',
        /^flagged;score=\d+\.\d{3};threshold=16\.100$/,
      );
    }
    const records = await readAudit(auditPath);
    const shifted = records.filter((r) => r.requestId?.startsWith('shifted-'));
    assert.equal(shifted.length, 3);
    for (const r of shifted) assert.equal(r.reason, 'ood-flagged');
    const metrics = await fetch(`http://127.0.0.1:${metricsPort(gw)}/metrics`).then((r) =>
      r.text(),
    );
    // The three shifted rows, and the edge row [0, 30, 0, 30] of the first test.
    assert.match(metrics, /bastion_ood_detections_total\{model="iris",action="flag"\} 4/);
    assert.match(
      metrics,
      /bastion_policy_refusals_total\{model="iris",code="VALUE_OUT_OF_POLICY"\} 3/,
    );
  });
});

void describe('the iris demo policy on bodies over 64 KiB (checked where they are parsed)', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  after(() => cleanup.run());
  before(async () => {
    gw = await startGateway(cleanup, demoModels, 'metrics:\n  port: 0\n');
  });
  const { x } = loadIrisDataset();
  const many = (last: number[]) => [...Array.from({ length: 40 }, () => x).flat(), last];
  const binary = (rows: number[][]) => {
    const data = Buffer.from(Float32Array.from(rows.flat()).buffer);
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'features',
            shape: [rows.length, 4],
            datatype: 'FP32',
            parameters: { binary_data_size: data.length },
          },
        ],
        outputs: [{ name: 'label', parameters: { binary_data: true } }],
      }),
    );
    return { body: Buffer.concat([header, data]), headerLength: header.length };
  };
  const send = async (rows: number[][], as: 'json' | 'binary') => {
    if (as === 'json') return gw.post('/v2/models/iris/infer', features(rows));
    const { body, headerLength } = binary(rows);
    assert.ok(body.length > 64 * 1024);
    const res = await fetch(`${gw.url}/v2/models/iris/infer`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await gw.token()}`,
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(headerLength),
      },
      body,
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const json = res.headers.get('content-type')?.startsWith('application/json') === true;
    return {
      status: res.status,
      headers: res.headers,
      body: json ? (JSON.parse(bytes.toString()) as unknown) : {},
    };
  };

  for (const as of ['json', 'binary'] as const) {
    void it(`${as}: the same refusal, OOD score and metrics as a small body`, async () => {
      const last = 40 * x.length;
      const refused = await send(many([5, 30.01, 4, 1]), as);
      assert.equal(refused.status, 400);
      const body = refused.body as { code: string; error: string };
      assert.equal(body.code, 'VALUE_OUT_OF_POLICY');
      assert.match(body.error, new RegExp(`element ${last * 4 + 1} \\(feature 1\\).*≤ 30`));
      const shifted = [5.0, 3.4, 6.0, 0.3];
      const alone = await gw.post('/v2/models/iris/infer', features([shifted]));
      const inMany = await send(many(shifted), as);
      assert.equal(inMany.status, 200);
      assert.match(inMany.headers.get('bastion-ood') ?? '', /^flagged;/);
      assert.equal(inMany.headers.get('bastion-ood'), alone.headers.get('bastion-ood'));
    });
  }

  void it('counts the refusals checked on the parse worker like any other', async () => {
    const metrics = await fetch(`http://127.0.0.1:${metricsPort(gw)}/metrics`).then((r) =>
      r.text(),
    );
    assert.match(
      metrics,
      /bastion_policy_refusals_total\{model="iris",code="VALUE_OUT_OF_POLICY"\} 2/,
    );
    assert.match(metrics, /bastion_ood_detections_total\{model="iris",action="flag"\} 4/);
  });
});

function metricsPort(gw: TestGateway): number {
  const line = gw.log.find((l) => l.msg === 'bastion listening');
  return line?.metricsPort as number;
}

void describe('policies on signed copies', () => {
  const cleanup = createCleanup();
  after(() => cleanup.run());

  void it('hardening changes only what the policy says, and infer:<m>:full lifts it where allowed', async (t) => {
    const dir = await tempDir(t);
    const repo = join(dir, 'models');
    await signedIris(repo, 'output: {topK: 1, round: 2, allowFullScope: true}\n', 'iris-topk');
    await signedIris(repo, 'output: {labelOnly: label}\n', 'iris-label');
    await signedIris(repo, undefined, 'iris-plain');
    const gw = await startGateway(t, repo, await trustYaml(dir, repo));
    const row = features([[6.4, 3.2, 4.5, 1.5]]);
    const plain = await gw.post('/v2/models/iris-plain/infer', row);
    const full = (plain.body as { outputs: { name: string; data: number[] }[] }).outputs;
    const p = full.find((o) => o.name === 'probabilities')?.data ?? [];
    const top = p.indexOf(Math.max(...p));

    const hardened = await gw.post('/v2/models/iris-topk/infer', row, {
      authorization: `Bearer ${await gw.token(['infer:iris-topk'])}`,
    });
    const outputs = (hardened.body as { outputs: { name: string; data: number[] }[] }).outputs;
    assert.deepEqual(
      outputs.find((o) => o.name === 'label')?.data,
      full.find((o) => o.name === 'label')?.data,
    );
    const hp = outputs.find((o) => o.name === 'probabilities')?.data ?? [];
    assert.deepEqual(
      hp,
      p.map((v, i) => (i === top ? Math.round(v * 100) / 100 : 0)),
      'top-1 kept and rounded to 2 decimals, the rest zero',
    );

    const lifted = await gw.post('/v2/models/iris-topk/infer', row, {
      authorization: `Bearer ${await gw.token(['infer:iris-topk', 'infer:iris-topk:full'])}`,
    });
    assert.deepEqual(lifted.body, { ...(plain.body as object), model_name: 'iris-topk' });
    const fullAlone = await gw.post('/v2/models/iris-topk/infer', row, {
      authorization: `Bearer ${await gw.token(['infer:iris-topk:full'])}`,
    });
    assert.equal(fullAlone.status, 403, ':full lifts hardening; it does not grant infer');

    const label = await gw.post('/v2/models/iris-label/infer', row);
    assert.deepEqual(
      (label.body as { outputs: { name: string }[] }).outputs.map((o) => o.name),
      ['label'],
    );
    const askedForScores = await gw.post('/v2/models/iris-label/infer', {
      ...row,
      outputs: [{ name: 'probabilities' }],
    });
    assert.equal(askedForScores.status, 403);
    assert.equal((askedForScores.body as { code: string }).code, 'FORBIDDEN');
    const noLift = await gw.post('/v2/models/iris-label/infer', row, {
      authorization: `Bearer ${await gw.token(['infer:iris-label', 'infer:iris-label:full'])}`,
    });
    assert.deepEqual(
      (noLift.body as { outputs: { name: string }[] }).outputs.map((o) => o.name),
      ['label'],
      'without allowFullScope, :full lifts nothing',
    );
  });

  void it('reject mode answers 422 OUT_OF_DISTRIBUTION; enumerations refuse other values', async (t) => {
    const dir = await tempDir(t);
    const repo = join(dir, 'models');
    const demo = await readFile(join(demoModels, 'iris', '1', 'policy.yaml'), 'utf8');
    await signedIris(repo, demo.replace('action: flag', 'action: reject'), 'iris-strict');
    await signedIris(
      repo,
      'inputs:\n  features:\n    features: [null, null, null, {allowed: [0.2, 1.3, 2.0]}]\n',
      'iris-enum',
    );
    const gw = await startGateway(t, repo, await trustYaml(dir, repo));
    const ok = await gw.post('/v2/models/iris-strict/infer', features([[5.1, 3.5, 1.4, 0.2]]));
    assert.equal(ok.status, 200);
    const ood = await gw.post(
      '/v2/models/iris-strict/infer',
      features([
        [5.1, 3.5, 1.4, 0.2],
        [5.0, 3.4, 6.0, 0.3],
      ]),
    );
    assert.equal(ood.status, 422);
    assert.equal((ood.body as { code: string }).code, 'OUT_OF_DISTRIBUTION');
    assert.equal(
      (await gw.post('/v2/models/iris-enum/infer', features([[5, 3, 1, 1.3]]))).status,
      200,
    );
    const other = await gw.post('/v2/models/iris-enum/infer', features([[5, 3, 1, 1.4]]));
    assert.equal(other.status, 400);
    assert.match(
      (other.body as { error: string }).error,
      /feature 3\) is 1\.4.*one of 0\.2, 1\.3, 2/,
    );
  });

  void it('a tampered policy.yaml fails verification; an invalid one refuses to load', async (t) => {
    const dir = await tempDir(t);
    const repo = join(dir, 'models');
    const tampered = await signedIris(
      repo,
      'inputs:\n  features: {all: {min: 0, max: 30}}\n',
      'iris-tampered',
    );
    await writeFile(
      join(tampered, 'policy.yaml'),
      'inputs:\n  features: {all: {min: -1e9, max: 1e9}}\n',
    );
    await signedIris(
      repo,
      'inputs:\n  features: {all: {min: 0}, maximum: 3}\n',
      'iris-unknown-key',
    );
    await signedIris(repo, 'inputs:\n  petals: {all: {min: 0}}\n', 'iris-wrong-input');
    const gw = await startGateway(t, repo, await trustYaml(dir, repo));
    const index = (await gw.post('/v2/repository/index', {})).body as {
      name: string;
      state: string;
      reason: string;
    }[];
    const reasonOf = (name: string) => index.find((e) => e.name === name);
    assert.equal(reasonOf('iris-tampered')?.state, 'UNAVAILABLE');
    assert.match(reasonOf('iris-tampered')?.reason ?? '', /^digest-mismatch: .*policy\.yaml/);
    assert.match(
      reasonOf('iris-unknown-key')?.reason ?? '',
      /^policy-invalid: .*inputs\.features: unknown key "maximum"/,
    );
    assert.match(
      reasonOf('iris-wrong-input')?.reason ?? '',
      /^policy-invalid: .*no input "petals"/,
    );
    assert.equal(
      (await gw.post('/v2/models/iris-tampered/infer', features([[5, 3, 1, 1]]))).status,
      503,
    );
  });

  void it('extraction watch: a probing subject raises one audit event and a metric', async (t) => {
    const dir = await tempDir(t);
    const repo = join(dir, 'models');
    await signedIris(
      repo,
      'extraction: {output: probabilities, margin: 0.2, nearBoundary: 4, distinctInputs: 30}\n',
    );
    const auditPath = join(dir, 'audit.log');
    const gw = await startGateway(
      t,
      repo,
      `${await trustYaml(dir, repo)}audit:\n  path: ${JSON.stringify(auditPath)}\nmetrics:\n  port: 0\n`,
    );
    const prober = `Bearer ${await gw.token(['infer:iris'], 'prober')}`;
    // Walk along the versicolor/virginica boundary: distinct inputs, many near the boundary.
    for (let i = 0; i < 40; i++) {
      const res = await gw.post(
        '/v2/models/iris/infer',
        features([[6.3, 2.8, 4.75 + i * 0.005, 1.6]]),
        {
          authorization: prober,
        },
      );
      assert.equal(res.status, 200);
    }
    const alerts = (await readAudit(auditPath)).filter((r) => r.event === 'extraction.alert');
    assert.deepEqual(
      alerts.map((a) => a.sub),
      ['prober', 'prober'],
    );
    assert.deepEqual(alerts.map((a) => a.reason?.split(':')[0]).sort(), [
      'distinct-inputs',
      'near-boundary',
    ]);
    const metrics = await fetch(`http://127.0.0.1:${metricsPort(gw)}/metrics`).then((r) =>
      r.text(),
    );
    const lines = metrics
      .split('\n')
      .filter((l) => l.startsWith('bastion_extraction_alerts_total{'));
    assert.equal(lines.length, 2);
    for (const l of lines)
      assert.match(l, /model="iris",kind="[a-z-]+",subject_bucket="[0-9a-f]"\} 1$/);
    assert.ok(!metrics.includes('prober'), 'no subject in a label');
  });

  void it('a quota is enforced per subject with Retry-After and RateLimit-*, and survives a restart', async (t) => {
    const dir = await tempDir(t);
    const repo = join(dir, 'models');
    await signedIris(repo, 'quota: {requests: 3, windowSec: 86400}\n');
    const text = `mode: development
stateDir: ${JSON.stringify(join(dir, 'var'))}
server: {host: 127.0.0.1, port: 0}
auth: {devIssuer: true}
${await trustYaml(dir, repo)}metrics: {enabled: false}
audit: {enabled: false}
`;
    const start = async () => {
      const gateway = await createGateway(parseConfigText(text, join(dir, 'bastion.yaml')), {
        logger: createLogger('info', memoryLog().stream),
      });
      const { port } = await gateway.listen();
      const token = await gateway.auth.devIssuer?.mint({
        sub: 'alice',
        scopes: ['infer:iris'],
        ttlSec: 600,
      });
      const other = await gateway.auth.devIssuer?.mint({
        sub: 'bob',
        scopes: ['infer:iris'],
        ttlSec: 600,
      });
      const call = (bearer: string | undefined) =>
        postJson(`http://127.0.0.1:${port}/v2/models/iris/infer`, features([[5, 3, 1, 0.2]]), {
          authorization: `Bearer ${bearer ?? ''}`,
        });
      return { gateway, alice: () => call(token), bob: () => call(other) };
    };
    const first = await start();
    for (let i = 1; i <= 3; i++) {
      const res = await first.alice();
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('ratelimit-remaining'), String(3 - i));
      assert.equal(res.headers.get('ratelimit-limit'), '3');
    }
    const over = await first.alice();
    assert.equal(over.status, 429);
    assert.equal((over.body as { code: string }).code, 'QUOTA_EXCEEDED');
    assert.equal(over.headers.get('ratelimit-remaining'), '0');
    assert.equal(over.headers.get('ratelimit-policy'), '3;w=86400');
    const retry = Number(over.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 86400, `retry-after ${retry}`);
    assert.equal((await first.bob()).status, 200, 'quotas are per subject');
    await first.gateway.close();
    const stored = await readFile(join(dir, 'var', 'quotas.json'), 'utf8');
    assert.ok(!stored.includes('alice'), 'subjects are stored hashed');

    const second = await start();
    t.after(() => second.gateway.close());
    assert.equal((await second.alice()).status, 429, 'the quota holds across a restart');
    const bob = await second.bob();
    assert.equal(bob.status, 200);
    assert.equal(bob.headers.get('ratelimit-remaining'), '1');
  });

  const noRedis = missingBinary('redis-server');
  void it(
    'with limits.redisUrl the quota is shared through Redis',
    { skip: noRedis },
    async (t) => {
      const redis = await startRedisServer(t);
      const dir = await tempDir(t);
      const repo = join(dir, 'models');
      await signedIris(repo, 'quota: {requests: 2, windowSec: 3600}\n');
      const yaml = `${await trustYaml(dir, repo)}limits:\n  redisUrl: ${JSON.stringify(redis.url)}\n`;
      const a = await startGateway(t, repo, yaml);
      const b = await startGateway(t, repo, yaml);
      // Both gateways must accept the same token: mint on a, trust it on b through the same issuer
      // is not possible with two dev issuers, so each subject uses its own gateway's issuer but
      // the same subject name: the quota key is the subject, not the token.
      const ta = `Bearer ${await a.token(['infer:iris'], 'carol')}`;
      const tb = `Bearer ${await b.token(['infer:iris'], 'carol')}`;
      assert.equal(
        (await a.post('/v2/models/iris/infer', features([[5, 3, 1, 0.2]]), { authorization: ta }))
          .status,
        200,
      );
      assert.equal(
        (await b.post('/v2/models/iris/infer', features([[5, 3, 1, 0.2]]), { authorization: tb }))
          .status,
        200,
      );
      const third = await a.post('/v2/models/iris/infer', features([[5, 3, 1, 0.2]]), {
        authorization: ta,
      });
      assert.equal(third.status, 429);
      assert.equal((third.body as { code: string }).code, 'QUOTA_EXCEEDED');
    },
  );
});
