/**
 * Dynamic batching (Triton's model, PROTOCOL.md "Dynamic batching") as a wrapper around any
 * engine: concurrent requests with the same inputs, types and non-batch dims are concatenated
 * along dim 0, run once, and split back by row counts, in arrival order. A batch that fails is
 * retried member by member, so one bad request never fails its batch-mates.
 */
import { performance } from 'node:perf_hooks';
import { isBastionError } from '../errors.js';
import { abortError, overloadedError, shuttingDownError } from './abort-error.js';
import type { HostTensor, ModelEngine, ModelSignature, RunOptions } from './engine.js';
import {
  type EngineHooks,
  type EngineStats,
  isObservableEngine,
  type ObservableEngine,
} from './engine-stats.js';
import { type BatchGroup, BatchQueue } from './batch-queue.js';
import { batchKey, batchRows, concatRows, splitRows } from './tensor-batch.js';

/** Options for {@link createBatchingEngine} (Triton's `dynamic_batching` block). */
export interface BatchingOptions {
  /** Most rows (dim 0) in one model run. A larger request runs alone. */
  readonly maxBatchSize: number;
  /** How long the oldest waiting request may be held to grow its batch. 0 = never wait. */
  readonly maxQueueDelayMs: number;
  /** Row counts to dispatch at once when reached, and to prefer when the delay expires. */
  readonly preferredBatchSizes?: readonly number[];
  /** Requests that may wait to be batched; beyond that `run` rejects `OVERLOADED`. Default 256. */
  readonly maxQueue?: number;
  /** Batches running at once. Default: the inner engine's `stats().concurrency`, else 1. */
  readonly maxConcurrentBatches?: number;
  /** `retryAfterSec` on `OVERLOADED` and `SHUTTING_DOWN`. Default 1. */
  readonly retryAfterSec?: number;
  /** `onBatch` per dispatched batch, `onQueueWait` per request (time spent being batched). */
  readonly hooks?: EngineHooks;
}

/** True when every input and output has a dynamic (`-1`) first dim, so requests can be batched. */
export function isBatchableSignature(signature: ModelSignature): boolean {
  return [...signature.inputs, ...signature.outputs].every((spec) => spec.dims[0] === -1);
}

interface Batch {
  readonly controller: AbortController;
  live: number;
}

interface Member {
  readonly feeds: Readonly<Record<string, HostTensor>>;
  readonly outputs: readonly string[];
  readonly rows: number;
  readonly signal: AbortSignal | undefined;
  readonly enqueuedAt: number;
  readonly resolve: (outputs: Record<string, HostTensor>) => void;
  readonly reject: (error: unknown) => void;
  group: BatchGroup<Member> | undefined;
  batch: Batch | undefined;
  onAbort: (() => void) | undefined;
  settled: boolean;
}

/** Errors that say nothing about the request itself: retrying members alone would not help. */
const notRetried = new Set(['OVERLOADED', 'SHUTTING_DOWN', 'DEADLINE_EXCEEDED']);

function optionsFor(member: Member): RunOptions {
  return member.signal === undefined ? {} : { signal: member.signal };
}

/** Settles a member once: later outcomes (an abort after its answer, say) are dropped. */
function settle(member: Member, error: unknown, outputs?: Record<string, HostTensor>): void {
  if (member.settled) return;
  member.settled = true;
  if (member.onAbort !== undefined) member.signal?.removeEventListener('abort', member.onAbort);
  if (outputs === undefined) member.reject(error);
  else member.resolve(outputs);
}

/** The batch's inputs: each input of every member concatenated along dim 0, in member order. */
function batchFeeds(members: readonly Member[]): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {};
  for (const name of Object.keys(members[0]?.feeds ?? {})) {
    feeds[name] = concatRows(members.map((member) => member.feeds[name] as HostTensor));
  }
  return feeds;
}

/** Each member's share of the batch's outputs: its rows of every output it asked for. */
function memberOutputs(
  members: readonly Member[],
  outputs: Readonly<Record<string, HostTensor>>,
  wanted: readonly string[],
): Record<string, HostTensor>[] {
  const parts: Record<string, HostTensor>[] = members.map(() => ({}));
  const rowCounts = members.map((member) => member.rows);
  for (const name of wanted) {
    splitRows(outputs[name] as HostTensor, rowCounts).forEach((part, index) => {
      (parts[index] as Record<string, HostTensor>)[name] = part;
    });
  }
  return members.map((member, index) => {
    const mine: Record<string, HostTensor> = {};
    for (const name of member.outputs) {
      mine[name] = (parts[index] as Record<string, HostTensor>)[name] as HostTensor;
    }
    return mine;
  });
}

/**
 * Wraps `inner` with dynamic batching. `run` rejects like the inner engine, plus `OVERLOADED`
 * when `maxQueue` requests are already waiting and `SHUTTING_DOWN` after `close` (which flushes
 * what is queued, waits for it, then closes `inner`).
 *
 * @throws RangeError when the model's signature has a fixed first dim, or the options are invalid.
 */
export function createBatchingEngine(
  inner: ModelEngine,
  options: BatchingOptions,
): ObservableEngine {
  const { maxBatchSize, maxQueueDelayMs } = options;
  if (!Number.isSafeInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(`maxBatchSize must be a positive integer, got ${maxBatchSize}`);
  }
  if (!(maxQueueDelayMs >= 0)) throw new RangeError('maxQueueDelayMs must be ≥ 0');
  if (!isBatchableSignature(inner.signature)) {
    throw new RangeError('dynamic batching needs a dynamic first dim on every input and output');
  }
  return new BatchingEngine(inner, options);
}

class BatchingEngine implements ObservableEngine {
  readonly signature: ModelSignature;
  readonly #inner: ModelEngine;
  readonly #queue: BatchQueue<Member>;
  readonly #maxBatchSize: number;
  readonly #maxQueue: number;
  readonly #maxConcurrent: number;
  readonly #retryAfterSec: number;
  readonly #hooks: EngineHooks;
  readonly #innerStats: (() => EngineStats) | undefined;
  #inFlightBatches = 0;
  #inFlightRequests = 0;
  #batches = 0;
  #soloSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #flushing = false; // set before closing, so the flush in shutDown sees it
  #drained: (() => void) | undefined;
  readonly #pumpLater = (): void => {
    this.#pump();
  };

  constructor(inner: ModelEngine, options: BatchingOptions) {
    this.#inner = inner;
    this.signature = inner.signature;
    this.#maxBatchSize = options.maxBatchSize;
    this.#queue = new BatchQueue(options);
    this.#maxQueue = options.maxQueue ?? 256;
    this.#retryAfterSec = options.retryAfterSec ?? 1;
    this.#hooks = options.hooks ?? {};
    this.#innerStats = isObservableEngine(inner) ? inner.stats.bind(inner) : undefined;
    this.#maxConcurrent = Math.max(
      1,
      options.maxConcurrentBatches ?? this.#innerStats?.().concurrency ?? 1,
    );
  }

  run(
    feeds: Readonly<Record<string, HostTensor>>,
    outputs: readonly string[],
    runOptions: RunOptions = {},
  ): Promise<Record<string, HostTensor>> {
    const retryAfterSec = this.#retryAfterSec;
    if (this.#flushing) {
      return Promise.reject(shuttingDownError(retryAfterSec));
    }
    const { signal } = runOptions;
    if (signal?.aborted === true) return Promise.reject(abortError(signal));
    if (this.#queue.pending >= this.#maxQueue) {
      return Promise.reject(overloadedError(retryAfterSec));
    }
    const rows = batchRows(feeds);
    const solo = rows === undefined || rows > this.#maxBatchSize;
    const key = solo ? `solo:${this.#soloSeq++}` : batchKey(feeds);
    return new Promise((resolve, reject) => {
      const member: Member = {
        feeds,
        outputs,
        rows: rows ?? 0,
        signal,
        enqueuedAt: performance.now(),
        resolve,
        reject,
        group: undefined,
        batch: undefined,
        onAbort: undefined,
        settled: false,
      };
      if (signal !== undefined) {
        member.onAbort = (): void => {
          this.#abandon(member, signal);
        };
        signal.addEventListener('abort', member.onAbort, { once: true });
      }
      this.#queue.add(member, key, solo);
      this.#pump();
    });
  }

  stats(): EngineStats {
    const below = this.#innerStats?.();
    return {
      queueDepth: this.#queue.pending + (below?.queueDepth ?? 0),
      inFlight: this.#inFlightRequests,
      concurrency: this.#maxConcurrent,
      runs: below?.runs ?? this.#batches,
      restarts: below?.restarts ?? 0,
    };
  }

  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#flushing = true;
      this.#closing = this.#shutDown();
    }
    return this.#closing;
  }

  /** A member's signal aborted: dropped if still waiting, its batch aborted once none is left. */
  #abandon(member: Member, signal: AbortSignal): void {
    if (member.settled) return;
    this.#queue.remove(member);
    settle(member, abortError(signal));
    const batch = member.batch;
    if (batch !== undefined && --batch.live === 0) batch.controller.abort(signal.reason);
  }

  /** Dispatches every ready batch there is room for, then waits for the oldest wait to run out. */
  #pump(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = performance.now();
    while (this.#inFlightBatches < this.#maxConcurrent) {
      const members = this.#queue.takeReady(now, this.#flushing);
      if (members === undefined) break;
      void this.#dispatch(members, now);
    }
    if (this.#inFlightBatches >= this.#maxConcurrent) return;
    const due = this.#queue.nextDue();
    if (due !== Infinity) this.#timer = setTimeout(this.#pumpLater, Math.max(0, due - now));
  }

  async #dispatch(members: readonly Member[], now: number): Promise<void> {
    this.#inFlightBatches += 1;
    this.#inFlightRequests += members.length;
    this.#batches += 1;
    const rows = members.reduce((sum, member) => sum + member.rows, 0);
    this.#hooks.onBatch?.(members.length, rows);
    for (const member of members) this.#hooks.onQueueWait?.(now - member.enqueuedAt);
    try {
      if (members.length === 1) await this.#runAlone(members[0] as Member);
      else await this.#runTogether(members);
      this.#hooks.onBatchRun?.(rows, performance.now() - now);
    } finally {
      this.#inFlightBatches -= 1;
      this.#inFlightRequests -= members.length;
      this.#pump();
      if (this.#drained !== undefined && this.#queue.pending === 0 && this.#inFlightBatches === 0) {
        this.#drained();
      }
    }
  }

  async #runAlone(member: Member): Promise<void> {
    if (member.settled) return;
    try {
      settle(
        member,
        undefined,
        await this.#inner.run(member.feeds, member.outputs, optionsFor(member)),
      );
    } catch (error) {
      settle(member, error);
    }
  }

  async #runTogether(members: readonly Member[]): Promise<void> {
    const batch: Batch = { controller: new AbortController(), live: members.length };
    const wanted = [...new Set(members.flatMap((member) => member.outputs))];
    const feeds = batchFeeds(members);
    for (const member of members) member.batch = batch;
    let answers: Record<string, HostTensor>[];
    try {
      const outputs = await this.#inner.run(feeds, wanted, { signal: batch.controller.signal });
      answers = memberOutputs(members, outputs, wanted);
    } catch (error) {
      if (isBastionError(error) && notRetried.has(error.code)) {
        for (const member of members) settle(member, error);
        return;
      }
      // Someone in the batch is bad (or the model does not keep rows apart): run each alone.
      for (const member of members) await this.#runAlone(member);
      return;
    }
    members.forEach((member, index) => {
      settle(member, undefined, answers[index]);
    });
  }

  async #shutDown(): Promise<void> {
    this.#pump(); // everything queued is ready now
    if (this.#queue.pending > 0 || this.#inFlightBatches > 0) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    await this.#inner.close();
  }
}
