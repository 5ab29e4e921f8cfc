/**
 * The worker engine's types: its options and interface, a request ({@link Job}) and a worker
 * ({@link Slot}).
 */
import type { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { type ErrorCode, errorStatus } from '../errors.js';
import type { ExecutionProvider, HostTensor, ModelSignature } from './engine.js';
import type { EngineHooks, ObservableEngine } from './engine-stats.js';
import type { TestCrashMode } from './worker-protocol.js';

/** Options for {@link createWorkerEngine}. */
export interface WorkerEngineOptions {
  /** Worker threads (one session each) for this model version. Default 1. */
  readonly poolSize?: number;
  /** Requests that may wait for a free worker; beyond that `run` rejects `OVERLOADED`. Default 64. */
  readonly maxQueue?: number;
  /** `retryAfterSec` on `OVERLOADED` and `SHUTTING_DOWN` rejections. Default 1. */
  readonly retryAfterSec?: number;
  /**
   * Transfer large input buffers (over `packLimitBytes`) to the worker instead of copying them.
   * Default true: `run` then takes ownership of every such feed whose typed array spans its whole
   * `ArrayBuffer` (it is detached). Smaller feeds are always copied into the message's pack.
   */
  readonly transferInputs?: boolean;
  /**
   * Measured run time one hand-off message may carry, in ms: at a mean run of `m` ms a message
   * takes up to `budget / m` requests (at least 1, at most 64). Default 2; 0 sends one per message.
   */
  readonly messageBudgetMs?: number;
  /** Metrics callbacks: `onQueueWait`, `onInference`, `onWorkerRestart`. */
  readonly hooks?: EngineHooks;
  /** One-line operational messages (CUDA fallback, worker restarts). Default: silent. */
  readonly log?: (message: string) => void;
  /** Enables {@link WorkerEngine.crashNextRunForTesting}. Never set in production. */
  readonly allowTestCrash?: boolean;
}

/** How requests crossed to the workers so far. */
export interface HandoffStats {
  /** `run` messages posted to workers. */
  readonly messages: number;
  /** Requests those messages carried. */
  readonly requests: number;
  /** Requests the next message may carry at the current measured run time. */
  readonly perMessage: number;
  /** Workers that have loaded the model and are not retired (idle or busy). */
  readonly workers: number;
}

/** A worker-pool engine. */
export interface WorkerEngine extends ObservableEngine {
  /** Hand-off counters (for tests and the bench). */
  handoffStats(): HandoffStats;
  /**
   * Test only: the next request dispatched makes its worker die (`exit`: `process.exit`,
   * `throw`: an uncaught exception) instead of running. That request fails `INFERENCE_FAILED`.
   *
   * @throws Error unless the engine was created with `allowTestCrash`.
   */
  crashNextRunForTesting(mode: TestCrashMode): void;
}

/**
 * A request waiting in the queue or held by a worker. It is its own abort listener, so a request
 * costs no closure beyond its promise's.
 */
export class Job {
  /** The worker holding it once dispatched, and its position in that worker's batch. */
  slot: Slot | undefined = undefined;
  index = -1;
  settled = false;
  constructor(
    private readonly owner: { abort(job: Job): void },
    readonly id: number,
    readonly feeds: Readonly<Record<string, HostTensor>>,
    readonly outputs: readonly string[],
    readonly signal: AbortSignal | undefined,
    readonly resolve: (outputs: Record<string, HostTensor>) => void,
    readonly reject: (error: unknown) => void,
    readonly crash: TestCrashMode | undefined,
    readonly enqueuedAt: number = performance.now(),
  ) {}
  /** The abort listener: hands the request back to its engine. */
  handleEvent(): void {
    this.owner.abort(this);
  }
}

/** One worker thread and the batch it holds. */
export interface Slot {
  readonly worker: Worker;
  /** Shared with the worker: a 1 at position i cancels request i of the current batch. */
  readonly cancel: Int32Array;
  state: 'starting' | 'idle' | 'busy' | 'retired';
  /** The batch the worker holds, in order, and how many of it have been answered. */
  jobs: Job[];
  answered: number;
  /** Runs this worker finished; its first (a cold session) does not count towards the mean. */
  runs: number;
  lastError: string | undefined;
  readonly ready: Promise<WorkerReady>;
}

/** What a worker reports once its session is loaded. */
export interface WorkerReady {
  readonly signature: ModelSignature;
  readonly executionProviders: readonly ExecutionProvider[];
}

/** True when `code` is one of Bastion's error codes. */
export function isErrorCode(code: string | undefined): code is ErrorCode {
  return code !== undefined && Object.hasOwn(errorStatus, code);
}

/** The client-facing message for a failed run (the cause stays in the log). */
export function failureMessage(code: string): string {
  return code === 'INPUT_REJECTED_BY_MODEL'
    ? 'the model could not run on this input; check the shapes and values against the model metadata'
    : 'model inference failed';
}
