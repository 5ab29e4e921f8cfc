/**
 * The binary tensor extension's element codec (PROTOCOL.md "Binary tensor extension"): raw
 * little-endian elements, BOOL as one 0/1 byte, FP16 as raw half-precision bits, and BYTES as a
 * 4-byte little-endian length followed by that many bytes. Plain data only, no HTTP.
 */
import { BastionError } from '../errors.js';
import { elementByteSize, v2DatatypeOf } from './datatypes.js';
import type { ElementType, HostTensor, TensorData } from './engine.js';

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type FixedType = Exclude<ElementType, 'string'>;

/**
 * Decodes one input's binary data (`bytes` is exactly its `binary_data_size` bytes) into the typed
 * array of `type`. Checks the same things as the JSON path: the byte count must hold exactly
 * `count` elements, floats must be finite, BOOL bytes must be 0 or 1, BYTES must be valid UTF-8.
 * The result is a view on `bytes` when its offset is aligned for the element size (zero-copy),
 * otherwise a copy; callers must not reuse `bytes` while the tensor lives.
 *
 * @throws BastionError INVALID_BINARY_DATA (sizes), NON_FINITE_VALUE or INVALID_DATA (values).
 */
export function decodeBinaryElements(
  input: string,
  type: ElementType,
  count: number,
  bytes: Uint8Array,
): TensorData {
  if (type === 'string') return decodeBinaryStrings(input, count, bytes);
  const size = elementByteSize(type);
  if (bytes.byteLength !== count * size) {
    throw new BastionError(
      'INVALID_BINARY_DATA',
      `input "${input}": binary_data_size is ${bytes.byteLength} bytes but shape × ${v2DatatypeOf(type)} needs ${count * size}`,
    );
  }
  const data = viewOrCopy(type, count, bytes);
  checkValues(input, type, data);
  return data;
}

function viewOrCopy(
  type: FixedType,
  count: number,
  bytes: Uint8Array,
): Exclude<TensorData, string[]> {
  const size = elementByteSize(type);
  let buffer: ArrayBufferLike = bytes.buffer;
  let offset = bytes.byteOffset;
  if (!littleEndianHost || offset % size !== 0) {
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    if (!littleEndianHost) swapInPlace(copy, size);
    buffer = copy.buffer;
    offset = 0;
  }
  switch (type) {
    case 'bool':
    case 'uint8':
      return new Uint8Array(buffer, offset, count);
    case 'int8':
      return new Int8Array(buffer, offset, count);
    case 'uint16':
    case 'float16':
      return new Uint16Array(buffer, offset, count);
    case 'int16':
      return new Int16Array(buffer, offset, count);
    case 'uint32':
      return new Uint32Array(buffer, offset, count);
    case 'int32':
      return new Int32Array(buffer, offset, count);
    case 'float32':
      return new Float32Array(buffer, offset, count);
    case 'uint64':
      return new BigUint64Array(buffer, offset, count);
    case 'int64':
      return new BigInt64Array(buffer, offset, count);
    case 'float64':
      return new Float64Array(buffer, offset, count);
  }
}

function checkValues(input: string, type: FixedType, data: Exclude<TensorData, string[]>): void {
  switch (type) {
    case 'float32':
    case 'float64': {
      const values = data as Float32Array | Float64Array;
      for (let i = 0; i < values.length; i++) {
        const v = values[i] ?? 0;
        // v - v is 0 for finite v and NaN for NaN or ±Infinity: one comparison per element.
        if (v - v !== 0) {
          throw new BastionError(
            'NON_FINITE_VALUE',
            `input "${input}": element ${i} (${v}) is not a finite ${type === 'float32' ? 'FP32' : 'FP64'} value`,
          );
        }
      }
      return;
    }
    case 'float16': {
      const values = data as Uint16Array;
      for (let i = 0; i < values.length; i++) {
        if (((values[i] ?? 0) & 0x7c00) === 0x7c00) {
          throw new BastionError(
            'NON_FINITE_VALUE',
            `input "${input}": element ${i} is not a finite FP16 value (bits 0x${(values[i] ?? 0).toString(16)})`,
          );
        }
      }
      return;
    }
    case 'bool': {
      const values = data as Uint8Array;
      for (let i = 0; i < values.length; i++) {
        const v = values[i] ?? 0;
        if (v > 1) {
          throw new BastionError(
            'INVALID_DATA',
            `input "${input}": element ${i} must be a BOOL byte (0 or 1), got ${v}`,
          );
        }
      }
      return;
    }
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
    case 'uint8':
    case 'uint16':
    case 'uint32':
    case 'uint64':
      // Every bit pattern of an integer type is a valid value.
      return;
  }
}

function decodeBinaryStrings(input: string, count: number, bytes: Uint8Array): string[] {
  const out = new Array<string>(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.byteLength) {
      throw new BastionError(
        'INVALID_BINARY_DATA',
        `input "${input}": binary data ends before element ${i} of ${count} (BYTES: 4-byte length, then bytes)`,
      );
    }
    const length = view.getUint32(at, true);
    at += 4;
    if (length > bytes.byteLength - at) {
      throw new BastionError(
        'INVALID_BINARY_DATA',
        `input "${input}": element ${i} declares ${length} bytes but only ${bytes.byteLength - at} remain`,
      );
    }
    try {
      out[i] = utf8.decode(bytes.subarray(at, at + length));
    } catch {
      throw new BastionError('INVALID_DATA', `input "${input}": element ${i} is not valid UTF-8`);
    }
    at += length;
  }
  if (at !== bytes.byteLength) {
    throw new BastionError(
      'INVALID_BINARY_DATA',
      `input "${input}": ${bytes.byteLength - at} bytes remain after its ${count} BYTES elements`,
    );
  }
  return out;
}

/**
 * Encodes a tensor's elements in binary form. Fixed-size types on a little-endian host are
 * returned as a view on the tensor's own memory (no copy); BYTES elements are length-prefixed UTF-8.
 */
export function encodeBinaryElements(tensor: HostTensor): Uint8Array {
  const { data } = tensor;
  if (Array.isArray(data)) return encodeBinaryStrings(data);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (littleEndianHost) return bytes;
  const copy = bytes.slice();
  swapInPlace(copy, elementByteSize(tensor.type));
  return copy;
}

function encodeBinaryStrings(values: readonly string[]): Uint8Array {
  // One native UTF-8 encode of all the strings, then each length-prefixed: an encode (or a
  // buffer write) per string costs a native call each, ~1 µs, which adds up on the event loop.
  // A lone surrogate (written as U+FFFD) could pair up with its neighbour across a join: such
  // strings are encoded one by one.
  const lengths = values.map(utf8Length);
  if (lengths.some(Number.isNaN)) return lengthPrefixed(values.map((v) => Buffer.from(v, 'utf8')));
  const joined = Buffer.from(values.join(''), 'utf8');
  const out = new Uint8Array(joined.length + 4 * values.length);
  const view = new DataView(out.buffer);
  let at = 0;
  let from = 0;
  for (const length of lengths) {
    view.setUint32(at, length, true);
    for (let b = 0; b < length; b++) out[at + 4 + b] = joined[from + b] ?? 0;
    at += 4 + length;
    from += length;
  }
  return out;
}

function lengthPrefixed(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += 4 + p.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.byteLength, true);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  return out;
}

/** The UTF-8 length of `s`; NaN when it holds a lone surrogate. */
function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c < 0xd800 || c > 0xdfff) bytes += 3;
    else {
      const next = s.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return NaN;
      bytes += 4;
      i++;
    }
  }
  return bytes;
}

/** Reverses each `size`-byte group (little-endian ↔ big-endian); a no-op for single bytes. */
function swapInPlace(bytes: Uint8Array, size: number): void {
  if (size <= 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}
