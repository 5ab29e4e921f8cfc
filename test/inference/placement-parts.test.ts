import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { createInlineEngine } from '../../src/inference/inline-engine.js';
import { demoteAfterSlowRuns, lazyPool, slowRunWatch } from '../../src/inference/placement.js';

const settings = {
  intraOpThreads: 1,
  interOpThreads: 1,
  graphOptimizationLevel: 'all',
  executionProviders: ['cpu'],
} as const;

void describe('slow-run watch', () => {
  void it(`demotes once, on the ${demoteAfterSlowRuns}th slow inline run in a row`, () => {
    let demoted = 0;
    const watch = slowRunWatch(1, () => demoted++);
    for (let i = 1; i < demoteAfterSlowRuns; i++) watch(5, true);
    assert.equal(demoted, 0);
    watch(5, true);
    assert.equal(demoted, 1);
    watch(5, true);
    assert.equal(demoted, 1, 'not again while the count runs on');
  });

  void it('a run within the bound starts the count again; runs not inline do not count', () => {
    let demoted = 0;
    const watch = slowRunWatch(1, () => demoted++);
    for (let i = 1; i < demoteAfterSlowRuns; i++) watch(5, true);
    watch(1, true);
    for (let i = 1; i < demoteAfterSlowRuns; i++) watch(5, true);
    watch(5, false);
    assert.equal(demoted, 0);
    watch(5, true);
    assert.equal(demoted, 1);
  });
});

void describe('lazy pool', () => {
  void it('starts on first need, once, and closes what it started', async () => {
    let created = 0;
    const pool = lazyPool(async () => {
      created++;
      return createInlineEngine(buildIdentityModel('float32', [1]), settings, 'p');
    });
    assert.deepEqual([pool.started, pool.engine, created], [false, undefined, 0]);
    const [a, b] = await Promise.all([pool.start(), pool.start()]);
    assert.equal(a, b);
    assert.equal(created, 1);
    assert.equal(pool.engine, a);
    assert.equal(pool.started, true);
    await pool.close();
    await assert.rejects(
      a.run({ x: { type: 'float32', dims: [1], data: new Float32Array(1) } }, ['y']),
    );
  });

  void it('a pool that failed to start closes quietly', async () => {
    const pool = lazyPool(() => Promise.reject(new Error('no workers')));
    await assert.rejects(pool.start(), /no workers/);
    assert.equal(pool.started, true);
    assert.equal(pool.engine, undefined);
    await pool.close();
  });
});
