import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildIdentityModel, buildFailingModel } from '../../scripts/onnx/onnx-builder.js';
import { BastionError } from '../../src/errors.js';
import type { EngineFactory } from '../../src/inference/engine.js';
import { createInlineEngine } from '../../src/inference/inline-engine.js';
import { allElementTypes, cpuSettings, f32, plain, sampleTensor } from './engine-fixtures.js';

test('the inline engine fits EngineFactory and reads the signature from the session', async (t) => {
  const factory: EngineFactory = createInlineEngine;
  const engine = await factory(buildIdentityModel('float32', ['batch', 3]), cpuSettings, 'id:1');
  t.after(() => engine.close());
  assert.deepEqual(engine.signature, {
    inputs: [{ name: 'x', type: 'float32', dims: [-1, 3], dimNames: ['batch', undefined] }],
    outputs: [{ name: 'y', type: 'float32', dims: [-1, 3], dimNames: ['batch', undefined] }],
  });
  const out = await engine.run({ x: f32([2, 3], [1, 2, 3, 4, 5, 6]) }, ['y']);
  assert.deepEqual(out.y?.dims, [2, 3]);
  assert.deepEqual(plain(out.y), [1, 2, 3, 4, 5, 6]);
});

test('every element type round-trips through an identity model inline', async () => {
  for (const type of allElementTypes) {
    const engine = await createInlineEngine(buildIdentityModel(type, ['n', 2]), cpuSettings, type);
    const input = sampleTensor(type, [3, 2], 1);
    const out = await engine.run({ x: input }, ['y']);
    await engine.close();
    assert.equal(out.y?.type, type, type);
    assert.deepEqual(plain(out.y), plain(input), type);
  }
});

test('a CUDA request on a host without CUDA falls back to CPU with one log line', async (t) => {
  const lines: string[] = [];
  const engine = await createInlineEngine(
    buildIdentityModel('float32', ['n']),
    { ...cpuSettings, executionProviders: ['cuda', 'cpu'] },
    'gpu-model:1',
    { log: (line) => lines.push(line) },
  );
  t.after(() => engine.close());
  assert.equal(lines.length, 1);
  assert.match(
    lines[0] ?? '',
    /^gpu-model:1: CUDA execution provider unavailable .*running on CPU$/,
  );
  assert.deepEqual(plain((await engine.run({ x: f32([1], [7]) }, ['y'])).y), [7]);
});

test('bad model bytes reject INFERENCE_FAILED', async () => {
  await assert.rejects(createInlineEngine(new Uint8Array([1, 2, 3]), cpuSettings, 'junk:1'), {
    code: 'INFERENCE_FAILED',
  });
});

test('a run ONNX Runtime refuses rejects INPUT_REJECTED_BY_MODEL (a 400), without its details; onInference fires on success', async (t) => {
  const times: number[] = [];
  const engine = await createInlineEngine(buildFailingModel(), cpuSettings, 'failing:1', {
    hooks: { onInference: (ms) => times.push(ms) },
  });
  t.after(() => engine.close());
  assert.deepEqual(plain((await engine.run({ x: f32([2], [1, 3]) }, ['y'])).y), [10, 30]);
  await assert.rejects(engine.run({ x: f32([1], [9]) }, ['y']), (error: unknown) => {
    assert.ok(error instanceof BastionError);
    assert.equal(error.code, 'INPUT_REJECTED_BY_MODEL');
    assert.equal(error.status, 400);
    assert.match(error.message, /could not run on this input/);
    assert.doesNotMatch(error.message, /indices|out of|\//);
    return true;
  });
  assert.equal(times.length, 1);
  assert.deepEqual(engine.stats(), {
    queueDepth: 0,
    inFlight: 0,
    concurrency: 1,
    runs: 2,
    restarts: 0,
  });
});

test('an aborted signal rejects with its BastionError reason, or DEADLINE_EXCEEDED', async (t) => {
  const engine = await createInlineEngine(
    buildIdentityModel('float32', ['n']),
    cpuSettings,
    'id:1',
  );
  t.after(() => engine.close());
  const reason = new BastionError('DEADLINE_EXCEEDED', 'deadline of 5 ms passed');
  await assert.rejects(
    engine.run({ x: f32([1], [1]) }, ['y'], { signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  await assert.rejects(engine.run({ x: f32([1], [1]) }, ['y'], { signal: AbortSignal.abort() }), {
    code: 'DEADLINE_EXCEEDED',
  });
  assert.equal(engine.stats().runs, 0);
});

test('close waits for in-flight work, then rejects new runs with SHUTTING_DOWN', async () => {
  const engine = await createInlineEngine(
    buildIdentityModel('float32', ['n']),
    cpuSettings,
    'id:1',
  );
  const running = engine.run({ x: f32([1], [4]) }, ['y']);
  const closed = engine.close();
  await assert.rejects(engine.run({ x: f32([1], [1]) }, ['y']), { code: 'SHUTTING_DOWN' });
  assert.deepEqual(plain((await running).y), [4]);
  await closed;
  assert.equal(engine.close(), closed);
});
