/**
 * Concatenating requests along dim 0 and splitting a batched result back, for every element
 * type (typed arrays, bigint arrays and string arrays alike). Pure functions, no ONNX Runtime.
 */
import type { ElementArrays, ElementType, HostTensor, TensorData } from './engine.js';

type NumericType = Exclude<ElementType, 'string'>;
type NumericArray = ElementArrays[NumericType];

const arrayTypes = {
  bool: Uint8Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
} as const satisfies Record<NumericType, unknown>;

/** True when `data` is the container {@link ElementArrays} prescribes for `type`. */
export function hasElementArray(type: ElementType, data: TensorData): boolean {
  if (type === 'string') return Array.isArray(data);
  return data instanceof arrayTypes[type];
}

function elementCount(dims: readonly number[]): number {
  return dims.reduce((product, d) => product * d, 1);
}

/**
 * The rows (dim 0) of a request when it can be merged with others: every feed has rank ≥ 1,
 * non-negative integer dims, data of the right container and length, and the same dim 0 ≥ 1.
 * Undefined otherwise (such a request runs alone, and the engine reports what is wrong).
 */
export function batchRows(feeds: Readonly<Record<string, HostTensor>>): number | undefined {
  let rows: number | undefined;
  const tensors = Object.values(feeds);
  if (tensors.length === 0) return undefined;
  for (const tensor of tensors) {
    const [first] = tensor.dims;
    if (first === undefined || first < 1) return undefined;
    if (!tensor.dims.every((d) => Number.isSafeInteger(d) && d >= 0)) return undefined;
    if (!hasElementArray(tensor.type, tensor.data)) return undefined;
    if (tensor.data.length !== elementCount(tensor.dims)) return undefined;
    if (rows !== undefined && rows !== first) return undefined;
    rows = first;
  }
  return rows;
}

/**
 * A key equal for requests that can share a batch: same input names, element types and
 * non-batch dims.
 */
export function batchKey(feeds: Readonly<Record<string, HostTensor>>): string {
  return Object.keys(feeds)
    .sort()
    .map((name) => {
      const tensor = feeds[name] as HostTensor;
      return `${JSON.stringify(name)}:${tensor.type}[${tensor.dims.slice(1).join(',')}]`;
    })
    .join(';');
}

/** Concatenates tensors of one type and equal non-batch dims along dim 0 into new storage. */
export function concatRows(parts: readonly HostTensor[]): HostTensor {
  const [head] = parts;
  if (head === undefined) throw new RangeError('concatRows needs at least one tensor');
  const rows = parts.reduce((sum, part) => sum + (part.dims[0] ?? 0), 0);
  const dims = [rows, ...head.dims.slice(1)];
  if (head.type === 'string') {
    const data: string[] = [];
    for (const part of parts) data.push(...(part.data as string[]));
    return { type: head.type, dims, data };
  }
  const total = parts.reduce((sum, part) => sum + part.data.length, 0);
  const data = new arrayTypes[head.type](total);
  let offset = 0;
  for (const part of parts) {
    // Same type by construction, so the element kinds (number or bigint) agree.
    (data as Uint8Array).set(part.data as Uint8Array, offset);
    offset += part.data.length;
  }
  return { type: head.type, dims, data };
}

/**
 * Splits a batched tensor back into consecutive row groups, copying each part into its own
 * buffer (a caller never holds a view onto a batch-mate's data).
 *
 * @throws RangeError when dim 0 is not the sum of `rowCounts` (the model did not keep the batch).
 */
export function splitRows(tensor: HostTensor, rowCounts: readonly number[]): HostTensor[] {
  const [rows] = tensor.dims;
  const expected = rowCounts.reduce((sum, n) => sum + n, 0);
  if (rows !== expected) {
    throw new RangeError(`batched output has ${rows ?? 'no'} rows, expected ${expected}`);
  }
  const rowSize = elementCount(tensor.dims.slice(1));
  const parts: HostTensor[] = [];
  let start = 0;
  for (const count of rowCounts) {
    const end = start + count * rowSize;
    const data =
      tensor.type === 'string'
        ? (tensor.data as string[]).slice(start, end)
        : (tensor.data as NumericArray).slice(start, end);
    parts.push({ type: tensor.type, dims: [count, ...tensor.dims.slice(1)], data });
    start = end;
  }
  return parts;
}
