/**
 * The waiting room of dynamic batching (batching-engine.ts): requests grouped by what can share a
 * run (same inputs, types and non-batch dims), each group in arrival order. It decides which
 * group is ready, what prefix of it forms the next batch, and when the oldest wait runs out. It
 * holds no timers and reads no clock: the caller passes `now`, so it is tested on its own.
 */

/** Requests that can run together, oldest first. */
export interface BatchGroup<M> {
  readonly key: string;
  /** A request that runs alone (no batchable row count, or more rows than a batch holds). */
  readonly solo: boolean;
  readonly members: M[];
  rows: number;
}

/** What the queue needs of a waiting request. */
export interface Batchable<M> {
  readonly rows: number;
  /** When it was queued, on the caller's clock (`performance.now()`). */
  readonly enqueuedAt: number;
  /** The group it waits in; undefined once taken or removed. */
  group: BatchGroup<M> | undefined;
}

export interface BatchQueueOptions {
  /** Most rows in one batch; a group this full is ready. */
  readonly maxBatchSize: number;
  /** How long a group's oldest request may wait before the group is ready anyway. */
  readonly maxQueueDelayMs: number;
  /** Row counts that make a group ready at once, and that a batch is cut back to. */
  readonly preferredBatchSizes?: readonly number[] | undefined;
}

export class BatchQueue<M extends Batchable<M>> {
  readonly #groups = new Map<string, BatchGroup<M>>();
  readonly #maxBatchSize: number;
  readonly #maxQueueDelayMs: number;
  readonly #preferred: ReadonlySet<number>;
  #pending = 0;

  constructor(options: BatchQueueOptions) {
    this.#maxBatchSize = options.maxBatchSize;
    this.#maxQueueDelayMs = options.maxQueueDelayMs;
    this.#preferred = new Set(options.preferredBatchSizes ?? []);
  }

  /** Requests waiting. */
  get pending(): number {
    return this.#pending;
  }

  /** Queues `member` at the end of the group `key` (made, as solo or not, if new). */
  add(member: M, key: string, solo: boolean): void {
    let group = this.#groups.get(key);
    if (group === undefined) {
      group = { key, solo, members: [], rows: 0 };
      this.#groups.set(key, group);
    }
    group.members.push(member);
    group.rows += member.rows;
    member.group = group;
    this.#pending += 1;
  }

  /** Takes `member` out of its group if it is still waiting; a no-op otherwise. */
  remove(member: M): void {
    const group = member.group;
    if (group === undefined) return;
    member.group = undefined;
    group.members.splice(group.members.indexOf(member), 1);
    group.rows -= member.rows;
    this.#pending -= 1;
    if (group.members.length === 0) this.#groups.delete(group.key);
  }

  /**
   * The next batch: from the ready group whose oldest request is oldest, the FIFO prefix that
   * fits in one batch (cut back to a preferred size when one is reachable), taken out of the
   * queue. Undefined when no group is ready. With `flushing`, every group is ready.
   */
  takeReady(now: number, flushing: boolean): M[] | undefined {
    let next: BatchGroup<M> | undefined;
    for (const group of this.#groups.values()) {
      const oldest = group.members[0];
      const best = next?.members[0];
      if (oldest === undefined || !this.#isReady(group, now, flushing)) continue;
      if (best === undefined || oldest.enqueuedAt < best.enqueuedAt) next = group;
    }
    return next === undefined ? undefined : this.#take(next);
  }

  /** When the oldest wait runs out (on the caller's clock); Infinity when nothing waits. */
  nextDue(): number {
    let due = Infinity;
    for (const group of this.#groups.values()) {
      const oldest = group.members[0];
      if (oldest !== undefined) due = Math.min(due, oldest.enqueuedAt + this.#maxQueueDelayMs);
    }
    return due;
  }

  #isReady(group: BatchGroup<M>, now: number, flushing: boolean): boolean {
    const oldest = group.members[0];
    if (oldest === undefined) return false;
    if (flushing || group.solo || group.rows >= this.#maxBatchSize) return true;
    if (now - oldest.enqueuedAt >= this.#maxQueueDelayMs) return true;
    let rows = 0;
    for (const member of group.members) {
      rows += member.rows;
      if (this.#preferred.has(rows)) return true;
    }
    return false;
  }

  #take(group: BatchGroup<M>): M[] {
    let count = 0;
    let rows = 0;
    let preferredCount = 0;
    for (const member of group.members) {
      if (count > 0 && rows + member.rows > this.#maxBatchSize) break;
      count += 1;
      rows += member.rows;
      if (this.#preferred.has(rows)) preferredCount = count;
    }
    if (preferredCount > 0 && rows < this.#maxBatchSize) count = preferredCount;
    const taken = group.members.slice(0, count);
    for (const member of taken) this.remove(member);
    return taken;
  }
}
