/**
 * `node --import tsx bench/codec.ts`: CPU per call of the response writer and the input decoder
 * against the previous way (encodeTensor + JSON.stringify; flattenData + decodeElements), on an
 * mlp-sized (64 floats) and a larger (65,536 floats) tensor. Fresh values for every call, so
 * V8's number-to-string cache does not flatter either side; best of five.
 */
import { performance } from 'node:perf_hooks';
import type { HostTensor } from '../src/inference/engine.js';
import {
  decodeElements,
  decodeTensorData,
  encodeTensor,
  flattenData,
} from '../src/inference/tensor-codec.js';
import { tensorJson } from '../src/inference/tensor-json.js';

function time(fn: (i: number) => unknown, iterations: number): number {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    for (let i = 0; i < iterations; i++) fn(i);
    best = Math.min(best, ((performance.now() - started) * 1000) / iterations);
  }
  return best;
}

for (const n of [64, 65_536]) {
  const iterations = n === 64 ? 5_000 : 10;
  const tensors: HostTensor[] = Array.from({ length: iterations }, () => ({
    type: 'float32',
    dims: [1, n],
    data: Float32Array.from({ length: n }, () => Math.random() * 2 - 1),
  }));
  const values = tensors.map((t) => Array.from(t.data as Float32Array));
  const tensor = (i: number): HostTensor => {
    const t = tensors[i] as HostTensor;
    (t.data as Float32Array)[0] = Math.random(); // a fresh value every call
    return t;
  };
  const old = time((i) => JSON.stringify(encodeTensor('output', tensor(i))), iterations);
  const now = time((i) => tensorJson('output', tensor(i)), iterations);
  const oldDecode = time(
    (i) => decodeElements('input', 'float32', flattenData('input', values[i] ?? [], n)),
    iterations,
  );
  const newDecode = time(
    (i) => decodeTensorData('input', 'float32', values[i] ?? [], n),
    iterations,
  );
  process.stdout.write(
    `${n} floats: encode ${old.toFixed(2)} -> ${now.toFixed(2)} µs; decode ${oldDecode.toFixed(2)} -> ${newDecode.toFixed(2)} µs\n`,
  );
}
