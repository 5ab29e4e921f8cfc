import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import {
  buildComputeMlp,
  buildIdentityModel,
  createGraph,
} from '../../scripts/onnx/onnx-builder.js';
import { BastionError } from '../../src/errors.js';
import type { EngineFactory, HostTensor } from '../../src/inference/engine.js';
import type { EngineHooks } from '../../src/inference/engine-stats.js';
import { createInlineEngine } from '../../src/inference/inline-engine.js';
import { createWorkerEngine } from '../../src/inference/worker-engine.js';
import {
  allElementTypes,
  cpuSettings,
  f32,
  f32Rows,
  plain,
  sampleTensor,
} from './engine-fixtures.js';

/** ~50–200 ms per run at 2048 rows on one thread: long enough to see a blocked event loop. */
const slowModel = buildComputeMlp({ inputs: 256, hidden: 2048, outputs: 256, seed: 7 });
const slowRows = 2048;
const slowInput = (rows = slowRows): Record<string, HostTensor> => ({
  input: f32Rows(rows, 256, 0),
});
const tinyInput = (value: number): Record<string, HostTensor> => ({
  x: f32([1, 2], [value, -value]),
});
const identity = buildIdentityModel('float32', ['batch', 2]);

/** Runs timers every millisecond until `work` settles; reports the longest gap between ticks. */
async function timerLag(work: Promise<unknown>): Promise<{ maxGapMs: number; ticks: number }> {
  const state = { done: false };
  void work.finally(() => (state.done = true)).catch(() => undefined);
  let last = performance.now();
  let maxGapMs = 0;
  let ticks = 0;
  while (!state.done) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks += 1;
  }
  return { maxGapMs, ticks };
}

// Worker start-up costs 0.2–0.5 s here, so the tests share a few engines; each test asserts
// on deltas of the shared engines' counters.
const allTypesGraph = createGraph('all_types');
for (const type of allElementTypes) {
  allTypesGraph.input(`x_${type}`, type, ['n', 2]).node('Identity', [`x_${type}`], [`y_${type}`]);
  allTypesGraph.output(`y_${type}`, type, ['n', 2]);
}
const factory: EngineFactory = createWorkerEngine;
const allTypes = await createWorkerEngine(allTypesGraph.toBytes(), cpuSettings, 'all-types:1', {
  transferInputs: false,
});
const restarts: [string, string][] = [];
const fragile = await createWorkerEngine(identity, cpuSettings, 'fragile:1', {
  poolSize: 2,
  allowTestCrash: true,
  hooks: { onWorkerRestart: (label, reason) => restarts.push([label, reason]) },
});
const waits: number[] = [];
const inferences: number[] = [];
const slowHooks: EngineHooks = {
  onQueueWait: (ms) => waits.push(ms),
  onInference: (ms) => inferences.push(ms),
};
const slow = await createWorkerEngine(slowModel, cpuSettings, 'slow:1', {
  maxQueue: 3,
  retryAfterSec: 2,
  hooks: slowHooks,
});
after(() => Promise.all([allTypes.close(), fragile.close(), slow.close()]));

test('every element type crosses to a worker and back unchanged', async () => {
  assert.equal(typeof factory, 'function');
  assert.equal(allTypes.signature.inputs.length, allElementTypes.length);
  const feeds = Object.fromEntries(
    allElementTypes.map((type) => [`x_${type}`, sampleTensor(type, [3, 2], 2)]),
  );
  const out = await allTypes.run(
    feeds,
    allElementTypes.map((type) => `y_${type}`),
  );
  for (const type of allElementTypes) {
    assert.equal(out[`y_${type}`]?.type, type);
    assert.deepEqual(out[`y_${type}`]?.dims, [3, 2]);
    assert.deepEqual(plain(out[`y_${type}`]), plain(feeds[`x_${type}`]), type);
  }
});

test('large whole input buffers are transferred; small ones and views are copied', async () => {
  const small = new Float32Array([1, 2]);
  await fragile.run({ x: { type: 'float32', dims: [1, 2], data: small } }, ['y']);
  assert.equal(small.buffer.byteLength, 8, 'small feeds are copied into the message pack');
  const rows = 16_384; // 128 KiB: over the pack limit, so it travels on its own
  const large = f32Rows(rows, 2, 0);
  const out = await fragile.run({ x: large }, ['y']);
  assert.equal((large.data as Float32Array).buffer.byteLength, 0, 'transferred (detached here)');
  assert.deepEqual(out.y?.dims, [rows, 2]);
  assert.equal(plain(out.y).at(-1), (rows * 2 - 1) / 8);
  const backing = new Float32Array(rows * 2 + 2).fill(9);
  const view = backing.subarray(1, rows * 2 + 1);
  view.set(f32Rows(rows, 2, 0).data as Float32Array);
  const copied = await fragile.run({ x: { type: 'float32', dims: [rows, 2], data: view } }, ['y']);
  assert.deepEqual(plain(copied.y).slice(0, 3), [0, 0.125, 0.25]);
  assert.equal(backing.buffer.byteLength, (rows * 2 + 2) * 4, 'the shared backing buffer is kept');
  const kept = f32Rows(rows, 2, 0);
  const keeper = await createWorkerEngine(identity, cpuSettings, 'keep:1', {
    transferInputs: false,
  });
  try {
    await keeper.run({ x: kept }, ['y']);
    assert.equal((kept.data as Float32Array).length, rows * 2, 'transferInputs false copies');
  } finally {
    await keeper.close();
  }
});

test('bad model bytes reject INFERENCE_FAILED and leave no worker behind', async () => {
  await assert.rejects(createWorkerEngine(new Uint8Array([8, 8, 8]), cpuSettings, 'junk:1'), {
    code: 'INFERENCE_FAILED',
  });
});

test('a full queue rejects OVERLOADED at once; aborted queued work never runs', async () => {
  const runsBefore = slow.stats().runs;
  const waitsBefore = waits.length;
  const first = slow.run(slowInput(256), ['output']); // occupies the only worker
  const dropped = new AbortController();
  const kept = slow.run(slowInput(256), ['output']);
  const abandoned = slow.run(slowInput(256), ['output'], { signal: dropped.signal });
  const reason = new BastionError('DEADLINE_EXCEEDED', 'deadline passed');
  const timedOut = slow.run(slowInput(256), ['output'], { signal: AbortSignal.abort(reason) });
  timedOut.catch(() => undefined); // asserted below, after the hand-off turn
  const last = slow.run(slowInput(256), ['output']);
  await new Promise((resolve) => setImmediate(resolve)); // the hand-off happens once per turn
  assert.equal(slow.handoffStats().perMessage, 1, 'a slow model gets one request per message');
  assert.deepEqual(slow.stats(), {
    queueDepth: 3,
    inFlight: 1,
    concurrency: 1,
    runs: runsBefore + 1,
    restarts: 0,
  });
  await assert.rejects(slow.run(slowInput(256), ['output']), (error: unknown) => {
    assert.ok(error instanceof BastionError);
    assert.equal(error.code, 'OVERLOADED');
    assert.equal(error.retryAfterSec, 2);
    return true;
  });
  dropped.abort(); // a client disconnect: no BastionError reason
  await assert.rejects(abandoned, { code: 'DEADLINE_EXCEEDED' });
  await assert.rejects(timedOut, (error) => error === reason);
  assert.equal(slow.stats().queueDepth, 2);
  const results = await Promise.all([first, kept, last]);
  for (const result of results) assert.deepEqual(result.output?.dims, [256, 256]);
  assert.equal(
    slow.stats().runs,
    runsBefore + 3,
    'the two aborted requests never reached the model',
  );
  assert.equal(waits.length, waitsBefore + 3);
});

test('aborting a request in flight rejects it at once; its worker then serves the next', async () => {
  const runsBefore = slow.stats().runs;
  const controller = new AbortController();
  const running = slow.run(slowInput(256), ['output'], { signal: controller.signal });
  const next = slow.run(slowInput(256), ['output']);
  await new Promise((resolve) => setImmediate(resolve));
  controller.abort(new BastionError('DEADLINE_EXCEEDED', 'too slow'));
  await assert.rejects(running, { code: 'DEADLINE_EXCEEDED', message: 'too slow' });
  assert.equal(slow.stats().inFlight, 1, 'the worker is still busy with it');
  assert.deepEqual((await next).output?.dims, [256, 256]);
  // If the abort reached the worker before it started the run, the run was skipped.
  const runs = slow.stats().runs - runsBefore;
  assert.ok(runs === 1 || runs === 2, `${runs} runs`);
});

/** Waits until both of `fragile`'s workers have loaded (a replacement takes a moment). */
async function bothWorkersUp(): Promise<void> {
  while (fragile.handoffStats().workers < 2) await new Promise((r) => setTimeout(r, 10));
}

for (const mode of ['exit', 'throw'] as const) {
  test(`a worker crash (${mode}) fails only its request; the worker is replaced`, async () => {
    const restartsBefore = restarts.length;
    await bothWorkersUp();
    fragile.crashNextRunForTesting(mode);
    const [crashed, healthy] = await Promise.allSettled([
      fragile.run(tinyInput(1), ['y']),
      fragile.run(tinyInput(2), ['y']),
    ]);
    assert.equal(crashed.status, 'rejected');
    assert.equal((crashed.reason as BastionError).code, 'INFERENCE_FAILED');
    assert.equal((crashed.reason as BastionError).message, 'model inference failed');
    assert.equal(healthy.status, 'fulfilled');
    assert.deepEqual(plain(healthy.value.y), [2, -2]);
    assert.equal(restarts.length, restartsBefore + 1);
    const [label, reason] = restarts.at(-1) ?? [];
    assert.equal(label, 'fragile:1');
    assert.match(reason ?? '', mode === 'exit' ? /code 70/ : /test crash requested/);
    // Both the survivor and the replacement serve requests.
    await bothWorkersUp();
    const after = await Promise.all([1, 2, 3, 4].map((n) => fragile.run(tinyInput(n), ['y'])));
    assert.deepEqual(
      after.map((out) => plain(out.y)),
      [1, 2, 3, 4].map((n) => [n, -n]),
    );
    assert.equal(fragile.stats().restarts, restartsBefore + 1);
  });
}

test('test crashes are refused unless the engine allows them', () => {
  assert.throws(() => {
    allTypes.crashNextRunForTesting('exit');
  }, /disabled/);
});

test('the event loop stays responsive while a worker runs a long inference', async (t) => {
  await slow.run(slowInput(), ['output']); // warm-up
  // On a loaded 2-core CI machine another process can preempt this one mid-measurement, so take
  // the best of three: an engine that blocked the loop would show the full run in every attempt.
  let best = { maxGapMs: Infinity, ticks: 0, inferenceMs: 0 };
  for (let attempt = 0; attempt < 3; attempt++) {
    const { maxGapMs, ticks } = await timerLag(slow.run(slowInput(), ['output']));
    const inferenceMs = inferences.at(-1) ?? 0;
    t.diagnostic(
      `worker: inference ${inferenceMs.toFixed(1)} ms, max timer gap ${maxGapMs.toFixed(1)} ms, ${ticks} ticks`,
    );
    if (maxGapMs / inferenceMs < best.maxGapMs / Math.max(best.inferenceMs, 1e-9)) {
      best = { maxGapMs, ticks, inferenceMs };
    }
    if (inferenceMs >= 20 && maxGapMs < inferenceMs / 2) break;
  }
  const { maxGapMs, inferenceMs } = best;
  if (inferenceMs < 20) {
    t.skip(`this host runs the model in ${inferenceMs.toFixed(1)} ms; too fast to measure lag`);
    return;
  }
  assert.ok(maxGapMs < inferenceMs / 2, `timer gap ${maxGapMs} ms vs inference ${inferenceMs} ms`);

  // For contrast (documented, not asserted): the inline engine freezes the loop for the run.
  const inline = await createInlineEngine(slowModel, cpuSettings, 'slow:inline');
  t.after(() => inline.close());
  await inline.run(slowInput(), ['output']);
  const blocked = await timerLag(inline.run(slowInput(), ['output']));
  t.diagnostic(`inline: max timer gap ${blocked.maxGapMs.toFixed(1)} ms, ${blocked.ticks} ticks`);
});

test('close drains queued and in-flight work, then refuses new runs', async () => {
  const runs = [1, 2, 3, 4, 5].map((n) => fragile.run(tinyInput(n), ['y']));
  const closed = fragile.close();
  await assert.rejects(fragile.run(tinyInput(9), ['y']), { code: 'SHUTTING_DOWN' });
  assert.deepEqual(
    (await Promise.all(runs)).map((out) => plain(out.y)),
    [1, 2, 3, 4, 5].map((n) => [n, -n]),
  );
  await closed;
  assert.equal(fragile.close(), closed);
});
