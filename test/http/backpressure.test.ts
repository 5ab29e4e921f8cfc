/**
 * Backpressure over real HTTP: a real gateway on loopback, real ONNX Runtime, real worker
 * threads. A slow model (one run ≥ 50 ms, calibrated on this machine) exercises the full queue,
 * the deadline, a client that goes away while queued and the event loop's responsiveness; the
 * demo `mlp`, batched and unbatched side by side, exercises batching over HTTP.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildMlp } from '../../scripts/onnx/onnx-builder.js';
import type { HostTensor } from '../../src/inference/engine.js';
import { isObservableEngine, type ObservableEngine } from '../../src/inference/engine-stats.js';
import {
  createCleanup,
  startGateway,
  tempDir,
  writeModel,
  type TestGateway,
} from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';

interface InferBody {
  outputs: { name: string; datatype: string; shape: number[]; data: number[] }[];
  code?: string;
}

/**
 * ~17 MFLOP per row through two 2048 × 2048 layers, but only 16 numbers in and out per row, so the
 * JSON work on the event loop stays small next to the model's run.
 */
const slowWidth = 16;
const slowModel = buildMlp({ layers: [slowWidth, 2048, 2048, 2048, slowWidth], seed: 11 });
/** One run of the slow model takes at least this long here (rows are calibrated to it). */
const slowRunTargetMs = 120;

/** A slow-model request body, serialised once (the client shares the server's event loop). */
function slowBody(rows: number, seed = 0): string {
  return JSON.stringify({
    inputs: [
      {
        name: 'input',
        shape: [rows, slowWidth],
        datatype: 'FP32',
        data: Array.from({ length: rows * slowWidth }, (_, i) => ((i * 7 + seed) % 13) / 13),
      },
    ],
  });
}

function engineOf(gw: TestGateway, model: string): ObservableEngine {
  const lease = gw.gateway.registry.acquire(model);
  try {
    const { engine } = lease.version;
    assert.ok(isObservableEngine(engine), `${model}: engine reports no stats`);
    return engine;
  } finally {
    lease.release();
  }
}

/** Polls `check` every few ms until it holds; fails after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > until) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

void describe('backpressure on a slow model', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let rows = 128;
  let runMs = 0;

  before(async () => {
    const repo = await tempDir(cleanup);
    for (const [name, tuning] of [
      ['slow', 'poolSize: 1\nmaxQueue: 1\n'],
      ['slow-deadline', 'poolSize: 1\ntimeoutMs: 15\n'],
    ] as const) {
      await writeModel(repo, name, 1, slowModel);
      await writeFile(join(repo, name, 'config.yaml'), tuning);
    }
    gw = await startGateway(cleanup, repo);

    // Calibrate: grow the request until one run takes long enough here, however fast the host.
    const engine = engineOf(gw, 'slow');
    const feed = (n: number): Record<string, HostTensor> => ({
      input: { type: 'float32', dims: [n, slowWidth], data: new Float32Array(n * slowWidth) },
    });
    await engine.run(feed(rows), ['output']);
    for (;;) {
      const started = performance.now();
      await engine.run(feed(rows), ['output']);
      runMs = performance.now() - started;
      if (runMs >= slowRunTargetMs || rows >= 4096) break;
      rows = Math.min(4096, rows * Math.max(2, Math.ceil(slowRunTargetMs / Math.max(runMs, 1))));
    }
    assert.ok(runMs >= 50, `the slow model is not slow enough here (${runMs.toFixed(1)} ms)`);
  });
  after(() => cleanup.run());

  void it('answers 503 OVERLOADED with Retry-After once the queue is full', async (t) => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => gw.post('/v2/models/slow/infer', slowBody(rows, i))),
    );
    const statuses = results.map((r) => r.status);
    t.diagnostic(`statuses ${statuses.join(' ')} (run ${runMs.toFixed(0)} ms, ${rows} rows)`);
    assert.ok(
      statuses.every((s) => s === 200 || s === 503),
      statuses.join(' '),
    );
    assert.ok(statuses.includes(200), 'the running and the queued request are served');
    const refused = results.filter((r) => r.status === 503);
    // One runs and one waits (maxQueue: 1); six at once cannot all fit.
    assert.ok(refused.length >= 1, statuses.join(' '));
    for (const r of refused) {
      assert.equal((r.body as InferBody).code, 'OVERLOADED');
      assert.match(r.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
    }
  });

  void it('answers 504 DEADLINE_EXCEEDED when the run outlasts timeoutMs', async () => {
    const started = performance.now();
    const res = await gw.post('/v2/models/slow-deadline/infer', slowBody(rows));
    const elapsed = performance.now() - started;
    assert.equal(res.status, 504);
    assert.equal((res.body as InferBody).code, 'DEADLINE_EXCEEDED');
    // The answer comes at the deadline, not when the abandoned run ends.
    assert.ok(elapsed < runMs + 1000, `took ${elapsed.toFixed(0)} ms`);
    const engine = engineOf(gw, 'slow-deadline');
    await waitFor('the abandoned run to end', () => engine.stats().inFlight === 0);
  });

  void it('drops the work of a client that disconnects while queued', async () => {
    const engine = engineOf(gw, 'slow');
    await waitFor('an idle engine', () => engine.stats().inFlight === 0);
    const runsBefore = engine.stats().runs;
    // Everything the second request needs is ready before the first starts: it must reach the
    // queue within one run of the first, however loaded the host.
    const authorization = `Bearer ${await gw.token()}`;
    const secondBody = slowBody(rows, 2);

    const first = gw.post('/v2/models/slow/infer', slowBody(rows, 1));
    await waitFor('the first request to run', () => engine.stats().inFlight === 1);
    const controller = new AbortController();
    const queued = fetch(`${gw.url}/v2/models/slow/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization },
      body: secondBody,
      signal: controller.signal,
    }).then(
      (res) => res.status,
      (error: unknown) => error,
    );
    await waitFor('the second request to queue', () => engine.stats().queueDepth === 1);
    controller.abort();
    // The server sees the socket close and takes the request out of the queue at once, while
    // the first one is still running.
    await waitFor('the queued request to be dropped', () => engine.stats().queueDepth === 0);
    assert.equal(engine.stats().inFlight, 1, 'dropped while the first request still ran');
    const [a, b] = await Promise.all([first, queued]);
    assert.equal(a.status, 200);
    assert.ok(b instanceof Error, `the aborted fetch rejects (got ${String(b)})`);
    await waitFor('the engine to drain', () => engine.stats().inFlight === 0);
    assert.equal(engine.stats().runs - runsBefore, 1, 'only the first request ran');
  });

  void it('keeps the event loop free: /v2/health/live answers fast while the model is saturated', async (t) => {
    const engine = engineOf(gw, 'slow');
    let stop = false;
    // Two closed loops keep the single worker busy and one request queued behind it.
    const load = Array.from({ length: 2 }, async (_, i) => {
      const body = slowBody(rows, i);
      let served = 0;
      while (!stop) {
        const res = await gw.post('/v2/models/slow/infer', body);
        if (res.status === 200) served += 1;
      }
      return served;
    });
    await waitFor('the model to be busy', () => engine.stats().inFlight === 1);

    const latencies: number[] = [];
    const probeUntil = performance.now() + Math.min(4000, Math.max(1500, 10 * runMs));
    while (performance.now() < probeUntil || latencies.length < 50) {
      const started = performance.now();
      const res = await fetch(`${gw.url}/v2/health/live`);
      await res.arrayBuffer();
      latencies.push(performance.now() - started);
      assert.equal(res.status, 200);
      await sleep(5);
    }
    stop = true;
    const served = (await Promise.all(load)).reduce((a, b) => a + b, 0);

    latencies.sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    t.diagnostic(
      `health/live over ${latencies.length} probes: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; one run ${runMs.toFixed(0)} ms; ${served} inferences served meanwhile`,
    );
    assert.ok(served >= 3, `the model was not kept busy (${served} served)`);
    // Inline on the event loop, p99 would be about one run; half a run leaves room for a loaded
    // host without letting a blocked loop pass.
    assert.ok(p99 < runMs / 2, `p99 ${p99.toFixed(1)} ms vs a ${runMs.toFixed(0)} ms run`);
  });
});

void describe('batching over HTTP', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  const width = 64;

  before(async () => {
    const repo = await tempDir(cleanup);
    for (const name of ['mlp', 'mlp-plain']) {
      await mkdir(join(repo, name, '1'), { recursive: true });
      await copyFile(join(demoModels, 'mlp/1/model.onnx'), join(repo, name, '1/model.onnx'));
    }
    await copyFile(join(demoModels, 'mlp/1/model.sig'), join(repo, 'mlp/1/model.sig'));
    // A long delay so that requests arriving one by one over HTTP still meet in a batch.
    await writeFile(join(repo, 'mlp/config.yaml'), 'maxBatchSize: 16\nmaxQueueDelayMs: 20\n');
    gw = await startGateway(cleanup, repo);
  });
  after(() => cleanup.run());

  function mlpBody(rowCount: number, seed: number) {
    return {
      id: `req-${seed}`,
      inputs: [
        {
          name: 'input',
          shape: [rowCount, width],
          datatype: 'FP32',
          data: Array.from(
            { length: rowCount * width },
            (_, i) => Math.sin(seed * 131 + i) * (1 + (seed % 5)),
          ),
        },
      ],
    };
  }

  void it('gives the same answers as the unbatched model, rows in order', async (t) => {
    const engine = engineOf(gw, 'mlp');
    const runsBefore = engine.stats().runs;
    const bodies = Array.from({ length: 32 }, (_, i) => mlpBody(1 + (i % 3), i));
    const batched = await Promise.all(bodies.map((b) => gw.post('/v2/models/mlp/infer', b)));
    const runs = engine.stats().runs - runsBefore;
    const plain = await Promise.all(bodies.map((b) => gw.post('/v2/models/mlp-plain/infer', b)));
    t.diagnostic(
      `32 requests (${bodies.reduce((n, b) => n + b.inputs[0]!.shape[0]!, 0)} rows) in ${runs} runs`,
    );
    assert.ok(runs < 32, `no batch was formed (${runs} runs for 32 requests)`);
    batched.forEach((res, i) => {
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(plain[i]!.status, 200);
      const body = res.body as InferBody & { id: string; model_name: string };
      assert.equal(body.id, `req-${i}`);
      assert.deepEqual(body.outputs, (plain[i]!.body as InferBody).outputs);
      assert.deepEqual(body.outputs[0]!.shape, [1 + (i % 3), 10]);
    });
  });

  void it('answers mixed valid and invalid requests in flight together', async () => {
    const row = (seed: number) => mlpBody(1, seed).inputs[0]!;
    const invalid: { body: unknown; code: string }[] = [
      { body: { inputs: [{ ...row(1), shape: [1, 63] }] }, code: 'SHAPE_MISMATCH' },
      { body: { inputs: [{ ...row(2), datatype: 'INT32' }] }, code: 'DATATYPE_MISMATCH' },
      { body: { inputs: [{ ...row(3), shape: [2, 64] }] }, code: 'DATA_LENGTH_MISMATCH' },
      { body: { inputs: [{ ...row(4), name: 'inputs' }] }, code: 'UNKNOWN_INPUT' },
      {
        body: { inputs: [{ ...row(5), data: ['x', ...row(5).data.slice(1)] }] },
        code: 'INVALID_DATA',
      },
      { body: { inputs: [row(6)], outputs: [{ name: 'logits' }] }, code: 'UNKNOWN_OUTPUT' },
      { body: { inputs: [] }, code: 'INVALID_REQUEST' },
      { body: '{"inputs": [', code: 'MALFORMED_JSON' },
    ];
    const valid = Array.from({ length: 16 }, (_, i) => mlpBody(1 + (i % 2), 100 + i));
    // Interleave: every other request in flight is a bad one.
    const sent = valid.flatMap((body, i) => {
      const bad = invalid[i % invalid.length]!;
      return [
        { kind: 'valid' as const, index: i, request: gw.post('/v2/models/mlp/infer', body) },
        { kind: 'invalid' as const, index: i, request: gw.post('/v2/models/mlp/infer', bad.body) },
      ];
    });
    const answers = await Promise.all(sent.map((s) => s.request));
    const expected = await Promise.all(valid.map((b) => gw.post('/v2/models/mlp-plain/infer', b)));
    sent.forEach((s, k) => {
      const res = answers[k]!;
      if (s.kind === 'valid') {
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(
          (res.body as InferBody).outputs,
          (expected[s.index]!.body as InferBody).outputs,
        );
      } else {
        const bad = invalid[s.index % invalid.length]!;
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal((res.body as InferBody).code, bad.code, JSON.stringify(res.body));
      }
    });
  });
});
