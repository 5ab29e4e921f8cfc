/**
 * Dynamic batching (Triton's model, PROTOCOL.md "Dynamic batching") as a wrapper around any
 * engine: concurrent requests with the same inputs, types and non-batch dims are concatenated
 * along dim 0, run once, and split back by row counts, in arrival order. A batch that fails is
 * retried member by member, so one bad request never fails its batch-mates.
 */
import { performance } from 'node:perf_hooks';
import { BastionError, isBastionError } from '../errors.js';
import { abortError } from './abort-error.js';
import type { HostTensor, ModelEngine, ModelSignature, RunOptions } from './engine.js';
import {
  type EngineHooks,
  type EngineStats,
  isObservableEngine,
  type ObservableEngine,
} from './engine-stats.js';
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
  group: Group | undefined;
  batch: Batch | undefined;
  detach: () => void;
  settled: boolean;
}

interface Group {
  readonly key: string;
  readonly solo: boolean;
  readonly members: Member[];
  rows: number;
}

/** Errors that say nothing about the request itself: retrying members alone would not help. */
const notRetried = new Set(['OVERLOADED', 'SHUTTING_DOWN', 'DEADLINE_EXCEEDED']);

function optionsFor(member: Member, signal = member.signal): RunOptions {
  return signal === undefined ? {} : { signal };
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
  const preferred = new Set(options.preferredBatchSizes ?? []);
  const maxQueue = options.maxQueue ?? 256;
  const retryAfterSec = options.retryAfterSec ?? 1;
  const hooks = options.hooks ?? {};
  const innerStats = isObservableEngine(inner) ? inner.stats.bind(inner) : undefined;
  const maxConcurrent = Math.max(
    1,
    options.maxConcurrentBatches ?? innerStats?.().concurrency ?? 1,
  );

  const groups = new Map<string, Group>();
  let pending = 0;
  let inFlightBatches = 0;
  let inFlightRequests = 0;
  let batches = 0;
  let soloSeq = 0;
  let timer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  let flushing = false; // set before closing, so the flush in shutDown sees it
  let drained: (() => void) | undefined;

  function settle(member: Member, outcome: () => void): void {
    if (member.settled) return;
    member.settled = true;
    member.detach();
    outcome();
  }

  function removePending(member: Member): void {
    const group = member.group;
    if (group === undefined) return;
    member.group = undefined;
    group.members.splice(group.members.indexOf(member), 1);
    group.rows -= member.rows;
    pending -= 1;
    if (group.members.length === 0) groups.delete(group.key);
  }

  /** The FIFO prefix that fits in one batch, cut back to a preferred size when one is reachable. */
  function take(group: Group): Member[] {
    let count = 0;
    let rows = 0;
    let preferredCount = 0;
    for (const member of group.members) {
      if (count > 0 && rows + member.rows > maxBatchSize) break;
      count += 1;
      rows += member.rows;
      if (preferred.has(rows)) preferredCount = count;
    }
    if (preferredCount > 0 && rows < maxBatchSize) count = preferredCount;
    const taken = group.members.slice(0, count);
    for (const member of taken) removePending(member);
    return taken;
  }

  function isReady(group: Group, now: number): boolean {
    const oldest = group.members[0];
    if (oldest === undefined) return false;
    if (flushing || group.solo || group.rows >= maxBatchSize) return true;
    if (now - oldest.enqueuedAt >= maxQueueDelayMs) return true;
    let rows = 0;
    for (const member of group.members) {
      rows += member.rows;
      if (preferred.has(rows)) return true;
    }
    return false;
  }

  function pump(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const now = performance.now();
    while (inFlightBatches < maxConcurrent) {
      let next: Group | undefined;
      for (const group of groups.values()) {
        const oldest = group.members[0];
        const best = next?.members[0];
        if (oldest === undefined || !isReady(group, now)) continue;
        if (best === undefined || oldest.enqueuedAt < best.enqueuedAt) next = group;
      }
      if (next === undefined) break;
      void dispatch(take(next), now);
    }
    if (inFlightBatches >= maxConcurrent) return;
    let due = Infinity;
    for (const group of groups.values()) {
      const oldest = group.members[0];
      if (oldest !== undefined) due = Math.min(due, oldest.enqueuedAt + maxQueueDelayMs);
    }
    if (due !== Infinity) timer = setTimeout(pump, Math.max(0, due - now));
  }

  async function runAlone(member: Member): Promise<void> {
    if (member.settled) return;
    try {
      const outputs = await inner.run(member.feeds, member.outputs, optionsFor(member));
      settle(member, () => {
        member.resolve(outputs);
      });
    } catch (error) {
      settle(member, () => {
        member.reject(error);
      });
    }
  }

  async function runTogether(members: readonly Member[]): Promise<void> {
    const batch: Batch = { controller: new AbortController(), live: members.length };
    const wanted = [...new Set(members.flatMap((member) => member.outputs))];
    const feeds: Record<string, HostTensor> = {};
    for (const name of Object.keys(members[0]?.feeds ?? {})) {
      feeds[name] = concatRows(members.map((member) => member.feeds[name] as HostTensor));
    }
    for (const member of members) member.batch = batch;
    let parts: Record<string, HostTensor>[];
    try {
      const outputs = await inner.run(feeds, wanted, { signal: batch.controller.signal });
      const rowCounts = members.map((member) => member.rows);
      parts = members.map(() => ({}));
      for (const name of wanted) {
        splitRows(outputs[name] as HostTensor, rowCounts).forEach((part, index) => {
          (parts[index] as Record<string, HostTensor>)[name] = part;
        });
      }
    } catch (error) {
      if (isBastionError(error) && notRetried.has(error.code)) {
        for (const member of members)
          settle(member, () => {
            member.reject(error);
          });
        return;
      }
      // Someone in the batch is bad (or the model does not keep rows apart): run each alone.
      for (const member of members) await runAlone(member);
      return;
    }
    members.forEach((member, index) => {
      const mine: Record<string, HostTensor> = {};
      for (const name of member.outputs)
        mine[name] = (parts[index] as Record<string, HostTensor>)[name] as HostTensor;
      settle(member, () => {
        member.resolve(mine);
      });
    });
  }

  async function dispatch(members: readonly Member[], now: number): Promise<void> {
    inFlightBatches += 1;
    inFlightRequests += members.length;
    batches += 1;
    const rows = members.reduce((sum, member) => sum + member.rows, 0);
    hooks.onBatch?.(members.length, rows);
    for (const member of members) hooks.onQueueWait?.(now - member.enqueuedAt);
    try {
      if (members.length === 1) await runAlone(members[0] as Member);
      else await runTogether(members);
      hooks.onBatchRun?.(rows, performance.now() - now);
    } finally {
      inFlightBatches -= 1;
      inFlightRequests -= members.length;
      pump();
      if (drained !== undefined && pending === 0 && inFlightBatches === 0) drained();
    }
  }

  function run(
    feeds: Readonly<Record<string, HostTensor>>,
    outputs: readonly string[],
    runOptions: RunOptions = {},
  ): Promise<Record<string, HostTensor>> {
    if (flushing) {
      return Promise.reject(
        new BastionError('SHUTTING_DOWN', 'the model is being unloaded', { retryAfterSec }),
      );
    }
    const { signal } = runOptions;
    if (signal?.aborted === true) return Promise.reject(abortError(signal));
    if (pending >= maxQueue) {
      return Promise.reject(
        new BastionError('OVERLOADED', 'the model is at capacity; retry later', { retryAfterSec }),
      );
    }
    const rows = batchRows(feeds);
    const solo = rows === undefined || rows > maxBatchSize;
    const key = solo ? `solo:${soloSeq++}` : batchKey(feeds);
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
        detach: () => signal?.removeEventListener('abort', onAbort),
        settled: false,
      };
      function onAbort(): void {
        if (member.settled || signal === undefined) return;
        removePending(member); // dropped before it runs, if still waiting
        settle(member, () => {
          reject(abortError(signal));
        });
        const batch = member.batch;
        if (batch !== undefined && --batch.live === 0) batch.controller.abort(signal.reason);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      let group = groups.get(key);
      if (group === undefined) {
        group = { key, solo, members: [], rows: 0 };
        groups.set(key, group);
      }
      group.members.push(member);
      group.rows += member.rows;
      member.group = group;
      pending += 1;
      pump();
    });
  }

  async function shutDown(): Promise<void> {
    pump(); // everything queued is ready now
    if (pending > 0 || inFlightBatches > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
      });
    }
    await inner.close();
  }

  return {
    signature: inner.signature,
    run,
    stats(): EngineStats {
      const below = innerStats?.();
      return {
        queueDepth: pending + (below?.queueDepth ?? 0),
        inFlight: inFlightRequests,
        concurrency: maxConcurrent,
        runs: below?.runs ?? batches,
        restarts: below?.restarts ?? 0,
      };
    },
    close(): Promise<void> {
      if (closing === undefined) {
        flushing = true;
        closing = shutDown();
      }
      return closing;
    },
  };
}
