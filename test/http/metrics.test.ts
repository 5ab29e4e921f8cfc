import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { droppedDefaultMetrics } from '../../src/metrics/metrics.js';
import {
  createCleanup,
  postJson,
  startGateway,
  tempDir,
  type TestGateway,
} from '../helpers/gateway.js';
import {
  copyDemoModels,
  metricsPortOf,
  parseScrape,
  samplesOf,
  sumOf,
  type Sample,
} from '../helpers/observe.js';
import { freeLoopbackPort, missingBinary } from '../helpers/system-tools.js';

const irisInput = {
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
};
const mlpInput = {
  inputs: [
    {
      name: 'input',
      shape: [1, 64],
      datatype: 'FP32',
      data: Array.from({ length: 64 }, (_v, i) => i / 64),
    },
  ],
};

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

void describe('metrics listener of a real gateway', () => {
  const cleanup = createCleanup();
  const metricsToken = randomBytes(24).toString('hex');
  // A valid model name that is not in the repository: it must never become a label value.
  const unknownModel = `zq${randomBytes(8).toString('hex')}`;
  let gw: TestGateway;
  let dir: string;
  let metricsUrl: string;

  const scrape = async (authorization = `Bearer ${metricsToken}`): Promise<Response> =>
    fetch(metricsUrl, { headers: { authorization } });
  const scrapeText = async (): Promise<string> => {
    const res = await scrape();
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  before(async () => {
    dir = await tempDir(cleanup);
    const repo = await copyDemoModels(join(dir, 'models'), ['iris', 'mlp']);
    await writeFile(join(repo, 'mlp', 'config.yaml'), 'maxBatchSize: 8\nmaxQueueDelayMs: 5\n');
    const tokenFile = join(dir, 'metrics.token');
    await writeFile(tokenFile, `${metricsToken}\n`);
    gw = await startGateway(
      cleanup,
      repo,
      `metrics:\n  port: 0\n  bearerTokenFile: ${JSON.stringify(tokenFile)}\n`,
    );
    metricsUrl = `http://127.0.0.1:${metricsPortOf(gw)}/metrics`;

    for (let i = 0; i < 3; i++) {
      assert.equal((await gw.post('/v2/models/iris/infer', irisInput)).status, 200);
    }
    const burst = await Promise.all(
      Array.from({ length: 16 }, () => gw.post('/v2/models/mlp/infer', mlpInput)),
    );
    assert.deepEqual(
      burst.map((r) => r.status),
      burst.map(() => 200),
    );
    // Auth failures: no token, and a token that does not verify.
    assert.equal((await postJson(`${gw.url}/v2/models/iris/infer`, irisInput)).status, 401);
    const forged = await postJson(`${gw.url}/v2/models/iris/infer`, irisInput, {
      authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl',
    });
    assert.equal(forged.status, 401);
    // An unknown model, by infer and by metadata.
    assert.equal((await gw.post(`/v2/models/${unknownModel}/infer`, irisInput)).status, 404);
    assert.equal((await gw.get(`/v2/models/${unknownModel}/versions/7`)).status, 404);
  });
  after(() => cleanup.run());

  void it('exports the contract metrics with bounded labels', async () => {
    // bastion_queue_depth is sampled every second: wait for the first sample.
    let samples: Sample[] = [];
    let text = '';
    for (let i = 0; i < 30; i++) {
      text = await scrapeText();
      samples = parseScrape(text);
      if (samplesOf(samples, 'bastion_queue_depth', { model: 'mlp' }).length > 0) break;
      await sleep(100);
    }

    assert.equal(
      sumOf(samples, 'bastion_requests_total', { model: 'iris', version: '1', status: '200' }),
      3,
    );
    assert.equal(
      sumOf(samples, 'bastion_requests_total', { model: 'mlp', version: '1', status: '200' }),
      16,
    );
    assert.equal(
      sumOf(samples, 'bastion_request_duration_seconds_count', {
        model: 'iris',
        version: '1',
        status: '200',
      }),
      3,
    );
    assert.ok(
      samplesOf(samples, 'bastion_request_duration_seconds_bucket', { model: 'iris', le: '+Inf' })
        .length > 0,
    );
    assert.ok(
      sumOf(samples, 'bastion_inference_duration_seconds_count', { model: 'iris', version: '1' }) >=
        3,
    );
    assert.ok(
      sumOf(samples, 'bastion_inference_duration_seconds_count', { model: 'mlp', version: '1' }) >=
        1,
    );
    // mlp batches (maxBatchSize 8): 16 requests went out in batches of 1 to 8 rows.
    const batches = sumOf(samples, 'bastion_batch_size_count', { model: 'mlp' });
    const rows = sumOf(samples, 'bastion_batch_size_sum', { model: 'mlp' });
    assert.ok(batches >= 2 && batches <= 16, `mlp batches: ${batches}`);
    assert.equal(rows, 16);
    assert.ok(samplesOf(samples, 'bastion_batch_size_bucket', { model: 'mlp', le: '8' }).length);
    assert.deepEqual(
      samplesOf(samples, 'bastion_queue_depth', { model: 'mlp' }).map((s) => s.value),
      [0],
      'bastion_queue_depth{model="mlp"} sampled (idle now)',
    );
    assert.ok(sumOf(samples, 'bastion_auth_failures_total') >= 2);
    for (const s of samplesOf(samples, 'bastion_auth_failures_total')) {
      assert.match(s.labels.reason ?? '', /^[a-z_]{1,64}$/, 'a bounded reason label');
    }
    for (const model of ['iris', 'mlp']) {
      assert.equal(
        sumOf(samples, 'bastion_model_loads_total', { model, version: '1', result: 'loaded' }),
        1,
      );
    }
    // Default process and Node.js metrics.
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(samplesOf(samples, name).length > 0, `${name} exported`);
    }
    for (const name of droppedDefaultMetrics) {
      assert.ok(!text.includes(name), `${name} (a gauge named like a counter) is not exported`);
    }
    // Unknown model names never become label values.
    assert.ok(!text.includes(unknownModel), 'the unknown model name is not in the scrape');
    assert.equal(sumOf(samples, 'bastion_requests_total', { model: '_unknown', status: '404' }), 2);
    for (const s of samples.filter((x) => x.name.startsWith('bastion_'))) {
      if (s.labels.model !== undefined) {
        assert.ok(['iris', 'mlp', '_unknown'].includes(s.labels.model), `label ${s.labels.model}`);
      }
    }
  });

  void it('needs the bearer token: 401 without or with a wrong one, 200 with it', async () => {
    const none = await fetch(metricsUrl);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="metrics"');
    assert.ok(!(await none.text()).includes('bastion_'));
    assert.equal((await scrape(`Bearer ${metricsToken}x`)).status, 401);
    assert.equal((await scrape(`Basic ${metricsToken}`)).status, 401);
    const ok = await scrape();
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^bastion_requests_total\{/m);
  });

  void it('passes promtool check metrics (regression: nodejs_active_*_total gauges are dropped)', async (t) => {
    const missing = missingBinary('promtool', 'prometheus');
    if (missing !== undefined) {
      t.skip(missing);
      return;
    }
    const check = spawnSync('promtool', ['check', 'metrics'], {
      input: await scrapeText(),
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    assert.equal(`${check.stdout}${check.stderr}`.trim(), '');
  });

  void it('is scraped by a real Prometheus server: up == 1 and bastion_ series stored', async (t) => {
    const missing = missingBinary('prometheus', 'prometheus');
    if (missing !== undefined) {
      t.skip(missing);
      return;
    }
    const webPort = await freeLoopbackPort();
    const config = join(dir, 'prometheus.yml');
    await writeFile(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        'scrape_configs:',
        '  - job_name: bastion',
        '    scrape_interval: 1s',
        '    authorization:',
        '      type: Bearer',
        `      credentials_file: ${JSON.stringify(join(dir, 'metrics.token'))}`,
        '    static_configs:',
        `      - targets: ['127.0.0.1:${metricsPortOf(gw)}']`,
        '',
      ].join('\n'),
    );
    const server = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${webPort}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    server.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => {
      server.once('exit', () => {
        resolve();
      });
    });
    t.after(async () => {
      server.kill('SIGTERM');
      await exited;
    });

    const query = async (
      q: string,
    ): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
      const res = await fetch(
        `http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(q)}`,
      );
      const body = (await res.json()) as {
        status: string;
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      assert.equal(body.status, 'success');
      return body.data.result;
    };
    const deadline = Date.now() + 20_000;
    let up: string | undefined;
    while (Date.now() < deadline && up !== '1') {
      await sleep(250);
      if (server.exitCode !== null) assert.fail(`prometheus exited: ${stderr}`);
      up = await query('up{job="bastion"}').then(
        (r) => r[0]?.value[1],
        () => undefined,
      );
    }
    assert.equal(up, '1', `up{job="bastion"} == 1; prometheus said: ${stderr}`);
    const requests = await query(
      'bastion_requests_total{job="bastion",model="iris",version="1",status="200"}',
    );
    assert.equal(requests[0]?.value[1], '3');
    const unknown = await query(`{job="bastion",model="${unknownModel}"}`);
    assert.deepEqual(unknown, []);
  });
});
