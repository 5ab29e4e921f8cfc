/**
 * Per-version inference statistics in the shape of Triton's statistics extension
 * (`GET /v2/models/.../stats`). Cheap on the hot path: each recording is a few additions to
 * numbers kept per model version; nothing is allocated per request once a version has an entry.
 *
 * Where each number comes from:
 * - `success` / `fail`: every request once its model version is chosen, from then until the
 *   response is encoded (recorded by the inference service);
 * - `compute_input`: validating and decoding the request into tensors (inference service);
 * - `queue`: waiting for a worker or a batch (the engines' `onQueueWait` hook);
 * - `compute_infer`: the model execution, measured where ONNX Runtime ran (`onInference`);
 * - `compute_output`: encoding the outputs for the response (inference service);
 * - `inference_count`: rows (first dimension) of successful requests, 1 for unbatched ones;
 * - `execution_count`: model executions (`onInference` calls), so dynamic batching makes it
 *   smaller than `success.count`;
 * - `batch_stats`: per dispatched batch size, when the model batches (`onBatchRun`).
 */
import type { EngineHooks } from './engine-stats.js';

/** A count and a total duration in nanoseconds (Triton's `$duration_stat`). */
export interface DurationStat {
  count: number;
  ns: number;
}

/** One batch size's executions (Triton's `$batch_stat`). */
export interface BatchStat {
  batch_size: number;
  compute_input: DurationStat;
  compute_infer: DurationStat;
  compute_output: DurationStat;
}

/** One model version's statistics (Triton's `$model_stat`). */
export interface ModelStat {
  name: string;
  version: string;
  /** Milliseconds since the epoch of the last request; 0 when there was none. */
  last_inference: number;
  inference_count: number;
  execution_count: number;
  inference_stats: {
    success: DurationStat;
    fail: DurationStat;
    queue: DurationStat;
    compute_input: DurationStat;
    compute_infer: DurationStat;
    compute_output: DurationStat;
  };
  batch_stats: BatchStat[];
}

interface Entry {
  lastInference: number;
  inferences: number;
  executions: number;
  success: DurationStat;
  fail: DurationStat;
  queue: DurationStat;
  computeInput: DurationStat;
  computeInfer: DurationStat;
  computeOutput: DurationStat;
  batches: Map<number, DurationStat>;
}

/** Durations of one finished request, in milliseconds (`performance.now()` deltas). */
export interface RequestTimes {
  /** From the version being chosen to the response encoded. */
  readonly totalMs: number;
  /** Validating and decoding the request; undefined when it failed before that finished. */
  readonly inputMs?: number | undefined;
  /** Encoding the outputs; undefined when the request failed before. */
  readonly outputMs?: number | undefined;
}

/** Collects {@link ModelStat}s per model version. */
export interface InferenceStats {
  /** A request succeeded; `rows` is its batch size (undefined: unbatched, counts as 1). */
  recordSuccess(
    model: string,
    version: number,
    rows: number | undefined,
    times: RequestTimes,
  ): void;
  /** A request failed after its model version was chosen. */
  recordFailure(model: string, version: number, times: RequestTimes): void;
  /** A request waited `ms` in an engine's queue. */
  recordQueue(model: string, version: number, ms: number): void;
  /** One model execution took `ms`. */
  recordExecution(model: string, version: number, ms: number): void;
  /** A dynamic batch of `rows` rows ran (merge, execution and split) in `ms`. */
  recordBatch(model: string, version: number, rows: number, ms: number): void;
  /** The statistics of one version (zeros when it never served). */
  snapshot(model: string, version: number): ModelStat;
}

const toNs = (ms: number): number => Math.max(0, Math.round(ms * 1e6));

function add(stat: DurationStat, ms: number): void {
  stat.count += 1;
  stat.ns += toNs(ms);
}

const zero = (): DurationStat => ({ count: 0, ns: 0 });

function newEntry(): Entry {
  return {
    lastInference: 0,
    inferences: 0,
    executions: 0,
    success: zero(),
    fail: zero(),
    queue: zero(),
    computeInput: zero(),
    computeInfer: zero(),
    computeOutput: zero(),
    batches: new Map(),
  };
}

const copy = (stat: DurationStat): DurationStat => ({ count: stat.count, ns: stat.ns });

/** One version's statistics in Triton's shape (a copy: later recordings do not change it). */
function snapshotOf(model: string, version: number, entry: Entry): ModelStat {
  return {
    name: model,
    version: String(version),
    last_inference: entry.lastInference,
    inference_count: entry.inferences,
    execution_count: entry.executions,
    inference_stats: {
      success: copy(entry.success),
      fail: copy(entry.fail),
      queue: copy(entry.queue),
      compute_input: copy(entry.computeInput),
      compute_infer: copy(entry.computeInfer),
      compute_output: copy(entry.computeOutput),
    },
    // Bastion times a batch as one step (rows merged, model run, rows split): that time is
    // compute_infer; compute_input/compute_output count the same executions with no time of
    // their own at batch level (per request they are measured: see inference_stats).
    batch_stats: [...entry.batches.entries()]
      .sort(([a], [b]) => a - b)
      .map(([size, stat]) => ({
        batch_size: size,
        compute_input: { count: stat.count, ns: 0 },
        compute_infer: copy(stat),
        compute_output: { count: stat.count, ns: 0 },
      })),
  };
}

/** Creates an empty statistics collector. */
export function createInferenceStats(): InferenceStats {
  // Two map lookups and no allocation per recording once a version has its entry.
  const entries = new Map<string, Map<number, Entry>>();
  const find = (model: string, version: number): Entry | undefined =>
    entries.get(model)?.get(version);
  const entryOf = (model: string, version: number): Entry => {
    let versions = entries.get(model);
    if (versions === undefined) {
      versions = new Map();
      entries.set(model, versions);
    }
    let entry = versions.get(version);
    if (entry === undefined) {
      entry = newEntry();
      versions.set(version, entry);
    }
    return entry;
  };
  return {
    recordSuccess(model, version, rows, times) {
      const entry = entryOf(model, version);
      entry.lastInference = Date.now();
      entry.inferences += rows ?? 1;
      add(entry.success, times.totalMs);
      if (times.inputMs !== undefined) add(entry.computeInput, times.inputMs);
      if (times.outputMs !== undefined) add(entry.computeOutput, times.outputMs);
    },
    recordFailure(model, version, times) {
      const entry = entryOf(model, version);
      entry.lastInference = Date.now();
      add(entry.fail, times.totalMs);
      if (times.inputMs !== undefined) add(entry.computeInput, times.inputMs);
    },
    recordQueue(model, version, ms) {
      add(entryOf(model, version).queue, ms);
    },
    recordExecution(model, version, ms) {
      const entry = entryOf(model, version);
      entry.executions += 1;
      add(entry.computeInfer, ms);
    },
    recordBatch(model, version, rows, ms) {
      const batches = entryOf(model, version).batches;
      let stat = batches.get(rows);
      if (stat === undefined) {
        stat = zero();
        batches.set(rows, stat);
      }
      add(stat, ms);
    },
    snapshot: (model, version) => snapshotOf(model, version, find(model, version) ?? newEntry()),
  };
}

/**
 * Adds statistics recording to an engine's hooks for one model version: queue waits,
 * executions and batches go to `stats` as well as to the hooks already there (metrics).
 */
export function withStatsHooks(
  stats: InferenceStats,
  model: string,
  version: number,
  hooks: EngineHooks,
): EngineHooks {
  return {
    ...hooks,
    onQueueWait: (ms) => {
      stats.recordQueue(model, version, ms);
      hooks.onQueueWait?.(ms);
    },
    onInference: (ms) => {
      stats.recordExecution(model, version, ms);
      hooks.onInference?.(ms);
    },
    onBatchRun: (rows, ms) => {
      stats.recordBatch(model, version, rows, ms);
      hooks.onBatchRun?.(rows, ms);
    },
  };
}
