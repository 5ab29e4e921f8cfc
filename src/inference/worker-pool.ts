/**
 * The state behind a worker engine (`worker-engine.ts`): its workers ({@link Slot}s), the one
 * bounded FIFO queue that feeds them, the hand-off of that queue once per event-loop turn, the
 * routing of answers back to their requests, and the replacement of workers that die. A class
 * with short methods rather than one closure factory; `createWorkerEngine` exposes only the
 * engine's interface of it.
 */
import { performance } from 'node:perf_hooks';
import { BastionError, type ErrorCode } from '../errors.js';
import { abortError, overloadedError, shuttingDownError } from './abort-error.js';
import type { HostTensor, ModelSignature, RunOptions, SessionSettings } from './engine.js';
import type { EngineHooks, EngineStats } from './engine-stats.js';
import { createRestartPolicy } from './restart-policy.js';
import {
  failureMessage,
  type HandoffStats,
  isErrorCode,
  Job,
  type Slot,
  type WorkerEngineOptions,
} from './worker-job.js';
import {
  maxRequestsPerMessage,
  packTensors,
  type RunMessage,
  type TestCrashMode,
  unpackTensors,
  type WireOutcome,
  type WireRequest,
  type WorkerInit,
} from './worker-protocol.js';
import { type ResultsMessage, type SlotOwner, startSlot } from './worker-slot.js';

/** A worker engine's pool; see `createWorkerEngine` for what `run` rejects with. */
export class WorkerPool implements SlotOwner {
  readonly poolSize: number;
  readonly #maxQueue: number;
  readonly #retryAfterSec: number;
  readonly #transferInputs: boolean;
  readonly #budgetMs: number;
  readonly #hooks: EngineHooks;
  readonly #log: (message: string) => void;
  readonly #allowTestCrash: boolean;
  readonly #settings: SessionSettings;
  readonly #label: string;
  #init: Omit<WorkerInit, 'cancel'>;

  readonly #slots = new Set<Slot>();
  readonly #queue: Job[] = [];
  readonly #restartPolicy = createRestartPolicy();
  #nextId = 1;
  #runs = 0;
  #inFlight = 0;
  #messages = 0;
  #dispatched = 0;
  #meanRunMs: number | undefined;
  #pendingCrash: TestCrashMode | undefined;
  #scheduled = false;
  #running = false; // true once the initial pool is up; deaths before that fail creation
  #closing: Promise<void> | undefined;
  #drained: (() => void) | undefined;
  /** Made once: the callbacks for `setImmediate` and the restart policy. */
  readonly #pump = (): void => {
    this.#handOff();
  };
  readonly #restart = (): void => {
    this.#startSlot();
  };

  constructor(
    modelBytes: Uint8Array,
    settings: SessionSettings,
    label: string,
    options: WorkerEngineOptions,
  ) {
    this.poolSize = Math.max(1, Math.floor(options.poolSize ?? 1));
    this.#maxQueue = Math.max(0, Math.floor(options.maxQueue ?? 64));
    this.#retryAfterSec = options.retryAfterSec ?? 1;
    this.#transferInputs = options.transferInputs ?? true;
    this.#budgetMs = Math.max(0, options.messageBudgetMs ?? 2);
    this.#hooks = options.hooks ?? {};
    this.#log = options.log ?? (() => undefined);
    this.#allowTestCrash = options.allowTestCrash ?? false;
    this.#settings = settings;
    this.#label = label;
    const model = new SharedArrayBuffer(modelBytes.byteLength);
    new Uint8Array(model).set(modelBytes);
    this.#init = { model, settings, allowTestCrash: this.#allowTestCrash };
  }

  /**
   * Starts the workers: one first, which settles the execution providers (and logs a CUDA
   * fallback once), then the rest on those providers. Resolves with the model's signature.
   *
   * @throws BastionError `INFERENCE_FAILED` when the model cannot be loaded.
   */
  async start(): Promise<ModelSignature> {
    let signature: ModelSignature;
    try {
      const first = await this.#startSlot().ready;
      signature = first.signature;
      const executionProviders = first.executionProviders;
      this.#init = { ...this.#init, settings: { ...this.#settings, executionProviders } };
      const rest = Array.from({ length: this.poolSize - 1 }, () => this.#startSlot().ready);
      await Promise.all(rest);
    } catch (error) {
      await Promise.all(
        [...this.#slots].map((slot) => ((slot.state = 'retired'), slot.worker.terminate())),
      );
      throw new BastionError('INFERENCE_FAILED', `model ${this.#label} could not be loaded`, {
        cause: error,
      });
    }
    this.#running = true;
    return signature;
  }

  run(
    feeds: Readonly<Record<string, HostTensor>>,
    outputs: readonly string[],
    runOptions: RunOptions = {},
  ): Promise<Record<string, HostTensor>> {
    const retryAfterSec = this.#retryAfterSec;
    if (this.#closing !== undefined) {
      return Promise.reject(shuttingDownError(retryAfterSec));
    }
    const { signal } = runOptions;
    if (signal?.aborted === true) return Promise.reject(abortError(signal));
    // The requests the idle workers take at the next hand-off are not waiting for a worker.
    if (this.#queue.length >= this.#maxQueue + this.#idleCount() * this.#perMessage()) {
      return Promise.reject(overloadedError(retryAfterSec));
    }
    return new Promise((resolve, reject) => {
      const crash = this.#pendingCrash;
      const job = new Job(this, this.#nextId++, feeds, outputs, signal, resolve, reject, crash);
      this.#pendingCrash = undefined;
      signal?.addEventListener('abort', job, { once: true });
      this.#queue.push(job);
      this.#schedule();
    });
  }

  /** A request's signal aborted: drop it from the queue, or flag it in its worker's batch. */
  abort(job: Job): void {
    if (job.settled) return;
    if (job.slot === undefined) {
      const index = this.#queue.indexOf(job);
      if (index >= 0) this.#queue.splice(index, 1); // dropped before it runs
    } else {
      Atomics.store(job.slot.cancel, job.index, 1); // the worker skips it if not yet run
    }
    if (this.#settle(job)) job.reject(abortError(job.signal as AbortSignal));
    this.#checkDrained();
  }

  stats(): EngineStats {
    return {
      queueDepth: this.#queue.length,
      inFlight: this.#inFlight,
      concurrency: this.poolSize,
      runs: this.#runs,
      restarts: this.#restartPolicy.restarts,
    };
  }

  handoffStats(): HandoffStats {
    return {
      messages: this.#messages,
      requests: this.#dispatched,
      perMessage: this.#perMessage(),
      workers: [...this.#slots].filter((s) => s.state === 'idle' || s.state === 'busy').length,
    };
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#shutDown());
  }

  crashNextRunForTesting(mode: TestCrashMode): void {
    if (!this.#allowTestCrash) throw new Error('test crashes are disabled for this engine');
    this.#pendingCrash = mode;
  }

  slotReady(): void {
    this.#schedule();
  }

  workerLog(message: string): void {
    this.#log(`${this.#label}: ${message}`);
  }

  /** A worker died or failed to load: fail what it held, then replace it if the engine is live. */
  retire(slot: Slot, reason: string, failed: (error: Error) => void): void {
    if (slot.state === 'retired') return;
    slot.state = 'retired';
    this.#slots.delete(slot);
    void slot.worker.terminate();
    failed(new Error(reason));
    const held = slot.jobs.slice(slot.answered);
    slot.jobs = [];
    this.#inFlight -= held.length;
    for (const job of held) this.#fail(job, 'INFERENCE_FAILED', new Error(reason));
    if (this.#running && (this.#closing === undefined || this.#queue.length > 0)) {
      this.#log(`${this.#label}: replacing a model worker (${reason})`);
      this.#hooks.onWorkerRestart?.(this.#label, reason);
      this.#restartPolicy.schedule(this.#restart); // backs off while workers keep dying
    }
    this.#checkDrained();
  }

  /** A worker answered part of its batch (in batch order); with `done` it is free again. */
  finish(slot: Slot, message: ResultsMessage): void {
    for (const outcome of message.outcomes) {
      const job = slot.jobs[slot.answered];
      if (job?.id !== outcome.id) continue; // never happens: outcomes come in batch order
      slot.answered += 1;
      this.#inFlight -= 1;
      this.#answer(slot, job, outcome, message.pack);
    }
    if (message.done && slot.state === 'busy') {
      slot.jobs = [];
      slot.answered = 0;
      slot.state = 'idle';
      slot.worker.unref();
      this.#schedule();
    }
    this.#checkDrained();
  }

  /** Settles `job` with its outcome, and feeds a finished run into the measured mean. */
  #answer(slot: Slot, job: Job, outcome: WireOutcome, pack: ArrayBuffer | undefined): void {
    if ('skipped' in outcome) {
      this.#runs -= 1; // cancelled before it started, already settled by its abort
      return;
    }
    if (!('outputs' in outcome)) {
      const code = isErrorCode(outcome.code) ? outcome.code : 'INFERENCE_FAILED';
      this.#fail(job, code, new Error(outcome.message));
      return;
    }
    this.#restartPolicy.succeeded();
    slot.runs += 1;
    if (slot.runs > 1) {
      const mean = this.#meanRunMs;
      this.#meanRunMs =
        mean === undefined ? outcome.inferenceMs : mean + (outcome.inferenceMs - mean) / 4;
    }
    this.#hooks.onInference?.(outcome.inferenceMs);
    if (job.settled) return;
    try {
      const outputs = unpackTensors(outcome.outputs, pack);
      if (this.#settle(job)) job.resolve(outputs);
    } catch (error) {
      this.#fail(job, 'INFERENCE_FAILED', error);
    }
  }

  /** Marks `job` settled and stops listening for its abort; false when it already was. */
  #settle(job: Job): boolean {
    if (job.settled) return false;
    job.settled = true;
    job.signal?.removeEventListener('abort', job);
    return true;
  }

  #fail(job: Job, code: ErrorCode, cause: unknown): void {
    if (this.#settle(job)) job.reject(new BastionError(code, failureMessage(code), { cause }));
  }

  #startSlot(): Slot {
    const slot = startSlot(this.#init, this);
    this.#slots.add(slot);
    return slot;
  }

  /** Requests one message may carry: as many as fit in the budget at the measured run time. */
  #perMessage(): number {
    if (this.#meanRunMs === undefined) return 1;
    const fit = Math.floor(this.#budgetMs / Math.max(this.#meanRunMs, 0.001));
    return Math.min(maxRequestsPerMessage, Math.max(1, fit));
  }

  #idleCount(): number {
    let idle = 0;
    for (const slot of this.#slots) if (slot.state === 'idle') idle += 1;
    return idle;
  }

  /** Hands the queue to the idle workers once per event-loop turn, after this turn's requests. */
  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(this.#pump);
  }

  #handOff(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    let idle = this.#idleCount();
    const cap = this.#perMessage();
    for (const slot of this.#slots) {
      if (queue.length === 0 || idle === 0) break;
      if (slot.state !== 'idle') continue;
      const take = Math.min(cap, Math.ceil(queue.length / idle));
      idle -= 1;
      this.#dispatch(slot, queue.splice(0, take));
    }
  }

  #dispatch(slot: Slot, jobs: Job[]): void {
    slot.cancel.fill(0);
    const { tensors, pack, transfer } = packTensors(
      jobs.map((job) => job.feeds),
      this.#transferInputs,
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
      for (const job of jobs) this.#fail(job, 'INFERENCE_FAILED', error);
      return;
    }
    slot.state = 'busy';
    slot.jobs = jobs;
    slot.answered = 0;
    slot.worker.ref();
    this.#messages += 1;
    this.#runs += jobs.length;
    this.#dispatched += jobs.length;
    this.#inFlight += jobs.length;
    const now = performance.now();
    for (const job of jobs) this.#hooks.onQueueWait?.(now - job.enqueuedAt);
  }

  #checkDrained(): void {
    if (this.#drained !== undefined && this.#queue.length === 0 && this.#inFlight === 0) {
      this.#drained();
    }
  }

  async #shutDown(): Promise<void> {
    if (this.#queue.length > 0 || this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    this.#restartPolicy.cancel();
    const workers = [...this.#slots].map((slot) => {
      slot.state = 'retired';
      return slot.worker.terminate();
    });
    this.#slots.clear();
    await Promise.all(workers);
  }
}
