/**
 * The direct JSON writer gives byte for byte what `JSON.stringify(encodeTensor(...))` gives, for
 * every element type and the awkward values; the one-pass decoder matches flatten + decode.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostTensor } from '../../src/inference/engine.js';
import {
  decodeElements,
  decodeTensorData,
  encodeTensor,
  flattenData,
} from '../../src/inference/tensor-codec.js';
import { tensorJson } from '../../src/inference/tensor-json.js';
import { allElementTypes, sampleTensor } from './engine-fixtures.js';

const awkward: HostTensor[] = [
  { type: 'float32', dims: [6], data: Float32Array.of(0.1, -0, 1e-45, 3.4e38, -1.5, 1 / 3) },
  { type: 'float32', dims: [3], data: Float32Array.of(NaN, Infinity, -Infinity) },
  { type: 'float64', dims: [4], data: Float64Array.of(Number.MIN_VALUE, 1e21, -1e-7, 5e-324) },
  { type: 'float64', dims: [2], data: Float64Array.of(1, NaN) },
  { type: 'int64', dims: [3], data: BigInt64Array.of(-(2n ** 53n) + 1n, 0n, 2n ** 53n - 1n) },
  { type: 'int64', dims: [2], data: BigInt64Array.of(2n ** 53n, -(2n ** 63n)) },
  { type: 'uint64', dims: [2], data: BigUint64Array.of(2n ** 64n - 1n, 7n) },
  { type: 'uint32', dims: [2], data: Uint32Array.of(4_294_967_295, 0) },
  { type: 'float16', dims: [3], data: Uint16Array.of(0x3c00, 0x7c00, 0x7e00) },
  { type: 'string', dims: [3], data: ['a"b', '\\u0000\n', 'é€😀'] },
  { type: 'float32', dims: [0], data: new Float32Array(0) },
];

test('tensorJson equals JSON.stringify(encodeTensor) for every type and awkward values', () => {
  const cases = [...allElementTypes.map((type) => sampleTensor(type, [2, 3], 4)), ...awkward];
  for (const tensor of cases) {
    const name = `out "${tensor.type}"`;
    assert.equal(
      tensorJson(name, tensor),
      JSON.stringify(encodeTensor(name, tensor)),
      `${tensor.type} ${String(tensor.data)}`,
    );
  }
});

test('decodeTensorData equals flatten + decode, nested or flat, and fails the same way', () => {
  const inputs: [unknown, number][] = [
    [[1, 2, 3, 4], 4],
    [
      [
        [1, 2],
        [3, 4],
      ],
      4,
    ],
    [[[1], [2]], 2],
    [[1, [2]], 2],
    [[1, 'x'], 2],
    [[1, 2, 3], 2],
    [[1], 2],
    ['nope', 1],
    [[1e40], 1],
  ];
  for (const [data, count] of inputs) {
    let expected: unknown;
    try {
      expected = decodeElements('x', 'float32', flattenData('x', data, count));
    } catch (error) {
      expected = error;
    }
    let actual: unknown;
    try {
      actual = decodeTensorData('x', 'float32', data, count);
    } catch (error) {
      actual = error;
    }
    assert.deepEqual(actual, expected, JSON.stringify(data));
  }
});
