/**
 * Turns JavaScript arrays into encoded ONNX tensors (`TensorSpec`): little-endian `raw_data` for
 * numeric and boolean types, UTF-8 `string_data` for strings.
 */
import { ELEM_BYTE_WIDTH, type ElemType } from './elem-types.js';
import type { TensorSpec } from './onnx-proto.js';

/**
 * Values for a tensor, in row-major order. Numbers (or a typed array) for numeric types; bigints
 * also for `int64`/`uint64`; booleans (or 0/1) for `bool`; strings for `string`. For `float16`
 * a `Uint16Array` is taken as raw IEEE half bits (ONNX Runtime's convention), while plain
 * numbers are rounded to the nearest half.
 */
export type TensorValues =
  ArrayLike<number> | ArrayLike<bigint> | readonly boolean[] | readonly string[];

const INT_RANGE = {
  int8: [-0x80, 0x7f],
  int16: [-0x8000, 0x7fff],
  int32: [-0x80000000, 0x7fffffff],
  uint8: [0, 0xff],
  uint16: [0, 0xffff],
  uint32: [0, 0xffffffff],
} as const;

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/**
 * Rounds a number to IEEE 754 binary16 bits (round to nearest, ties to even, via float32).
 */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = f32Bits[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : 0x200);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  let shift = 13;
  let full = mant;
  let base = e << 10;
  if (e <= 0) {
    if (e < -10) return sign;
    full = mant | 0x800000;
    shift = 14 - e;
    base = 0;
  }
  let half = base | (full >>> shift);
  const rest = full & ((1 << shift) - 1);
  const mid = 1 << (shift - 1);
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > mid || (rest === mid && (half & 1) === 1)) half++;
  return sign | half;
}

/** Number of elements a shape holds (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => n * d, 1);
}

function asNumber(elemType: ElemType, v: unknown, i: number): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new TypeError(`${elemType} tensor: element ${i} is ${typeof v}, expected a number`);
}

function asBigInt(elemType: ElemType, v: unknown, i: number): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new TypeError(`${elemType} tensor: element ${i} (${String(v)}) is not an integer`);
}

function asInteger(elemType: keyof typeof INT_RANGE, v: unknown, i: number): number {
  const n = asNumber(elemType, v, i);
  const [min, max] = INT_RANGE[elemType];
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${elemType} tensor: element ${i} (${n}) is out of range`);
  }
  return n;
}

function encodeRaw(elemType: Exclude<ElemType, 'string'>, values: TensorValues): Uint8Array {
  const count = values.length;
  const bytes = new Uint8Array(count * ELEM_BYTE_WIDTH[elemType]);
  const view = new DataView(bytes.buffer);
  const rawHalf = elemType === 'float16' && values instanceof Uint16Array;
  for (let i = 0; i < count; i++) {
    const v: unknown = values[i];
    switch (elemType) {
      case 'float32':
        view.setFloat32(i * 4, asNumber(elemType, v, i), true);
        break;
      case 'float64':
        view.setFloat64(i * 8, asNumber(elemType, v, i), true);
        break;
      case 'float16':
        view.setUint16(
          i * 2,
          rawHalf ? (v as number) : toFloat16Bits(asNumber(elemType, v, i)),
          true,
        );
        break;
      case 'int8':
        view.setInt8(i, asInteger(elemType, v, i));
        break;
      case 'uint8':
        view.setUint8(i, asInteger(elemType, v, i));
        break;
      case 'int16':
        view.setInt16(i * 2, asInteger(elemType, v, i), true);
        break;
      case 'uint16':
        view.setUint16(i * 2, asInteger(elemType, v, i), true);
        break;
      case 'int32':
        view.setInt32(i * 4, asInteger(elemType, v, i), true);
        break;
      case 'uint32':
        view.setUint32(i * 4, asInteger(elemType, v, i), true);
        break;
      case 'int64':
        view.setBigInt64(i * 8, BigInt.asIntN(64, asBigInt(elemType, v, i)), true);
        break;
      case 'uint64':
        view.setBigUint64(i * 8, BigInt.asUintN(64, asBigInt(elemType, v, i)), true);
        break;
      case 'bool':
        view.setUint8(i, asNumber(elemType, v, i) === 0 ? 0 : 1);
        break;
    }
  }
  return bytes;
}

/**
 * Encodes a named tensor (an initializer or a `Constant` value).
 *
 * @throws RangeError if a dim is not a non-negative integer, the number of values does not match
 *   the shape, or an integer is out of range for `elemType`.
 * @throws TypeError if a value has the wrong JavaScript type for `elemType`.
 */
export function createTensor(
  name: string,
  elemType: ElemType,
  dims: readonly number[],
  values: TensorValues,
): TensorSpec {
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`tensor ${name}: bad dim ${d}`);
  }
  const expected = elementCount(dims);
  if (values.length !== expected) {
    throw new RangeError(
      `tensor ${name}: shape [${dims.join(',')}] needs ${expected} values, got ${values.length}`,
    );
  }
  const frozenDims = Object.freeze([...dims]);
  if (elemType === 'string') {
    const utf8 = new TextEncoder();
    const stringData = Array.from(values as ArrayLike<unknown>, (v, i) => {
      if (typeof v !== 'string') throw new TypeError(`tensor ${name}: element ${i} not a string`);
      return utf8.encode(v);
    });
    return { name, elemType, dims: frozenDims, stringData };
  }
  return { name, elemType, dims: frozenDims, rawData: encodeRaw(elemType, values) };
}
