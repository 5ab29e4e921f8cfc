/**
 * The batched hand-off of the worker engine: requests queued in one event-loop turn cross to a
 * worker in one message and come back in one, in order; cancellation and deadlines reach into a
 * worker's batch; a worker crash mid-batch fails exactly the requests that worker held.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { buildComputeMlp, buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { BastionError } from '../../src/errors.js';
import type { HostTensor } from '../../src/inference/engine.js';
import { createWorkerEngine } from '../../src/inference/worker-engine.js';
import { cpuSettings, f32, f32Rows, plain } from './engine-fixtures.js';

const identity = buildIdentityModel('float32', ['batch', 2]);
const tiny = (value: number): Record<string, HostTensor> => ({
  x: f32([1, 2], [value, -value]),
});
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// Budgets far above any run time here make every message take up to the cap (64), whatever the
// load on the test machine does to the measured run times.
const single = await createWorkerEngine(identity, cpuSettings, 'single:1', {
  maxQueue: 256,
  messageBudgetMs: 1e6,
});
const pair = await createWorkerEngine(identity, cpuSettings, 'pair:1', {
  poolSize: 2,
  allowTestCrash: true,
  messageBudgetMs: 1e6,
});
const slow = await createWorkerEngine(
  buildComputeMlp({ inputs: 256, hidden: 2048, outputs: 256, seed: 3 }),
  cpuSettings,
  'slow:1',
  { messageBudgetMs: 1e6 },
);
after(() => Promise.all([single.close(), pair.close(), slow.close()]));

test('one turn of requests crosses in one message; answers keep their order', async () => {
  // The first run of a session is cold; the next ones measure the run time that sizes messages.
  for (let i = 0; i < 3; i++) await single.run(tiny(0), ['y']);
  assert.equal(single.handoffStats().perMessage, 64);
  const before = single.handoffStats();
  const settled: number[] = [];
  const values = Array.from({ length: 40 }, (_, i) => i + 1);
  const results = await Promise.all(
    values.map((n) =>
      single.run(tiny(n), ['y']).then((out) => {
        settled.push(n);
        return plain(out.y);
      }),
    ),
  );
  assert.deepEqual(
    results,
    values.map((n) => [n, -n]),
    'every request gets its own answer',
  );
  assert.deepEqual(settled, values, 'answers settle in request order');
  const now = single.handoffStats();
  assert.equal(now.messages - before.messages, 1, 'one message for the whole turn');
  assert.equal(now.requests - before.requests, 40);
  assert.equal(single.stats().inFlight, 0);
});

test('requests arriving while the worker is busy go together in the next message', async () => {
  const before = single.handoffStats();
  const waves: Promise<Record<string, HostTensor>>[] = [];
  for (let wave = 0; wave < 5; wave++) {
    for (let i = 0; i < 8; i++) waves.push(single.run(tiny(wave * 10 + i), ['y']));
    await turn();
  }
  const out = await Promise.all(waves);
  assert.deepEqual(plain(out[17]?.y), [21, -21]);
  const now = single.handoffStats();
  assert.equal(now.requests - before.requests, 40);
  assert.ok(now.messages - before.messages <= 5, 'at most one message per turn');
});

test('a worker crash mid-batch fails exactly the requests that worker held', async () => {
  for (let i = 0; i < 3; i++)
    await Promise.all([pair.run(tiny(0), ['y']), pair.run(tiny(0), ['y'])]);
  while (pair.handoffStats().workers < 2) await new Promise((r) => setTimeout(r, 10));
  const runs: Promise<Record<string, HostTensor>>[] = [];
  for (let n = 1; n <= 10; n++) {
    if (n === 3) pair.crashNextRunForTesting('exit'); // third of the first worker's five
    runs.push(pair.run(tiny(n), ['y']));
  }
  const outcomes = await Promise.allSettled(runs);
  const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i + 1] : []));
  // The worker posts the answers it has every postEveryMs, so on a slow host 1 and 2 may have
  // been answered before 3 crashed it: those stand. What it still held, 3 through 5, fails.
  const first = failed[0] ?? 0;
  assert.ok(first >= 1 && first <= 3, `the first failed request is 1, 2 or 3 (got ${first})`);
  assert.deepEqual(
    failed,
    [1, 2, 3, 4, 5].filter((n) => n >= first),
    'the crashed worker held the requests from its first unanswered one through 5',
  );
  assert.deepEqual(
    outcomes.slice(0, first - 1).map((o) => (o.status === 'fulfilled' ? plain(o.value.y) : 'x')),
    [1, 2].filter((n) => n < first).map((n) => [n, -n]),
    'answers posted before the crash are delivered',
  );
  for (const o of outcomes) {
    if (o.status === 'rejected') assert.equal((o.reason as BastionError).code, 'INFERENCE_FAILED');
  }
  assert.deepEqual(
    outcomes.slice(5).map((o) => (o.status === 'fulfilled' ? plain(o.value.y) : undefined)),
    [6, 7, 8, 9, 10].map((n) => [n, -n]),
  );
  assert.equal(pair.stats().restarts, 1);
  assert.equal(pair.stats().inFlight, 0);
  // The replacement takes work again.
  while (pair.handoffStats().workers < 2) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(plain((await pair.run(tiny(7), ['y'])).y), [7, -7]);
});

test('a cancelled or timed-out request inside a worker batch rejects at once and never runs', async () => {
  const input = (): Record<string, HostTensor> => ({ input: f32Rows(256, 256, 0) });
  for (let i = 0; i < 2; i++) await slow.run(input(), ['output']); // the run time is measured
  const runsBefore = slow.stats().runs;
  const messagesBefore = slow.handoffStats().messages;
  const disconnect = new AbortController();
  const deadline = new AbortController();
  // The first run is long (a few hundred ms) so the aborts below land while it runs.
  const first = slow.run({ input: f32Rows(4096, 256, 0) }, ['output']);
  const gone = slow.run(input(), ['output'], { signal: disconnect.signal });
  const late = slow.run(input(), ['output'], { signal: deadline.signal });
  const last = slow.run(input(), ['output']);
  await turn(); // all four are now in the worker's batch; the first is running
  assert.equal(slow.handoffStats().messages, messagesBefore + 1);
  assert.equal(slow.stats().inFlight, 4);
  const closed = new BastionError('CLIENT_CLOSED_REQUEST', 'the client closed the request');
  const timedOut = new BastionError('DEADLINE_EXCEEDED', 'inference did not finish within 5 ms');
  disconnect.abort(closed);
  deadline.abort(timedOut);
  await assert.rejects(gone, (error) => error === closed);
  await assert.rejects(late, (error) => error === timedOut);
  assert.deepEqual((await first).output?.dims, [4096, 256]);
  assert.deepEqual((await last).output?.dims, [256, 256]);
  assert.equal(slow.stats().runs, runsBefore + 2, 'the cancelled requests never reached the model');
  assert.equal(slow.stats().inFlight, 0);
});
