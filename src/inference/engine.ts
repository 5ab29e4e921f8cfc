/**
 * The contract between the request path and whatever runs a model (inline session, worker pool,
 * batcher). Plain data only: no Fastify, no ONNX Runtime objects cross this boundary, so an engine
 * can live on another thread and tensors can be transferred rather than copied.
 */
import type { ModelTuning } from '../config/config-schema.js';
import type { ExternalDataFile } from '../models/external-data.js';

/** ONNX Runtime's tensor element types that Bastion serves. */
export type ElementType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'string';

/** The typed array that holds each element type (bool as 0/1 bytes, strings as an array). */
export interface ElementArrays {
  bool: Uint8Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  float16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
  string: string[];
}

/** Any tensor's data container. */
export type TensorData = ElementArrays[ElementType];

/** A tensor as plain data: element type, concrete dims, row-major data. */
export interface HostTensor {
  readonly type: ElementType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** One input or output of a model, as the model declares it. `-1` marks a symbolic dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly type: ElementType;
  readonly dims: readonly number[];
  /**
   * The symbolic name of each `-1` dimension (e.g. `batch`), `undefined` for fixed or unnamed ones.
   * Inputs sharing a name must agree on its size.
   */
  readonly dimNames?: readonly (string | undefined)[];
}

/** A model's inputs and outputs, read from the loaded session. */
export interface ModelSignature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/** Execution providers a model may ask for, in order of preference (the tuning schema's). */
export type ExecutionProvider = ModelTuning['executionProviders'][number];

/** ONNX Runtime session options Bastion exposes per model: a part of its tuning. */
export type SessionSettings = Pick<
  ModelTuning,
  'intraOpThreads' | 'interOpThreads' | 'graphOptimizationLevel' | 'executionProviders'
> & {
  /** Verified external-data files handed to ONNX Runtime in memory (never a path it opens). */
  readonly externalData?: readonly ExternalDataFile[] | undefined;
};

/** Per-call options. */
export interface RunOptions {
  /** Aborted when the client disconnects or the deadline passes; queued work is then dropped. */
  readonly signal?: AbortSignal;
}

/** Runs one loaded model version. */
export interface ModelEngine {
  readonly signature: ModelSignature;
  /**
   * Runs the model. `feeds` holds every model input; `outputs` names the outputs wanted.
   * Rejects with a BastionError (`OVERLOADED`, `DEADLINE_EXCEEDED`, `INFERENCE_FAILED`, ...).
   */
  run(
    feeds: Readonly<Record<string, HostTensor>>,
    outputs: readonly string[],
    options?: RunOptions,
  ): Promise<Record<string, HostTensor>>;
  /** Stops taking work, waits for in-flight runs, releases the session(s). */
  close(): Promise<void>;
}

/** Creates an engine from the exact model bytes that were verified. */
export type EngineFactory = (
  modelBytes: Uint8Array,
  settings: SessionSettings,
  label: string,
) => Promise<ModelEngine>;
