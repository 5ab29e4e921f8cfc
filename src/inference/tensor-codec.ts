import { BastionError } from '../errors.js';
import type { ElementType, HostTensor, TensorData } from './engine.js';
import { v2DatatypeOf, type V2Datatype } from './datatypes.js';
import { float16Bits, float16Value } from './float16.js';

/** Deepest nesting accepted in a tensor's `data` (rank is bounded far below this). */
export const maxNestingDepth = 32;

/** A JSON element of an encoded tensor: numbers, booleans, or strings for BYTES. */
export type JsonElement = number | boolean | string;

/** A tensor in the v2 JSON form. */
export interface JsonTensor {
  name: string;
  datatype: V2Datatype;
  shape: number[];
  data: JsonElement[];
}

const integerRanges = {
  int8: [-128, 127],
  int16: [-32_768, 32_767],
  int32: [-2_147_483_648, 2_147_483_647],
  uint8: [0, 255],
  uint16: [0, 65_535],
  uint32: [0, 4_294_967_295],
} as const;

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
const uint64Max = 2n ** 64n - 1n;
const decimal = /^-?(0|[1-9][0-9]{0,19})$/;

/**
 * Flattens `data` (flat or nested arrays, row-major) into one array of `count` elements.
 * Stops as soon as more than `count` elements are seen, so a huge body costs no more than it must.
 *
 * @throws BastionError INVALID_DATA or DATA_LENGTH_MISMATCH naming the input.
 */
export function flattenData(input: string, data: unknown, count: number): readonly unknown[] {
  if (!Array.isArray(data)) {
    throw new BastionError('INVALID_DATA', `input "${input}": data must be an array`);
  }
  // Fast path: an already flat array.
  if (data.length === count && (count === 0 || !Array.isArray(data[0]))) {
    let flat = true;
    for (const value of data) {
      if (Array.isArray(value)) {
        flat = false;
        break;
      }
    }
    if (flat) return data;
  }
  const out: unknown[] = [];
  const stack: { items: readonly unknown[]; index: number }[] = [{ items: data, index: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top === undefined) break;
    if (top.index >= top.items.length) {
      stack.pop();
      continue;
    }
    const value = top.items[top.index++];
    if (Array.isArray(value)) {
      if (stack.length >= maxNestingDepth) {
        throw new BastionError(
          'INVALID_DATA',
          `input "${input}": data is nested deeper than ${maxNestingDepth} levels`,
        );
      }
      stack.push({ items: value, index: 0 });
      continue;
    }
    if (out.length >= count) {
      throw lengthMismatch(input, count, `more than ${count}`);
    }
    out.push(value);
  }
  if (out.length !== count) throw lengthMismatch(input, count, String(out.length));
  return out;
}

/**
 * {@link flattenData} then {@link decodeElements}, in one pass over the usual flat `data`: a flat
 * array of exactly `count` elements is decoded straight into its typed array; nested data (or a
 * top level whose length is not `count`) is flattened first. Errors are those of the two steps.
 *
 * @throws BastionError as {@link flattenData} and {@link decodeElements} do.
 */
export function decodeTensorData(
  input: string,
  type: ElementType,
  data: unknown,
  count: number,
): TensorData {
  if (Array.isArray(data) && data.length === count) {
    try {
      return decodeElements(input, type, data);
    } catch (error) {
      // `[[1], [2]]` for shape [2, 1] has `count` items too: only then is it nested, not bad.
      if (!data.some((item) => Array.isArray(item))) throw error;
    }
  }
  return decodeElements(input, type, flattenData(input, data, count));
}

function lengthMismatch(input: string, expected: number, got: string): BastionError {
  return new BastionError(
    'DATA_LENGTH_MISMATCH',
    `input "${input}": shape holds ${expected} elements but data has ${got}`,
  );
}

/**
 * Converts JSON elements into the typed array of `type`. INT64/UINT64 accept safe-integer numbers
 * or decimal strings (exact beyond 2^53); FP16 accepts numbers and rounds to half precision.
 *
 * @throws BastionError INVALID_DATA, VALUE_OUT_OF_RANGE or NON_FINITE_VALUE naming the element.
 */
export function decodeElements(
  input: string,
  type: ElementType,
  values: readonly unknown[],
): TensorData {
  switch (type) {
    case 'float32':
    case 'float64':
      return decodeFloats(input, type, values);
    case 'float16':
      return decodeFloat16(input, values);
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint8':
    case 'uint16':
    case 'uint32':
      return decodeSmallIntegers(input, type, values);
    case 'int64':
    case 'uint64':
      return decodeBigIntegers(input, type, values);
    case 'bool':
      return decodeBools(input, values);
    case 'string':
      return decodeStrings(input, values);
  }
}

function invalidElement(input: string, i: number, what: string): BastionError {
  return new BastionError('INVALID_DATA', `input "${input}": element ${i} ${what}`);
}

function decodeBools(input: string, values: readonly unknown[]): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'boolean')
      throw invalidElement(input, i, `must be true or false, got ${describe(v)}`);
    out[i] = v ? 1 : 0;
  }
  return out;
}

function decodeStrings(input: string, values: readonly unknown[]): string[] {
  const out: string[] = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'string')
      throw invalidElement(input, i, `must be a string, got ${describe(v)}`);
    out[i] = v;
  }
  return out;
}

function decodeFloats(
  input: string,
  type: 'float32' | 'float64',
  values: readonly unknown[],
): Float32Array | Float64Array {
  const n = values.length;
  const out = type === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v !== 'number')
      throw invalidElement(input, i, `must be a number, got ${describe(v)}`);
    out[i] = v;
    if (!Number.isFinite(out[i])) {
      throw new BastionError(
        'NON_FINITE_VALUE',
        `input "${input}": element ${i} (${v}) is not a finite ${type === 'float32' ? 'FP32' : 'FP64'} value`,
      );
    }
  }
  return out;
}

function decodeFloat16(input: string, values: readonly unknown[]): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number')
      throw invalidElement(input, i, `must be a number, got ${describe(v)}`);
    const bits = float16Bits(v);
    if ((bits & 0x7c00) === 0x7c00) {
      throw new BastionError(
        'NON_FINITE_VALUE',
        `input "${input}": element ${i} (${v}) is not a finite FP16 value (|x| ≤ 65504)`,
      );
    }
    out[i] = bits;
  }
  return out;
}

function decodeSmallIntegers(
  input: string,
  type: 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32',
  values: readonly unknown[],
): Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array {
  const [min, max] = integerRanges[type];
  const out = typedArrayFor(type, values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw invalidElement(input, i, `must be an integer, got ${describe(v)}`);
    }
    if (v < min || v > max) {
      throw new BastionError(
        'VALUE_OUT_OF_RANGE',
        `input "${input}": element ${i} (${v}) is outside ${v2DatatypeOf(type)} [${min}, ${max}]`,
      );
    }
    out[i] = v;
  }
  return out;
}

function decodeBigIntegers(
  input: string,
  type: 'int64' | 'uint64',
  values: readonly unknown[],
): BigInt64Array | BigUint64Array {
  const out =
    type === 'int64' ? new BigInt64Array(values.length) : new BigUint64Array(values.length);
  const [min, max] = type === 'int64' ? [int64Min, int64Max] : [0n, uint64Max];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    let big: bigint;
    if (typeof v === 'number') {
      if (!Number.isInteger(v))
        throw invalidElement(input, i, `must be an integer, got ${describe(v)}`);
      if (!Number.isSafeInteger(v)) {
        throw new BastionError(
          'VALUE_OUT_OF_RANGE',
          `input "${input}": element ${i} is beyond 2^53 and cannot be exact as a JSON number; send it as a decimal string`,
        );
      }
      big = BigInt(v);
    } else if (typeof v === 'string' && decimal.test(v)) {
      big = BigInt(v);
    } else {
      throw invalidElement(input, i, `must be an integer or a decimal string, got ${describe(v)}`);
    }
    if (big < min || big > max) {
      throw new BastionError(
        'VALUE_OUT_OF_RANGE',
        `input "${input}": element ${i} (${big}) is outside ${v2DatatypeOf(type)}`,
      );
    }
    out[i] = big;
  }
  return out;
}

function typedArrayFor(
  type: 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32',
  n: number,
): Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array {
  switch (type) {
    case 'int8':
      return new Int8Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'uint8':
      return new Uint8Array(n);
    case 'uint16':
      return new Uint16Array(n);
    case 'uint32':
      return new Uint32Array(n);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}

/**
 * Encodes a tensor for a JSON response. INT64/UINT64 elements are numbers when they fit in 2^53 and
 * decimal strings beyond; non-finite floats become the strings "NaN", "Infinity", "-Infinity".
 */
export function encodeTensor(name: string, tensor: HostTensor): JsonTensor {
  return {
    name,
    datatype: v2DatatypeOf(tensor.type),
    shape: [...tensor.dims],
    data: encodeElements(tensor.type, tensor.data),
  };
}

function encodeElements(type: ElementType, data: TensorData): JsonElement[] {
  const n = data.length;
  const out = new Array<JsonElement>(n);
  switch (type) {
    case 'float32':
    case 'float64': {
      const values = data as Float32Array | Float64Array;
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? 0;
        out[i] = Number.isFinite(v) ? v : String(v);
      }
      return out;
    }
    case 'float16': {
      const values = data as Uint16Array;
      for (let i = 0; i < n; i++) {
        const v = float16Value(values[i] ?? 0);
        out[i] = Number.isFinite(v) ? v : String(v);
      }
      return out;
    }
    case 'int64':
    case 'uint64': {
      const values = data as BigInt64Array | BigUint64Array;
      for (let i = 0; i < n; i++) {
        const v = values[i] ?? 0n;
        const asNumber = Number(v);
        out[i] = Number.isSafeInteger(asNumber) ? asNumber : v.toString();
      }
      return out;
    }
    case 'bool': {
      const values = data as Uint8Array;
      for (let i = 0; i < n; i++) out[i] = values[i] !== 0;
      return out;
    }
    case 'string':
      return [...(data as string[])];
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint8':
    case 'uint16':
    case 'uint32': {
      const values = data as Int32Array;
      for (let i = 0; i < n; i++) out[i] = values[i] ?? 0;
      return out;
    }
  }
}
