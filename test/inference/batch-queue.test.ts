// The batching waiting room on its own (src/inference/batch-queue.ts): no engine, no timers; the
// test passes the clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Batchable, type BatchGroup, BatchQueue } from '../../src/inference/batch-queue.js';

interface Req extends Batchable<Req> {
  readonly id: string;
}

function req(id: string, rows: number, enqueuedAt: number): Req {
  return { id, rows, enqueuedAt, group: undefined as BatchGroup<Req> | undefined };
}

const ids = (members: readonly Req[] | undefined): string[] | undefined =>
  members?.map((m) => m.id);

describe('BatchQueue', () => {
  test('a group is not ready before its oldest request has waited maxQueueDelayMs, then is', () => {
    const q = new BatchQueue<Req>({ maxBatchSize: 8, maxQueueDelayMs: 5 });
    q.add(req('a', 1, 100), 'k', false);
    q.add(req('b', 1, 102), 'k', false);
    assert.equal(q.takeReady(104.9, false), undefined);
    assert.equal(q.nextDue(), 105);
    assert.deepEqual(ids(q.takeReady(105, false)), ['a', 'b']);
    assert.equal(q.pending, 0);
    assert.equal(q.nextDue(), Infinity);
    assert.equal(q.takeReady(1e9, true), undefined);
  });

  test('a full group is ready at once and a batch never holds more than maxBatchSize rows', () => {
    const q = new BatchQueue<Req>({ maxBatchSize: 4, maxQueueDelayMs: 1000 });
    q.add(req('a', 3, 0), 'k', false);
    assert.equal(q.takeReady(0, false), undefined);
    q.add(req('b', 2, 1), 'k', false);
    // 5 rows waiting (≥ 4): ready; the FIFO prefix that fits is a alone.
    assert.deepEqual(ids(q.takeReady(1, false)), ['a']);
    assert.equal(q.pending, 1);
    // b (2 rows) is now alone and neither full nor due.
    assert.equal(q.takeReady(1, false), undefined);
    assert.equal(q.takeReady(1000.5, false), undefined);
    assert.deepEqual(ids(q.takeReady(1001, false)), ['b']);
  });

  test('exactly maxBatchSize rows is ready; one row fewer is not', () => {
    const q = new BatchQueue<Req>({ maxBatchSize: 4, maxQueueDelayMs: 1000 });
    q.add(req('a', 2, 0), 'k', false);
    q.add(req('b', 1, 0), 'k', false);
    assert.equal(q.takeReady(0, false), undefined);
    q.add(req('c', 1, 0), 'k', false);
    assert.deepEqual(ids(q.takeReady(0, false)), ['a', 'b', 'c']);
  });

  test('an oversized first request still forms a batch by itself', () => {
    const q = new BatchQueue<Req>({ maxBatchSize: 2, maxQueueDelayMs: 0 });
    q.add(req('big', 5, 0), 'k', false);
    q.add(req('small', 1, 0), 'k', false);
    assert.deepEqual(ids(q.takeReady(0, false)), ['big']);
    assert.deepEqual(ids(q.takeReady(0, false)), ['small']);
  });

  test('a preferred size makes a group ready and cuts the batch back to it', () => {
    const q = new BatchQueue<Req>({
      maxBatchSize: 8,
      maxQueueDelayMs: 1000,
      preferredBatchSizes: [2],
    });
    q.add(req('a', 1, 0), 'k', false);
    assert.equal(q.takeReady(0, false), undefined);
    q.add(req('b', 1, 0), 'k', false);
    q.add(req('c', 1, 0), 'k', false);
    // 3 rows waiting, 2 is preferred and reachable: a batch of a, b; c waits.
    assert.deepEqual(ids(q.takeReady(0, false)), ['a', 'b']);
    assert.deepEqual(ids(q.takeReady(0, false)), undefined);
    assert.equal(q.pending, 1);
  });

  test('a batch that reaches maxBatchSize is not cut back to a smaller preferred size', () => {
    const q = new BatchQueue<Req>({
      maxBatchSize: 3,
      maxQueueDelayMs: 1000,
      preferredBatchSizes: [2],
    });
    for (const id of ['a', 'b', 'c']) q.add(req(id, 1, 0), 'k', false);
    assert.deepEqual(ids(q.takeReady(0, false)), ['a', 'b', 'c']);
  });

  test('of several ready groups, the one with the oldest request goes first', () => {
    const q = new BatchQueue<Req>({ maxBatchSize: 8, maxQueueDelayMs: 10 });
    q.add(req('x1', 1, 5), 'x', false);
    q.add(req('y1', 1, 3), 'y', false);
    q.add(req('z1', 1, 4), 'z', false);
    assert.equal(q.nextDue(), 13);
    assert.deepEqual(ids(q.takeReady(20, false)), ['y1']);
    assert.deepEqual(ids(q.takeReady(20, false)), ['z1']);
    assert.deepEqual(ids(q.takeReady(20, false)), ['x1']);
  });

  test('a solo group and a flushing queue are ready at once', () => {
    const q = new BatchQueue<Req>({ maxBatchSize: 8, maxQueueDelayMs: 1000 });
    q.add(req('solo', 1, 0), 'solo:1', true);
    q.add(req('a', 1, 0), 'k', false);
    assert.deepEqual(ids(q.takeReady(0, false)), ['solo']);
    assert.equal(q.takeReady(0, false), undefined);
    assert.deepEqual(ids(q.takeReady(0, true)), ['a']);
  });

  test('remove takes a waiting request out (rows and pending too) and is a no-op after', () => {
    const q = new BatchQueue<Req>({ maxBatchSize: 3, maxQueueDelayMs: 1000 });
    const a = req('a', 2, 0);
    const b = req('b', 1, 1);
    q.add(a, 'k', false);
    q.add(b, 'k', false);
    q.remove(a);
    assert.equal(a.group, undefined);
    assert.equal(q.pending, 1);
    q.remove(a);
    assert.equal(q.pending, 1);
    // Only b's row is left: not full (3), so not ready; the due time is now b's.
    assert.equal(q.takeReady(0, false), undefined);
    assert.equal(q.nextDue(), 1001);
    q.remove(b);
    assert.equal(q.pending, 0);
    assert.equal(q.nextDue(), Infinity);
    // An emptied group is gone: a new request under its key starts a fresh one.
    const c = req('c', 3, 2);
    q.add(c, 'k', false);
    assert.equal(c.group?.rows, 3);
    assert.deepEqual(ids(q.takeReady(2, false)), ['c']);
  });

  test('a taken request no longer belongs to a group', () => {
    const q = new BatchQueue<Req>({ maxBatchSize: 8, maxQueueDelayMs: 0 });
    const a = req('a', 1, 0);
    q.add(a, 'k', false);
    assert.deepEqual(ids(q.takeReady(0, false)), ['a']);
    assert.equal(a.group, undefined);
    q.remove(a);
    assert.equal(q.pending, 0);
  });
});
