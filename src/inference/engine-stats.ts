/**
 * What the engines report for metrics: a live snapshot ({@link EngineStats}) and push callbacks
 * ({@link EngineHooks}). Plain data and functions only, so `src/metrics/` can wire them to
 * prom-client without the engines knowing about it.
 */
import type { ModelEngine } from './engine.js';

/** A live snapshot of one engine's load. */
export interface EngineStats {
  /** Requests accepted but not yet handed to a model run (they wait in this engine's queue). */
  readonly queueDepth: number;
  /** Requests being executed right now (for a batcher: requests inside dispatched batches). */
  readonly inFlight: number;
  /** How many model runs may execute at once (worker pool size; 1 for the inline engine). */
  readonly concurrency: number;
  /** Model executions started since the engine was created (one per `session.run`). */
  readonly runs: number;
  /** Workers replaced after a crash since the engine was created (0 for the inline engine). */
  readonly restarts: number;
}

/** Callbacks an engine calls as work flows through it. Every hook is optional and must not throw. */
export interface EngineHooks {
  /** A batch was dispatched: how many requests it merged and how many rows (dim 0) it holds. */
  readonly onBatch?: (requests: number, rows: number) => void;
  /** A dispatched batch of `rows` rows finished (merged, run, split) after `ms` milliseconds. */
  readonly onBatchRun?: (rows: number, ms: number) => void;
  /** A request left the queue for execution after waiting `ms` milliseconds. */
  readonly onQueueWait?: (ms: number) => void;
  /** One model execution (`session.run`) took `ms` milliseconds, measured where it ran. */
  readonly onInference?: (ms: number) => void;
  /** A worker died and is being replaced; `reason` is for the log, never for a client. */
  readonly onWorkerRestart?: (label: string, reason: string) => void;
}

/** A {@link ModelEngine} that also reports its load. */
export interface ObservableEngine extends ModelEngine {
  /** The current load; cheap, safe to call on every metrics scrape. */
  stats(): EngineStats;
}

/** True when `engine` exposes {@link ObservableEngine.stats}. */
export function isObservableEngine(engine: ModelEngine): engine is ObservableEngine {
  return typeof (engine as Partial<ObservableEngine>).stats === 'function';
}
