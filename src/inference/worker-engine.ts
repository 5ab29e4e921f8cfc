/**
 * The worker engine: a pool of worker threads per model version, each with its own ONNX Runtime
 * session, fed from one bounded FIFO queue. Because onnxruntime-node runs a session synchronously,
 * this is what keeps the event loop free while a model computes.
 *
 * Hand-rolled on node:worker_threads rather than piscina: every worker needs a per-model
 * initialisation (its own session from the shared bytes) before it takes work, the engine must
 * know exactly which request each worker holds (so a crash fails only those and nothing is
 * retried behind the caller's back), and the queue must drop aborted work and reject with our
 * error codes. Piscina would add a second queue and hide the worker ↔ task mapping.
 */
import { performance } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';
import { BastionError, type ErrorCode, errorStatus } from '../errors.js';
import { abortError } from './abort-error.js';
import type {
  ExecutionProvider,
  HostTensor,
  ModelSignature,
  RunOptions,
  SessionSettings,
} from './engine.js';
import type { EngineHooks, EngineStats, ObservableEngine } from './engine-stats.js';
import {
  prepareTransfer,
  type RunMessage,
  type TestCrashMode,
  type WorkerInit,
  type WorkerMessage,
} from './worker-protocol.js';
import { spawnModelWorker } from './worker-spawn.js';

/** Options for {@link createWorkerEngine}. */
export interface WorkerEngineOptions {
  /** Worker threads (one session each) for this model version. Default 1. */
  readonly poolSize?: number;
  /** Requests that may wait for a free worker; beyond that `run` rejects `OVERLOADED`. Default 64. */
  readonly maxQueue?: number;
  /** `retryAfterSec` on `OVERLOADED` and `SHUTTING_DOWN` rejections. Default 1. */
  readonly retryAfterSec?: number;
  /**
   * Transfer input buffers to the worker instead of copying them. Default true: `run` then takes
   * ownership of every feed whose typed array spans its whole `ArrayBuffer` (it is detached).
   */
  readonly transferInputs?: boolean;
  /** Metrics callbacks: `onQueueWait`, `onInference`, `onWorkerRestart`. */
  readonly hooks?: EngineHooks;
  /** One-line operational messages (CUDA fallback, worker restarts). Default: silent. */
  readonly log?: (message: string) => void;
  /** Enables {@link WorkerEngine.crashNextRunForTesting}. Never set in production. */
  readonly allowTestCrash?: boolean;
}

/** A worker-pool engine. */
export interface WorkerEngine extends ObservableEngine {
  /**
   * Test only: the next request dispatched makes its worker die (`exit`: `process.exit`,
   * `throw`: an uncaught exception) instead of running. That request fails `INFERENCE_FAILED`.
   *
   * @throws Error unless the engine was created with `allowTestCrash`.
   */
  crashNextRunForTesting(mode: TestCrashMode): void;
}

interface Job {
  readonly id: number;
  readonly feeds: Readonly<Record<string, HostTensor>>;
  readonly outputs: readonly string[];
  readonly enqueuedAt: number;
  readonly resolve: (outputs: Record<string, HostTensor>) => void;
  readonly reject: (error: unknown) => void;
  readonly detach: () => void;
  crash: TestCrashMode | undefined;
  settled: boolean;
}

interface Slot {
  readonly worker: Worker;
  state: 'starting' | 'idle' | 'busy' | 'retired';
  job: Job | undefined;
  lastError: string | undefined;
  readonly ready: Promise<WorkerReady>;
}

interface WorkerReady {
  readonly signature: ModelSignature;
  readonly executionProviders: readonly ExecutionProvider[];
}

function isErrorCode(code: string | undefined): code is ErrorCode {
  return code !== undefined && Object.hasOwn(errorStatus, code);
}

/**
 * Creates a worker engine: starts `poolSize` workers (the first alone, so a CUDA fallback is
 * decided and logged once) and resolves when all have loaded the model. Assignable to
 * `EngineFactory`; bind `options` with a closure.
 *
 * `run` rejects with `OVERLOADED` (queue full), `SHUTTING_DOWN` (after `close`), the abort error
 * of `RunOptions.signal` (see `abortError`; queued work is dropped before it runs), or
 * `INFERENCE_FAILED` (the model failed, or its worker crashed while holding the request).
 *
 * @throws BastionError `INFERENCE_FAILED` when the model cannot be loaded.
 */
export async function createWorkerEngine(
  modelBytes: Uint8Array,
  settings: SessionSettings,
  label: string,
  options: WorkerEngineOptions = {},
): Promise<WorkerEngine> {
  const poolSize = Math.max(1, Math.floor(options.poolSize ?? 1));
  const maxQueue = Math.max(0, Math.floor(options.maxQueue ?? 64));
  const retryAfterSec = options.retryAfterSec ?? 1;
  const transferInputs = options.transferInputs ?? true;
  const hooks = options.hooks ?? {};
  const log = options.log ?? (() => undefined);
  const allowTestCrash = options.allowTestCrash ?? false;

  const model = new SharedArrayBuffer(modelBytes.byteLength);
  new Uint8Array(model).set(modelBytes);
  let init: WorkerInit = { model, settings, allowTestCrash };

  const slots = new Set<Slot>();
  const queue: Job[] = [];
  let nextId = 1;
  let runs = 0;
  let restarts = 0;
  let inFlight = 0;
  let crashStreak = 0;
  let pendingCrash: TestCrashMode | undefined;
  let running = false; // true once the initial pool is up; deaths before that fail creation
  let closing: Promise<void> | undefined;
  let drained: (() => void) | undefined;
  const restartTimers = new Set<NodeJS.Timeout>();

  function settle(job: Job, outcome: () => void): void {
    if (job.settled) return;
    job.settled = true;
    job.detach();
    outcome();
  }

  function startSlot(): Slot {
    const worker = spawnModelWorker(init);
    let onReady!: (ready: WorkerReady) => void;
    let onFailed!: (error: Error) => void;
    const ready = new Promise<WorkerReady>((resolve, reject) => {
      onReady = resolve;
      onFailed = reject;
    });
    ready.catch(() => undefined); // observed by the creator or by the restart logic
    const slot: Slot = { worker, state: 'starting', job: undefined, lastError: undefined, ready };
    slots.add(slot);

    worker.on('message', (message: WorkerMessage) => {
      switch (message.type) {
        case 'ready':
          slot.state = 'idle';
          worker.unref();
          onReady({ signature: message.signature, executionProviders: message.executionProviders });
          pump();
          return;
        case 'init-failed':
          slot.lastError = message.message;
          retire(slot, `model failed to load in worker: ${message.message}`, onFailed);
          return;
        case 'log':
          log(`${label}: ${message.message}`);
          return;
        case 'result':
        case 'failed':
          finish(slot, message);
          return;
      }
    });
    worker.on('error', (error) => {
      slot.lastError = error.message;
    });
    worker.on('exit', (code) => {
      if (slot.state === 'retired') return;
      retire(
        slot,
        `worker exited with code ${code}${slot.lastError === undefined ? '' : `: ${slot.lastError}`}`,
        onFailed,
      );
    });
    return slot;
  }

  /** A worker died or failed to load: fail what it held, then replace it if the engine is live. */
  function retire(slot: Slot, reason: string, onFailed: (error: Error) => void): void {
    if (slot.state === 'retired') return;
    slot.state = 'retired';
    slots.delete(slot);
    void slot.worker.terminate();
    onFailed(new Error(reason));
    const job = slot.job;
    slot.job = undefined;
    if (job !== undefined) {
      inFlight -= 1;
      settle(job, () => {
        job.reject(
          new BastionError('INFERENCE_FAILED', 'model inference failed', {
            cause: new Error(reason),
          }),
        );
      });
    }
    if (running && (closing === undefined || queue.length > 0)) scheduleRestart(reason);
    checkDrained();
  }

  function scheduleRestart(reason: string): void {
    restarts += 1;
    crashStreak += 1;
    log(`${label}: replacing a model worker (${reason})`);
    hooks.onWorkerRestart?.(label, reason);
    // Back off when workers keep dying before finishing any run (a poisoned host, say).
    const delay = crashStreak <= 1 ? 0 : Math.min(100 * 2 ** (crashStreak - 2), 5_000);
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      startSlot();
    }, delay);
    restartTimers.add(timer);
  }

  function finish(
    slot: Slot,
    message: Extract<WorkerMessage, { type: 'result' | 'failed' }>,
  ): void {
    const job = slot.job;
    if (job?.id !== message.id) return;
    slot.job = undefined;
    slot.state = 'idle';
    slot.worker.unref();
    inFlight -= 1;
    if (message.type === 'result') {
      crashStreak = 0;
      hooks.onInference?.(message.inferenceMs);
      settle(job, () => {
        job.resolve(message.outputs);
      });
    } else {
      const code = isErrorCode(message.code) ? message.code : 'INFERENCE_FAILED';
      settle(job, () => {
        job.reject(
          new BastionError(code, failureMessage(code), { cause: new Error(message.message) }),
        );
      });
    }
    pump();
    checkDrained();
  }

  function idleSlot(): Slot | undefined {
    for (const slot of slots) if (slot.state === 'idle') return slot;
    return undefined;
  }

  function pump(): void {
    for (let slot = idleSlot(); slot !== undefined && queue.length > 0; slot = idleSlot()) {
      const job = queue.shift();
      if (job === undefined || job.settled) continue;
      dispatch(slot, job);
    }
  }

  function dispatch(slot: Slot, job: Job): void {
    const { tensors, transfer } = prepareTransfer(job.feeds, transferInputs);
    const message: RunMessage = {
      type: 'run',
      id: job.id,
      feeds: tensors,
      outputs: job.outputs,
      ...(job.crash === undefined ? {} : { crash: job.crash }),
    };
    try {
      slot.worker.postMessage(message, transfer);
    } catch (error) {
      settle(job, () => {
        job.reject(
          new BastionError('INFERENCE_FAILED', 'model inference failed', { cause: error }),
        );
      });
      return;
    }
    slot.state = 'busy';
    slot.job = job;
    slot.worker.ref();
    runs += 1;
    inFlight += 1;
    hooks.onQueueWait?.(performance.now() - job.enqueuedAt);
  }

  function checkDrained(): void {
    if (drained !== undefined && queue.length === 0 && inFlight === 0) drained();
  }

  function run(
    feeds: Readonly<Record<string, HostTensor>>,
    outputs: readonly string[],
    runOptions: RunOptions = {},
  ): Promise<Record<string, HostTensor>> {
    if (closing !== undefined) {
      return Promise.reject(
        new BastionError('SHUTTING_DOWN', 'the model is being unloaded', { retryAfterSec }),
      );
    }
    const { signal } = runOptions;
    if (signal?.aborted === true) return Promise.reject(abortError(signal));
    if (queue.length >= maxQueue && idleSlot() === undefined) {
      return Promise.reject(
        new BastionError('OVERLOADED', 'the model is at capacity; retry later', { retryAfterSec }),
      );
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const index = queue.indexOf(job);
        if (index >= 0) queue.splice(index, 1); // dropped before it runs
        settle(job, () => {
          reject(abortError(signal as AbortSignal));
        });
        checkDrained();
      };
      const job: Job = {
        id: nextId++,
        feeds,
        outputs,
        enqueuedAt: performance.now(),
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
        crash: pendingCrash,
        settled: false,
      };
      pendingCrash = undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(job);
      pump();
    });
  }

  async function shutDown(): Promise<void> {
    if (queue.length > 0 || inFlight > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
      });
    }
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    const workers = [...slots].map((slot) => {
      slot.state = 'retired';
      return slot.worker.terminate();
    });
    slots.clear();
    await Promise.all(workers);
  }

  // Start one worker first: it settles the execution providers (and logs a CUDA fallback once).
  let signature: ModelSignature;
  try {
    const first = await startSlot().ready;
    signature = first.signature;
    init = { ...init, settings: { ...settings, executionProviders: first.executionProviders } };
    const rest = Array.from({ length: poolSize - 1 }, () => startSlot().ready);
    await Promise.all(rest);
  } catch (error) {
    await Promise.all(
      [...slots].map((slot) => ((slot.state = 'retired'), slot.worker.terminate())),
    );
    throw new BastionError('INFERENCE_FAILED', `model ${label} could not be loaded`, {
      cause: error,
    });
  }
  running = true;

  return {
    signature,
    run,
    stats: (): EngineStats => ({
      queueDepth: queue.length,
      inFlight,
      concurrency: poolSize,
      runs,
      restarts,
    }),
    close: (): Promise<void> => (closing ??= shutDown()),
    crashNextRunForTesting(mode: TestCrashMode): void {
      if (!allowTestCrash) throw new Error('test crashes are disabled for this engine');
      pendingCrash = mode;
    },
  };
}

/** The client-facing message for a failed run (the cause stays in the log). */
export function failureMessage(code: string): string {
  return code === 'INPUT_REJECTED_BY_MODEL'
    ? 'the model could not run on this input; check the shapes and values against the model metadata'
    : 'model inference failed';
}
