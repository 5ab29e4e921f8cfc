import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostTensor } from '../../src/inference/engine.js';
import { batchKey, batchRows, concatRows, splitRows } from '../../src/inference/tensor-batch.js';
import { allElementTypes, f32, plain, sampleTensor } from './engine-fixtures.js';

test('concat then split restores every element type, row order kept', () => {
  for (const type of allElementTypes) {
    const parts = [
      sampleTensor(type, [1, 3], 1),
      sampleTensor(type, [2, 3], 2),
      sampleTensor(type, [3, 3], 3),
    ];
    const merged = concatRows(parts);
    assert.deepEqual(merged.dims, [6, 3], type);
    assert.deepEqual(plain(merged), parts.flatMap(plain), type);
    const back = splitRows(merged, [1, 2, 3]);
    back.forEach((part, i) => {
      assert.deepEqual(part.dims, parts[i]?.dims, type);
      assert.deepEqual(plain(part), plain(parts[i]), type);
    });
  }
});

test('split parts own their buffers (no view onto a batch-mate)', () => {
  const [a, b] = splitRows(f32([2, 2], [1, 2, 3, 4]), [1, 1]);
  const data = a?.data as Float32Array;
  assert.equal(data.buffer.byteLength, data.byteLength);
  assert.deepEqual(plain(b), [3, 4]);
});

test('split refuses an output whose rows do not match', () => {
  assert.throws(() => splitRows(f32([3], [1, 2, 3]), [1, 1]), RangeError);
});

const badRequests: [string, Record<string, HostTensor>][] = [
  ['no feeds', {}],
  ['a scalar', { x: f32([], [1]) }],
  ['zero rows', { x: f32([0, 2], []) }],
  ['data shorter than dims', { x: f32([2, 2], [1, 2, 3]) }],
  ['a fractional dim', { x: f32([1.5, 2], [1, 2, 3]) }],
  ['the wrong container', { x: { type: 'int64', dims: [1], data: new Float32Array(1) } }],
  ['feeds with different rows', { x: f32([1], [1]), z: f32([2], [1, 2]) }],
];
for (const [name, feeds] of badRequests) {
  test(`batchRows: ${name} is not batchable`, () => {
    assert.equal(batchRows(feeds), undefined);
  });
}

test('batchRows and batchKey for batchable requests', () => {
  assert.equal(batchRows({ a: f32([2, 2], [1, 2, 3, 4]), b: sampleTensor('string', [2]) }), 2);
  const key = batchKey({ b: f32([3, 2], [1, 2, 3, 4, 5, 6]), a: sampleTensor('int64', [3]) });
  assert.equal(key, batchKey({ a: sampleTensor('int64', [1]), b: f32([1, 2], [0, 0]) }));
  assert.notEqual(key, batchKey({ a: sampleTensor('int64', [1]), b: f32([1, 1], [0]) }));
  assert.notEqual(key, batchKey({ a: sampleTensor('int32', [1]), b: f32([1, 2], [0, 0]) }));
});
