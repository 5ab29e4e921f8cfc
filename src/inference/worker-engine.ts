/**
 * The worker engine: a pool of worker threads per model version, each with its own ONNX Runtime
 * session, fed from one bounded FIFO queue. Because onnxruntime-node runs a session synchronously,
 * this is what keeps the event loop free while a model computes.
 *
 * Hand-rolled on node:worker_threads rather than piscina: every worker needs a per-model
 * initialisation (its own session from the shared bytes) before it takes work, the engine must
 * know exactly which request each worker holds (so a crash fails only those and nothing is
 * retried behind the caller's back), and the queue must drop aborted work and reject with our
 * error codes. Piscina would add a second queue, hide the worker ↔ task mapping and post one
 * message per task, where this engine posts one per worker per event-loop turn.
 */
import { performance } from 'node:perf_hooks';
import { BastionError, type ErrorCode } from '../errors.js';
import { abortError } from './abort-error.js';
import type { HostTensor, ModelSignature, RunOptions, SessionSettings } from './engine.js';
import type { EngineStats } from './engine-stats.js';
import {
  maxRequestsPerMessage,
  packTensors,
  type RunMessage,
  type TestCrashMode,
  unpackTensors,
  type WireRequest,
  type WorkerInit,
  type WorkerMessage,
} from './worker-protocol.js';
import {
  failureMessage,
  type HandoffStats,
  isErrorCode,
  Job,
  type Slot,
  type WorkerEngine,
  type WorkerEngineOptions,
  type WorkerReady,
} from './worker-job.js';
import { createRestartPolicy } from './restart-policy.js';
import { spawnModelWorker } from './worker-spawn.js';

export { failureMessage } from './worker-job.js';

export type { HandoffStats, WorkerEngine, WorkerEngineOptions } from './worker-job.js';

/**
 * Creates a worker engine: starts `poolSize` workers (the first alone, so a CUDA fallback is
 * decided and logged once) and resolves when all have loaded the model. Assignable to
 * `EngineFactory`; bind `options` with a closure.
 *
 * Requests queued in one event-loop turn go to the idle workers together, one message per
 * worker, as many per message as fit in `messageBudgetMs` of measured run time (one until the
 * first run is measured); their answers come back the same way.
 *
 * `run` rejects with `OVERLOADED` (queue full), `SHUTTING_DOWN` (after `close`), the abort error
 * of `RunOptions.signal` (see `abortError`; cancelled work is dropped before it runs, in the queue
 * or in a worker's batch), or `INFERENCE_FAILED` (the model failed, or its worker crashed while
 * holding the request).
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
  const budgetMs = Math.max(0, options.messageBudgetMs ?? 2);
  const hooks = options.hooks ?? {};
  const log = options.log ?? (() => undefined);
  const allowTestCrash = options.allowTestCrash ?? false;

  const model = new SharedArrayBuffer(modelBytes.byteLength);
  new Uint8Array(model).set(modelBytes);
  let init: Omit<WorkerInit, 'cancel'> = { model, settings, allowTestCrash };

  const slots = new Set<Slot>();
  const queue: Job[] = [];
  let nextId = 1;
  let runs = 0;
  let inFlight = 0;
  let messages = 0;
  let dispatched = 0;
  let meanRunMs: number | undefined;
  let pendingCrash: TestCrashMode | undefined;
  let scheduled = false;
  let running = false; // true once the initial pool is up; deaths before that fail creation
  let closing: Promise<void> | undefined;
  let drained: (() => void) | undefined;
  const restartPolicy = createRestartPolicy();

  function settle(job: Job, outcome: () => void): void {
    if (job.settled) return;
    job.settled = true;
    job.signal?.removeEventListener('abort', job);
    outcome();
  }

  function fail(job: Job, code: ErrorCode, cause: unknown): void {
    settle(job, () => {
      job.reject(new BastionError(code, failureMessage(code), { cause }));
    });
  }

  const owner = {
    /** A request's signal aborted: drop it from the queue, or flag it in its worker's batch. */
    abort(job: Job): void {
      if (job.settled) return;
      if (job.slot === undefined) {
        const index = queue.indexOf(job);
        if (index >= 0) queue.splice(index, 1); // dropped before it runs
      } else {
        Atomics.store(job.slot.cancel, job.index, 1); // the worker skips it if not yet run
      }
      settle(job, () => {
        job.reject(abortError(job.signal as AbortSignal));
      });
      checkDrained();
    },
  };

  function startSlot(): Slot {
    const cancel = new SharedArrayBuffer(4 * maxRequestsPerMessage);
    const worker = spawnModelWorker({ ...init, cancel });
    let onReady!: (ready: WorkerReady) => void;
    let onFailed!: (error: Error) => void;
    const ready = new Promise<WorkerReady>((resolve, reject) => {
      onReady = resolve;
      onFailed = reject;
    });
    ready.catch(() => undefined); // observed by the creator or by the restart logic
    const slot: Slot = {
      worker,
      cancel: new Int32Array(cancel),
      state: 'starting',
      jobs: [],
      answered: 0,
      runs: 0,
      lastError: undefined,
      ready,
    };
    slots.add(slot);

    worker.on('message', (message: WorkerMessage) => {
      switch (message.type) {
        case 'ready':
          slot.state = 'idle';
          worker.unref();
          onReady({ signature: message.signature, executionProviders: message.executionProviders });
          schedule();
          return;
        case 'init-failed':
          slot.lastError = message.message;
          retire(slot, `model failed to load in worker: ${message.message}`, onFailed);
          return;
        case 'log':
          log(`${label}: ${message.message}`);
          return;
        case 'results':
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
    const held = slot.jobs.slice(slot.answered);
    slot.jobs = [];
    inFlight -= held.length;
    for (const job of held) fail(job, 'INFERENCE_FAILED', new Error(reason));
    if (running && (closing === undefined || queue.length > 0)) scheduleRestart(reason);
    checkDrained();
  }

  function scheduleRestart(reason: string): void {
    log(`${label}: replacing a model worker (${reason})`);
    hooks.onWorkerRestart?.(label, reason);
    restartPolicy.schedule(startSlot); // backs off while workers keep dying (restart-policy.ts)
  }

  function finish(slot: Slot, message: Extract<WorkerMessage, { type: 'results' }>): void {
    for (const outcome of message.outcomes) {
      const job = slot.jobs[slot.answered];
      if (job?.id !== outcome.id) continue; // never happens: outcomes come in batch order
      slot.answered += 1;
      inFlight -= 1;
      if ('skipped' in outcome) {
        runs -= 1; // cancelled before it started, already settled by its abort
        continue;
      }
      if ('outputs' in outcome) {
        restartPolicy.succeeded();
        slot.runs += 1;
        if (slot.runs > 1) {
          meanRunMs =
            meanRunMs === undefined
              ? outcome.inferenceMs
              : meanRunMs + (outcome.inferenceMs - meanRunMs) / 4;
        }
        hooks.onInference?.(outcome.inferenceMs);
        if (job.settled) continue;
        try {
          const outputs = unpackTensors(outcome.outputs, message.pack);
          settle(job, () => {
            job.resolve(outputs);
          });
        } catch (error) {
          fail(job, 'INFERENCE_FAILED', error);
        }
      } else {
        const code = isErrorCode(outcome.code) ? outcome.code : 'INFERENCE_FAILED';
        fail(job, code, new Error(outcome.message));
      }
    }
    if (message.done && slot.state === 'busy') {
      slot.jobs = [];
      slot.answered = 0;
      slot.state = 'idle';
      slot.worker.unref();
      schedule();
    }
    checkDrained();
  }

  /** Requests one message may carry: as many as fit in the budget at the measured run time. */
  function perMessage(): number {
    if (meanRunMs === undefined) return 1;
    const fit = Math.floor(budgetMs / Math.max(meanRunMs, 0.001));
    return Math.min(maxRequestsPerMessage, Math.max(1, fit));
  }

  function idleCount(): number {
    let idle = 0;
    for (const slot of slots) if (slot.state === 'idle') idle += 1;
    return idle;
  }

  /** Hands the queue to the idle workers once per event-loop turn, after this turn's requests. */
  function schedule(): void {
    if (scheduled || queue.length === 0) return;
    scheduled = true;
    setImmediate(pump);
  }

  function pump(): void {
    scheduled = false;
    let idle = idleCount();
    const cap = perMessage();
    for (const slot of slots) {
      if (queue.length === 0 || idle === 0) break;
      if (slot.state !== 'idle') continue;
      const take = Math.min(cap, Math.ceil(queue.length / idle));
      idle -= 1;
      dispatch(slot, queue.splice(0, take));
    }
  }

  function dispatch(slot: Slot, jobs: Job[]): void {
    slot.cancel.fill(0);
    const { tensors, pack, transfer } = packTensors(
      jobs.map((job) => job.feeds),
      transferInputs,
    );
    const requests = jobs.map((job, index): WireRequest => {
      job.slot = slot;
      job.index = index;
      const feeds = tensors[index] ?? {};
      return job.crash === undefined
        ? { id: job.id, feeds, outputs: job.outputs }
        : { id: job.id, feeds, outputs: job.outputs, crash: job.crash };
    });
    try {
      slot.worker.postMessage({ type: 'run', requests, pack } satisfies RunMessage, transfer);
    } catch (error) {
      for (const job of jobs) fail(job, 'INFERENCE_FAILED', error);
      return;
    }
    slot.state = 'busy';
    slot.jobs = jobs;
    slot.answered = 0;
    slot.worker.ref();
    messages += 1;
    runs += jobs.length;
    dispatched += jobs.length;
    inFlight += jobs.length;
    const now = performance.now();
    for (const job of jobs) hooks.onQueueWait?.(now - job.enqueuedAt);
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
    // The requests the idle workers take at the next hand-off are not waiting for a worker.
    if (queue.length >= maxQueue + idleCount() * perMessage()) {
      return Promise.reject(
        new BastionError('OVERLOADED', 'the model is at capacity; retry later', { retryAfterSec }),
      );
    }
    return new Promise((resolve, reject) => {
      const job = new Job(owner, nextId++, feeds, outputs, signal, resolve, reject, pendingCrash);
      pendingCrash = undefined;
      signal?.addEventListener('abort', job, { once: true });
      queue.push(job);
      schedule();
    });
  }

  async function shutDown(): Promise<void> {
    if (queue.length > 0 || inFlight > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
      });
    }
    restartPolicy.cancel();
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
      restarts: restartPolicy.restarts,
    }),
    handoffStats: (): HandoffStats => ({
      messages,
      requests: dispatched,
      perMessage: perMessage(),
      workers: [...slots].filter((s) => s.state === 'idle' || s.state === 'busy').length,
    }),
    close: (): Promise<void> => (closing ??= shutDown()),
    crashNextRunForTesting(mode: TestCrashMode): void {
      if (!allowTestCrash) throw new Error('test crashes are disabled for this engine');
      pendingCrash = mode;
    },
  };
}
