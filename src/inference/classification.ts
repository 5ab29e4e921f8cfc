/**
 * Triton's classification extension: an output requested with `parameters.classification: k`
 * is answered as BYTES of shape `[batch, k]` (or `[k]` for an unbatched output) holding
 * `"<score>:<index>"` strings, highest score first, with `:<label>` when the model version's
 * signed folder carries `labels.txt` (one label per line, line N labelling class N).
 */
import { BastionError, RefusalError } from '../errors.js';
import type { HostTensor, TensorSpec } from './engine.js';
import { float16Value } from './float16.js';
import { inSlices, type MaybePromise } from './slices.js';

/** The labels file Triton users know: one label per line, in class-index order. */
export const labelsFileName = 'labels.txt';

/** Largest number of labels read from a labels file. */
const maxLabels = 1_000_000;

/**
 * Parses a labels file: one label per line (LF or CRLF), a trailing empty line ignored. A label
 * may be empty (that class then gets no `:<label>` suffix).
 *
 * @throws RefusalError `labels-invalid` when the file is not UTF-8 text or holds more than a
 *   million lines.
 */
export function parseLabels(bytes: Uint8Array): readonly string[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new RefusalError('labels-invalid', `${labelsFileName} is not UTF-8 text`, {
      cause: error,
    });
  }
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  if (lines.length > maxLabels)
    throw new RefusalError(
      'labels-invalid',
      `${labelsFileName} holds more than ${maxLabels} lines`,
    );
  return Object.freeze(lines);
}

/** The labels of a version folder's files (read once, verified): undefined without `labels.txt`. */
export function labelsOf(files: ReadonlyMap<string, Uint8Array>): readonly string[] | undefined {
  const bytes = files.get(labelsFileName);
  return bytes === undefined ? undefined : parseLabels(bytes);
}

/**
 * Reads and checks the `classification` parameter of a requested output against the output's
 * declaration: a whole number k ≥ 1, an output of rank 1 or 2 with numeric elements, and k no
 * more than the class count when that dimension is fixed. Returns undefined without the parameter.
 *
 * @throws BastionError `INVALID_REQUEST` naming the output and what is wrong.
 */
export function classificationCountOf(
  spec: TensorSpec,
  value: string | number | boolean | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const where = `output "${spec.name}": parameters.classification`;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new BastionError('INVALID_REQUEST', `${where} must be a whole number of classes ≥ 1`);
  }
  if (spec.type === 'string' || spec.type === 'bool') {
    throw new BastionError(
      'INVALID_REQUEST',
      `${where}: this output is not numeric, so it has no scores to rank`,
    );
  }
  if (spec.dims.length < 1 || spec.dims.length > 2) {
    throw new BastionError(
      'INVALID_REQUEST',
      `${where}: classification needs an output of shape [classes] or [batch, classes]`,
    );
  }
  const classes = spec.dims.at(-1) ?? -1;
  if (classes >= 0 && value > classes) {
    throw new BastionError(
      'INVALID_REQUEST',
      `${where} is ${value}, but this output has only ${classes} classes`,
    );
  }
  return value;
}

/** The shortest decimal that reads back as the same float32 (how a client wrote the value). */
function formatFloat32(value: number): string {
  for (let digits = 1; digits < 10; digits++) {
    const text = value.toPrecision(digits);
    if (Math.fround(Number(text)) === value) return String(Number(text));
  }
  return String(value);
}

function scoreReader(tensor: HostTensor): (i: number) => number {
  const data = tensor.data;
  switch (tensor.type) {
    case 'float16':
      return (i) => float16Value((data as Uint16Array)[i] ?? 0);
    case 'int64':
    case 'uint64':
      return (i) => Number((data as BigInt64Array | BigUint64Array)[i] ?? 0n);
    case 'string':
    case 'bool':
      throw new BastionError('INVALID_REQUEST', 'classification needs a numeric output');
    case 'float32':
    case 'float64':
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint8':
    case 'uint16':
    case 'uint32':
      return (i) => (data as Float64Array)[i] ?? 0;
  }
}

function formatScore(tensor: HostTensor, value: number, raw: bigint | undefined): string {
  if (raw !== undefined) return String(raw);
  if (tensor.type === 'float32' || tensor.type === 'float16') return formatFloat32(value);
  return String(value);
}

/**
 * Replaces a model output by its top-k classification. Ties keep the lower index first; NaN
 * scores rank last.
 *
 * @throws BastionError `INVALID_REQUEST` when k exceeds the classes the output really has.
 */
export function classify(
  name: string,
  tensor: HostTensor,
  k: number,
  labels: readonly string[] | undefined,
): HostTensor {
  const rows = checkedRows(name, tensor.dims, k);
  const out: string[] = [];
  rankRows(tensor, k, labels, out, 0, rows);
  return { type: 'string', dims: tensor.dims.length === 2 ? [rows, k] : [k], data: out };
}

/** The rows of a classified output. @throws BastionError INVALID_REQUEST for a bad shape or k. */
function checkedRows(name: string, dims: readonly number[], k: number): number {
  const classes = dims.at(-1) ?? 0;
  if (dims.length < 1 || dims.length > 2) {
    throw new BastionError(
      'INVALID_REQUEST',
      `output "${name}": classification needs an output of shape [classes] or [batch, classes]`,
    );
  }
  if (k > classes) {
    throw new BastionError(
      'INVALID_REQUEST',
      `output "${name}": parameters.classification is ${k}, but this output has only ${classes} classes`,
    );
  }
  return dims.length === 2 ? (dims[0] ?? 0) : 1;
}

/**
 * {@link classify} (the same tensor) in slices of rows that yield to the event loop when the
 * output is large: each row costs a sort and `k` formatted strings, about 3 µs.
 *
 * @throws BastionError INVALID_REQUEST as {@link classify} does.
 */
export function classifyInSlices(
  name: string,
  tensor: HostTensor,
  k: number,
  labels: readonly string[] | undefined,
): MaybePromise<HostTensor> {
  const rows = checkedRows(name, tensor.dims, k);
  if (rows * k <= classifySliceStrings) return classify(name, tensor, k, labels);
  const out: string[] = [];
  const pending = inSlices(
    rows,
    (from, to) => {
      rankRows(tensor, k, labels, out, from, to);
    },
    Math.max(1, Math.floor(classifySliceStrings / k)),
  );
  const dims = tensor.dims.length === 2 ? [rows, k] : [k];
  const result: HostTensor = { type: 'string', dims, data: out };
  return pending === undefined ? result : pending.then(() => result);
}

/** Strings one slice of {@link classifyInSlices} formats (~3 µs each). */
const classifySliceStrings = 2048;

/** Appends the top `k` of rows `[from, to)` to `out`, as `<score>:<index>[:<label>]`. */
function rankRows(
  tensor: HostTensor,
  k: number,
  labels: readonly string[] | undefined,
  out: string[],
  from: number,
  to: number,
): void {
  const classes = tensor.dims.at(-1) ?? 0;
  const read = scoreReader(tensor);
  const big = tensor.type === 'int64' || tensor.type === 'uint64';
  const order = Array.from({ length: classes }, (_, i) => i);
  for (let row = from; row < to; row++) {
    const base = row * classes;
    const score = (i: number): number => {
      const v = read(base + i);
      return Number.isNaN(v) ? -Infinity : v;
    };
    order.sort((a, b) => score(b) - score(a) || a - b);
    for (let j = 0; j < k; j++) {
      const index = order[j] ?? 0;
      const raw = big ? (tensor.data as BigInt64Array)[base + index] : undefined;
      const label = labels?.[index];
      const text = `${formatScore(tensor, read(base + index), raw)}:${index}`;
      out.push(label === undefined || label === '' ? text : `${text}:${label}`);
    }
    order.sort((a, b) => a - b);
  }
}
