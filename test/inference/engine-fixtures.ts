/** Shared fixtures for the inference engine tests: settings, tensors and sample data per type. */
import type { ElementType, HostTensor, SessionSettings } from '../../src/inference/engine.js';

/** One intra-op thread keeps the suite well-behaved on a small CI machine. */
export const cpuSettings: SessionSettings = Object.freeze<SessionSettings>({
  intraOpThreads: 1,
  interOpThreads: 1,
  graphOptimizationLevel: 'all',
  executionProviders: ['cpu'],
});

/** A float32 tensor. */
export function f32(dims: readonly number[], values: readonly number[]): HostTensor {
  return { type: 'float32', dims, data: Float32Array.from(values) };
}

/** A float32 tensor of `rows` × `cols` whose values are `seed + index / 8`. */
export function f32Rows(rows: number, cols: number, seed: number): HostTensor {
  return {
    type: 'float32',
    dims: [rows, cols],
    data: Float32Array.from({ length: rows * cols }, (_, i) => seed + i / 8),
  };
}

/** Sample data of `count` elements for every element type, distinct per `seed`. */
export function sampleTensor(type: ElementType, dims: readonly number[], seed = 0): HostTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const ints = Array.from({ length: count }, (_, i) => (seed * 7 + i) % 100);
  switch (type) {
    case 'string':
      return { type, dims, data: ints.map((n) => `s${seed}-${n}-é`) };
    case 'bool':
      return { type, dims, data: Uint8Array.from(ints, (n) => n % 2) };
    case 'int64':
      return { type, dims, data: BigInt64Array.from(ints, (n) => BigInt(n) - 2n ** 40n) };
    case 'uint64':
      return { type, dims, data: BigUint64Array.from(ints, (n) => BigInt(n) + 2n ** 60n) };
    case 'uint8':
      return { type, dims, data: Uint8Array.from(ints) };
    case 'int8':
      return { type, dims, data: Int8Array.from(ints, (n) => n - 50) };
    case 'uint16':
    case 'float16':
      return { type, dims, data: Uint16Array.from(ints, (n) => 0x3c00 + n) };
    case 'int16':
      return { type, dims, data: Int16Array.from(ints, (n) => n - 50) };
    case 'uint32':
      return { type, dims, data: Uint32Array.from(ints) };
    case 'int32':
      return { type, dims, data: Int32Array.from(ints, (n) => n - 50) };
    case 'float32':
      return { type, dims, data: Float32Array.from(ints, (n) => n / 4) };
    case 'float64':
      return { type, dims, data: Float64Array.from(ints, (n) => n / 3) };
  }
}

/** Every element type Bastion serves. */
export const allElementTypes: readonly ElementType[] = [
  'bool',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'int8',
  'int16',
  'int32',
  'int64',
  'float16',
  'float32',
  'float64',
  'string',
];

/** A copy of a tensor's data as a plain array, for deepEqual across containers. */
export function plain(tensor: HostTensor | undefined): unknown[] {
  if (tensor === undefined) return [];
  return Array.from(tensor.data as ArrayLike<unknown>);
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
