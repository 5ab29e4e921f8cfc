/**
 * The messages between the worker engine and its model workers, and how tensors cross the thread
 * boundary: typed arrays that span their whole buffer are transferred (moved, not copied); views
 * into a larger buffer are copied first so the clone never drags along unrelated bytes.
 */
import type { ExecutionProvider, HostTensor, ModelSignature, SessionSettings } from './engine.js';

/** How a test asks a worker to die (honoured only when the engine allows test crashes). */
export type TestCrashMode = 'exit' | 'throw';

/** `workerData` for a model worker. */
export interface WorkerInit {
  /** The verified model bytes, shared by every worker of the engine (each copies them once). */
  readonly model: SharedArrayBuffer;
  readonly settings: SessionSettings;
  readonly allowTestCrash: boolean;
}

/** Engine → worker. */
export interface RunMessage {
  readonly type: 'run';
  readonly id: number;
  readonly feeds: Record<string, HostTensor>;
  readonly outputs: readonly string[];
  readonly crash?: TestCrashMode;
}

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
      readonly type: 'result';
      readonly id: number;
      readonly outputs: Record<string, HostTensor>;
      readonly inferenceMs: number;
    }
  | {
      readonly type: 'failed';
      readonly id: number;
      readonly message: string;
      /** Set when the failure is a BastionError raised in the worker (its code survives). */
      readonly code?: string;
    };

/** Tensors ready for `postMessage` plus the buffers to transfer with them. */
export interface Transferable {
  readonly tensors: Record<string, HostTensor>;
  readonly transfer: ArrayBuffer[];
}

/**
 * Prepares tensors for `postMessage`. With `transfer` true, a typed array that exactly spans a
 * plain `ArrayBuffer` is listed for transfer, so the sender's copy is detached (the receiver
 * owns it); anything else is copied to a right-sized array. Strings are cloned.
 */
export function prepareTransfer(
  tensors: Readonly<Record<string, HostTensor>>,
  transfer: boolean,
): Transferable {
  const out: Record<string, HostTensor> = {};
  const buffers = new Set<ArrayBuffer>();
  for (const [name, tensor] of Object.entries(tensors)) {
    const { data } = tensor;
    if (Array.isArray(data)) {
      out[name] = tensor;
      continue;
    }
    const view = data;
    const whole =
      view.buffer instanceof ArrayBuffer &&
      view.byteOffset === 0 &&
      view.byteLength === view.buffer.byteLength;
    if (transfer && whole && !buffers.has(view.buffer)) {
      buffers.add(view.buffer);
      out[name] = tensor;
    } else if (whole && !transfer) {
      out[name] = tensor;
    } else {
      out[name] = { type: tensor.type, dims: tensor.dims, data: view.slice() };
    }
  }
  return { tensors: out, transfer: [...buffers] };
}
