/**
 * The messages between the worker engine and its model workers, and how tensors cross the thread
 * boundary. Requests travel in batches: one `run` message carries every request the engine handed
 * to that worker in one event-loop turn, and one `results` message brings their answers back.
 * Small tensors of a message are copied into a single "pack" buffer that is transferred once;
 * large ones travel on their own (transferred when they span their whole buffer, else copied
 * first so the clone never drags along unrelated bytes).
 */
import type {
  ElementType,
  ExecutionProvider,
  HostTensor,
  ModelSignature,
  SessionSettings,
  TensorData,
} from './engine.js';

/** How a test asks a worker to die (honoured only when the engine allows test crashes). */
export type TestCrashMode = 'exit' | 'throw';

/** Most requests one `run` message may carry (and the size of a worker's cancel-flag array). */
export const maxRequestsPerMessage = 64;

/** Tensors up to this many bytes share their message's pack buffer; larger ones travel alone. */
export const packLimitBytes = 64 * 1024;

/** `workerData` for a model worker. */
export interface WorkerInit {
  /** The verified model bytes, shared by every worker of the engine (each copies them once). */
  readonly model: SharedArrayBuffer;
  readonly settings: SessionSettings;
  readonly allowTestCrash: boolean;
  /**
   * One Int32 flag per position of the current batch (`maxRequestsPerMessage` of them): the
   * engine sets a flag to 1 when that request is cancelled, the worker skips it if not yet run.
   */
  readonly cancel: SharedArrayBuffer;
}

/** A tensor on the wire: its data inline, or `count` elements at byte `at` of the message pack. */
export type WireTensor =
  | { readonly type: ElementType; readonly dims: readonly number[]; readonly data: TensorData }
  | {
      readonly type: ElementType;
      readonly dims: readonly number[];
      readonly at: number;
      readonly count: number;
    };

/** Tensors by name, as they cross. */
export type WireTensors = Record<string, WireTensor>;

/** One request inside a `run` message. */
export interface WireRequest {
  readonly id: number;
  readonly feeds: WireTensors;
  readonly outputs: readonly string[];
  readonly crash?: TestCrashMode;
}

/** Engine → worker: a batch of requests, run in order. */
export interface RunMessage {
  readonly type: 'run';
  readonly requests: readonly WireRequest[];
  readonly pack: ArrayBuffer | undefined;
}

/** The outcome of one request of a batch. */
export type WireOutcome =
  | { readonly id: number; readonly outputs: WireTensors; readonly inferenceMs: number }
  | {
      readonly id: number;
      readonly message: string;
      /** Set when the failure is a BastionError raised in the worker (its code survives). */
      readonly code?: string;
    }
  /** Cancelled before it ran: the model never saw it. */
  | { readonly id: number; readonly skipped: true };

/** Worker → engine. */
export type WorkerMessage =
  | {
      readonly type: 'ready';
      readonly signature: ModelSignature;
      readonly executionProviders: readonly ExecutionProvider[];
    }
  | { readonly type: 'init-failed'; readonly message: string }
  | { readonly type: 'log'; readonly message: string }
  | {
      readonly type: 'results';
      readonly outcomes: readonly WireOutcome[];
      readonly pack: ArrayBuffer | undefined;
      /** True on the last `results` of a batch: the worker is free again. */
      readonly done: boolean;
    };

/** Tensors ready for `postMessage`: one record per request, the pack, and what to transfer. */
export interface Packed {
  readonly tensors: WireTensors[];
  readonly pack: ArrayBuffer | undefined;
  readonly transfer: ArrayBuffer[];
}

type NumericArray = Exclude<TensorData, string[]>;

const align = (n: number): number => (n + 7) & ~7;

/**
 * Prepares the tensors of several requests for one `postMessage`. Numeric tensors of at most
 * {@link packLimitBytes} are copied into one shared pack buffer (transferred); a larger one that
 * exactly spans a plain `ArrayBuffer` is transferred when `transferLarge` is true (the sender's
 * copy is then detached), anything else is copied to a right-sized array. Strings are cloned.
 */
export function packTensors(
  records: readonly Readonly<Record<string, HostTensor>>[],
  transferLarge: boolean,
): Packed {
  let total = 0;
  for (const record of records) {
    for (const name in record) {
      const data = (record[name] as HostTensor).data;
      if (!Array.isArray(data) && data.byteLength <= packLimitBytes) {
        total = align(total) + data.byteLength;
      }
    }
  }
  const pack = total === 0 ? undefined : new ArrayBuffer(align(total));
  const bytes = pack === undefined ? undefined : new Uint8Array(pack);
  const transfer: ArrayBuffer[] = pack === undefined ? [] : [pack];
  const moved = new Set<ArrayBufferLike>();
  let offset = 0;
  const tensors = records.map((record) => {
    const out: WireTensors = {};
    for (const name in record) {
      const tensor = record[name] as HostTensor;
      const { type, dims, data } = tensor;
      if (Array.isArray(data)) {
        out[name] = tensor;
      } else if (bytes !== undefined && data.byteLength <= packLimitBytes) {
        offset = align(offset);
        bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
        out[name] = { type, dims, at: offset, count: data.length };
        offset += data.byteLength;
      } else {
        const whole =
          data.buffer instanceof ArrayBuffer &&
          data.byteOffset === 0 &&
          data.byteLength === data.buffer.byteLength;
        const owned = transferLarge && whole && !moved.has(data.buffer) ? data : data.slice();
        moved.add(owned.buffer);
        transfer.push(owned.buffer as ArrayBuffer);
        out[name] = { type, dims, data: owned };
      }
    }
    return out;
  });
  return { tensors, pack, transfer };
}

/** The typed-array constructor of each numeric element type. */
const arrayOf: Record<
  Exclude<ElementType, 'string'>,
  new (buffer: ArrayBuffer, byteOffset: number, length: number) => NumericArray
> = {
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
};

/**
 * Turns wire tensors back into host tensors; packed ones become views into `pack` (the views of
 * one message share it, so they stay valid for as long as any of them is held).
 *
 * @throws Error when a packed tensor lies outside `pack` (a protocol bug, never client input).
 */
export function unpackTensors(
  wire: WireTensors,
  pack: ArrayBuffer | undefined,
): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const name in wire) {
    const tensor = wire[name] as WireTensor;
    if ('data' in tensor) {
      out[name] = tensor;
      continue;
    }
    if (pack === undefined || tensor.type === 'string') {
      throw new Error(`tensor "${name}" refers to a pack the message does not carry`);
    }
    const Ctor = arrayOf[tensor.type];
    out[name] = {
      type: tensor.type,
      dims: tensor.dims,
      data: new Ctor(pack, tensor.at, tensor.count),
    };
  }
  return out;
}
