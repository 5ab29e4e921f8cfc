import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import {
  buildComputeMlp,
  buildFailingModel,
  createGraph,
} from '../../scripts/onnx/onnx-builder.js';
import { BastionError } from '../../src/errors.js';
import { createBatchingEngine, isBatchableSignature } from '../../src/inference/batching-engine.js';
import type {
  HostTensor,
  ModelEngine,
  ModelSignature,
  RunOptions,
} from '../../src/inference/engine.js';
import { createInlineEngine } from '../../src/inference/inline-engine.js';
import { createWorkerEngine } from '../../src/inference/worker-engine.js';
import { cpuSettings, delay, f32, f32Rows, plain, sampleTensor } from './engine-fixtures.js';

interface Call {
  readonly feeds: Readonly<Record<string, HostTensor>>;
  readonly signal: AbortSignal | undefined;
}

/**
 * An echo engine (`y` = `x`) whose runs wait until `release()`; `fail` picks feeds that fail.
 * Deterministic: the tests decide when each run completes.
 */
function createGatedEngine(fail: (x: HostTensor) => BastionError | undefined = () => undefined) {
  const calls: Call[] = [];
  const gates: (() => void)[] = [];
  let closed = false;
  const signature: ModelSignature = {
    inputs: [{ name: 'x', type: 'float32', dims: [-1, -1] }],
    outputs: [{ name: 'y', type: 'float32', dims: [-1, -1] }],
  };
  const engine: ModelEngine & { stats(): { concurrency: number } & Record<string, number> } = {
    signature,
    async run(feeds, _outputs, options: RunOptions = {}) {
      calls.push({ feeds, signal: options.signal });
      await new Promise<void>((resolve) => gates.push(resolve));
      const x = feeds.x as HostTensor;
      const error = fail(x);
      if (error !== undefined) throw error;
      return { y: x };
    },
    close: () => {
      closed = true;
      return Promise.resolve();
    },
    stats: () => ({ queueDepth: 0, inFlight: 0, concurrency: 1, runs: calls.length, restarts: 0 }),
  };
  return {
    engine,
    calls,
    isClosed: () => closed,
    /** Lets every run started so far finish, then lets the batcher react. */
    async release(): Promise<void> {
      for (const gate of gates.splice(0)) gate();
      await delay(1);
    },
  };
}

const row = (...values: number[]): Record<string, HostTensor> => ({
  x: f32([1, values.length], values),
});
const rows = (n: number, start: number): Record<string, HostTensor> => ({
  x: f32Rows(n, 2, start),
});

test('only models with a dynamic first dim everywhere can be batched', () => {
  const fixed: ModelSignature = {
    inputs: [{ name: 'x', type: 'float32', dims: [4, 2] }],
    outputs: [],
  };
  assert.equal(isBatchableSignature(fixed), false);
  const { engine } = createGatedEngine();
  assert.equal(isBatchableSignature(engine.signature), true);
  assert.throws(
    () =>
      createBatchingEngine(
        { ...engine, signature: fixed },
        { maxBatchSize: 4, maxQueueDelayMs: 0 },
      ),
    RangeError,
  );
  assert.throws(
    () => createBatchingEngine(engine, { maxBatchSize: 0, maxQueueDelayMs: 0 }),
    RangeError,
  );
  assert.throws(
    () => createBatchingEngine(engine, { maxBatchSize: 2, maxQueueDelayMs: -1 }),
    RangeError,
  );
});

test('requests that arrive while the model is busy are merged in order, up to maxBatchSize', async () => {
  const gated = createGatedEngine();
  const batchesSeen: [number, number][] = [];
  const waits: number[] = [];
  const batcher = createBatchingEngine(gated.engine, {
    maxBatchSize: 3,
    maxQueueDelayMs: 0,
    hooks: { onBatch: (n, r) => batchesSeen.push([n, r]), onQueueWait: (ms) => waits.push(ms) },
  });
  const results = [
    batcher.run(row(0, 0), ['y']),
    batcher.run(row(1, 1), ['y']),
    batcher.run(rows(2, 10), ['y']),
    batcher.run(row(3, 3), ['y']),
    batcher.run(row(4, 4), ['y']),
    batcher.run(row(5, 5), ['y']),
  ];
  assert.equal(gated.calls.length, 1, 'the first request went straight to the idle model');
  assert.deepEqual(batcher.stats(), {
    queueDepth: 5,
    inFlight: 1,
    concurrency: 1,
    runs: 1,
    restarts: 0,
  });
  await gated.release();
  assert.deepEqual(gated.calls[1]?.feeds.x?.dims, [3, 2]);
  await gated.release();
  const third = gated.calls[2]?.feeds.x;
  assert.deepEqual(plain(third), [3, 3, 4, 4, 5, 5]);
  assert.deepEqual(third?.dims, [3, 2]);
  await gated.release();
  const outputs = await Promise.all(results);
  assert.deepEqual(plain(outputs[2]?.y), plain(rows(2, 10).x));
  assert.deepEqual(outputs[2]?.y?.dims, [2, 2]);
  assert.deepEqual(
    [0, 1, 3, 4, 5].map((i) => plain(outputs[i]?.y)),
    [0, 1, 3, 4, 5].map((i) => [i, i]),
  );
  assert.deepEqual(batchesSeen, [
    [1, 1],
    [2, 3],
    [3, 3],
  ]);
  assert.equal(waits.length, 6);
});

test('a preferred batch size dispatches at once; close flushes what still waits', async () => {
  const gated = createGatedEngine();
  const batcher = createBatchingEngine(gated.engine, {
    maxBatchSize: 8,
    maxQueueDelayMs: 60_000,
    preferredBatchSizes: [2],
    maxConcurrentBatches: 4,
  });
  const first = batcher.run(row(1), ['y']);
  assert.equal(gated.calls.length, 0, 'held for a bigger batch');
  const second = batcher.run(row(2), ['y']);
  assert.equal(gated.calls.length, 1);
  assert.deepEqual(gated.calls[0]?.feeds.x?.dims, [2, 1]);
  const third = batcher.run(row(3), ['y']);
  assert.equal(gated.calls.length, 1);
  const closed = batcher.close();
  await assert.rejects(batcher.run(row(4), ['y']), { code: 'SHUTTING_DOWN' });
  assert.equal(gated.calls.length, 2, 'close dispatched the waiting request');
  await gated.release();
  assert.deepEqual(
    (await Promise.all([first, second, third])).map((o) => plain(o.y)),
    [[1], [2], [3]],
  );
  await closed;
  assert.equal(gated.isClosed(), true);
});

test('maxQueueDelayMs holds a lone request that long, then runs it', async () => {
  const gated = createGatedEngine();
  const batcher = createBatchingEngine(gated.engine, { maxBatchSize: 8, maxQueueDelayMs: 40 });
  const started = performance.now();
  const result = batcher.run(row(7), ['y']);
  assert.equal(gated.calls.length, 0);
  const called = (): boolean => gated.calls.length > 0;
  while (!called()) await delay(2);
  assert.ok(performance.now() - started >= 35);
  await gated.release();
  assert.deepEqual(plain((await result).y), [7]);
});

test('requests whose non-batch dims differ go in separate batches', async () => {
  const gated = createGatedEngine();
  const batcher = createBatchingEngine(gated.engine, { maxBatchSize: 8, maxQueueDelayMs: 0 });
  const busy = batcher.run(row(0), ['y']);
  const results = [row(1, 1), row(2, 2, 2), row(3, 3), row(4, 4, 4)].map((feeds) =>
    batcher.run(feeds, ['y']),
  );
  await gated.release();
  await gated.release();
  await gated.release();
  assert.deepEqual(
    gated.calls.map((call) => call.feeds.x?.dims),
    [
      [1, 1],
      [2, 2],
      [2, 3],
    ],
  );
  assert.deepEqual(
    (await Promise.all(results)).map((o) => plain(o.y)),
    [
      [1, 1],
      [2, 2, 2],
      [3, 3],
      [4, 4, 4],
    ],
  );
  await busy;
});

test('aborted waiting requests are dropped before they run; a full queue rejects OVERLOADED', async () => {
  const gated = createGatedEngine();
  const batcher = createBatchingEngine(gated.engine, {
    maxBatchSize: 8,
    maxQueueDelayMs: 0,
    maxQueue: 2,
  });
  const busy = batcher.run(row(0), ['y']);
  const controller = new AbortController();
  const dropped = batcher.run(row(1), ['y'], { signal: controller.signal });
  const kept = batcher.run(row(2), ['y']);
  await assert.rejects(batcher.run(row(3), ['y']), { code: 'OVERLOADED', retryAfterSec: 1 });
  const reason = new BastionError('DEADLINE_EXCEEDED', 'deadline passed');
  controller.abort(reason);
  await assert.rejects(dropped, (error) => error === reason);
  await assert.rejects(batcher.run(row(4), ['y'], { signal: AbortSignal.abort() }), {
    code: 'DEADLINE_EXCEEDED',
  });
  await gated.release();
  await gated.release();
  assert.deepEqual(
    (await Promise.all([busy, kept])).map((o) => plain(o.y)),
    [[0], [2]],
  );
  assert.equal(gated.calls.length, 2, 'the aborted request never reached the model');
  assert.equal(batcher.stats().runs, 2);
});

test('when every member of a running batch aborts, the batch run is aborted too', async () => {
  const gated = createGatedEngine();
  const batcher = createBatchingEngine(gated.engine, { maxBatchSize: 8, maxQueueDelayMs: 0 });
  const busy = batcher.run(row(0), ['y']);
  const a = new AbortController();
  const b = new AbortController();
  const runs = [
    batcher.run(row(1), ['y'], { signal: a.signal }),
    batcher.run(row(2), ['y'], { signal: b.signal }),
  ];
  await gated.release();
  const batchSignal = gated.calls[1]?.signal;
  const aborted = (): boolean | undefined => batchSignal?.aborted;
  assert.equal(aborted(), false);
  a.abort();
  assert.equal(aborted(), false, 'one member still waits for it');
  b.abort();
  assert.equal(aborted(), true);
  for (const run of runs) await assert.rejects(run, { code: 'DEADLINE_EXCEEDED' });
  await gated.release();
  await busy;
});

test('a failed batch is retried member by member; capacity errors are not retried', async () => {
  const gated = createGatedEngine((x) => {
    if (plain(x).includes(9)) return new BastionError('INFERENCE_FAILED', 'model inference failed');
    if (plain(x).includes(8)) return new BastionError('OVERLOADED', 'busy');
    return undefined;
  });
  const batcher = createBatchingEngine(gated.engine, { maxBatchSize: 8, maxQueueDelayMs: 0 });
  const busy = batcher.run(row(0), ['y']);
  const first = Promise.allSettled(
    [row(1), row(9), row(3)].map((feeds) => batcher.run(feeds, ['y'])),
  );
  for (let i = 0; i < 5; i++) await gated.release();
  const outcome = (s: PromiseSettledResult<Record<string, HostTensor>>): unknown =>
    s.status === 'fulfilled' ? plain(s.value.y) : (s.reason as BastionError).code;
  assert.deepEqual((await first).map(outcome), [[1], 'INFERENCE_FAILED', [3]]);
  assert.equal(gated.calls.length, 5, 'busy + the batch + three solo retries');
  const blocker = batcher.run(row(5), ['y']);
  const second = Promise.allSettled([row(8), row(4)].map((feeds) => batcher.run(feeds, ['y'])));
  for (let i = 0; i < 3; i++) await gated.release();
  assert.deepEqual((await second).map(outcome), ['OVERLOADED', 'OVERLOADED']);
  assert.equal(gated.calls.length, 7, 'a capacity error is not retried');
  assert.deepEqual(plain((await blocker).y), [5]);
  await busy;
});

// Real ONNX Runtime below.

const mlp = buildComputeMlp({ inputs: 64, hidden: 256, outputs: 16, seed: 3 });
const mlpWorkers = await createWorkerEngine(mlp, cpuSettings, 'mlp:1', { poolSize: 1 });
const failing = await createInlineEngine(buildFailingModel(), cpuSettings, 'failing:1');
const mixedGraph = createGraph('mixed')
  .input('s', 'string', ['n'])
  .input('i', 'int64', ['n', 'm'])
  .node('Identity', ['s'], ['s_out'])
  .node('Identity', ['i'], ['i_out'])
  .output('s_out', 'string', ['n'])
  .output('i_out', 'int64', ['n', 'm']);
const mixed = await createInlineEngine(mixedGraph.toBytes(), cpuSettings, 'mixed:1');
after(() => Promise.all([mlpWorkers.close(), failing.close(), mixed.close()]));

test('batched MLP results equal unbatched results, row for row', async () => {
  const sizes = [1, 3, 1, 2, 5, 1, 4, 1];
  const inputs = sizes.map((n, i) => f32Rows(n, 64, i / 10));
  const clone = (t: HostTensor): HostTensor => ({ ...t, data: (t.data as Float32Array).slice() });
  const unbatched: Record<string, HostTensor>[] = [];
  for (const input of inputs)
    unbatched.push(await mlpWorkers.run({ input: clone(input) }, ['output']));
  const seen: number[] = [];
  const batcher = createBatchingEngine(mlpWorkers, {
    maxBatchSize: 32,
    maxQueueDelayMs: 5,
    hooks: { onBatch: (_n, r) => seen.push(r) },
  });
  const runsBefore = batcher.stats().runs;
  const batched = await Promise.all(
    inputs.map((input) => batcher.run({ input: clone(input) }, ['output'])),
  );
  assert.deepEqual(seen, [18], 'one run for all eight requests');
  assert.equal(batcher.stats().runs, runsBefore + 1);
  batched.forEach((out, i) => {
    assert.deepEqual(out.output?.dims, [sizes[i], 16]);
    const want = plain(unbatched[i]?.output) as number[];
    (plain(out.output) as number[]).forEach((value, j) => {
      assert.ok(
        Math.abs(value - (want[j] ?? NaN)) <= 1e-5 * Math.max(1, Math.abs(value)),
        `${i}:${j}`,
      );
    });
  });
});

test('with a real model, the one invalid request in a batch fails alone', async () => {
  const batcher = createBatchingEngine(failing, { maxBatchSize: 16, maxQueueDelayMs: 5 });
  const settled = await Promise.allSettled(
    [[0], [9], [2, 1], [3]].map((values) =>
      batcher.run({ x: f32([values.length], values) }, ['y']),
    ),
  );
  assert.deepEqual(
    settled.map((s) =>
      s.status === 'fulfilled' ? plain(s.value.y) : (s.reason as BastionError).code,
    ),
    [[0], 'INPUT_REJECTED_BY_MODEL', [20, 10], [30]],
  );
  assert.equal(failing.stats().runs, 5, 'one failed batch, then four solo runs');
});

test('string and int64 tensors batch and split correctly; other dims batch apart', async () => {
  const seen: [number, number][] = [];
  const batcher = createBatchingEngine(mixed, {
    maxBatchSize: 16,
    maxQueueDelayMs: 5,
    hooks: { onBatch: (n, r) => seen.push([n, r]) },
  });
  const request = (n: number, m: number, seed: number): Record<string, HostTensor> => ({
    s: sampleTensor('string', [n], seed),
    i: sampleTensor('int64', [n, m], seed),
  });
  const requests = [request(1, 2, 1), request(3, 2, 2), request(2, 3, 3), request(2, 2, 4)];
  const outputs = await Promise.all(
    requests.map((feeds) => batcher.run(feeds, ['i_out', 's_out'])),
  );
  outputs.forEach((out, index) => {
    const sent = requests[index] as Record<string, HostTensor>;
    assert.deepEqual(plain(out.s_out), plain(sent.s));
    assert.deepEqual(plain(out.i_out), plain(sent.i));
    assert.deepEqual(out.i_out?.dims, sent.i?.dims);
    assert.ok(out.i_out?.data instanceof BigInt64Array);
  });
  assert.deepEqual(seen.sort(), [
    [1, 2],
    [3, 6],
  ]);
});
