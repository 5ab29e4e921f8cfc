import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inSlices, rowsPerSlice, sliceElements } from '../../src/inference/slices.js';

void describe('inSlices', () => {
  void it('runs a pass that fits in one slice at once, with no promise', () => {
    const seen: [number, number][] = [];
    const pending = inSlices(10, (from, to) => seen.push([from, to]), 10);
    assert.equal(pending, undefined);
    assert.deepEqual(seen, [[0, 10]]);
    assert.equal(
      inSlices(0, () => undefined),
      undefined,
    );
  });

  void it('covers [0, total) exactly once, in order, in slices of the given size', async () => {
    for (const [total, size] of [
      [11, 5],
      [10, 5],
      [1_000_003, 65_536],
    ] as const) {
      const seen: [number, number][] = [];
      await inSlices(total, (from, to) => seen.push([from, to]), size);
      assert.equal(seen[0]?.[0], 0);
      assert.equal(seen.at(-1)?.[1], total);
      for (let i = 1; i < seen.length; i++) assert.equal(seen[i]?.[0], seen[i - 1]?.[1]);
      assert.ok(seen.every(([from, to]) => to - from <= size && to > from));
    }
  });

  void it('lets the event loop run between slices', async () => {
    const events: string[] = [];
    const pending = inSlices(3, (from) => events.push(`slice ${from}`), 1);
    // Queued after the first yield: it runs before the last slice, not after the whole pass.
    setImmediate(() => events.push('other work'));
    await pending;
    assert.deepEqual(events, ['slice 0', 'slice 1', 'other work', 'slice 2']);
  });

  void it('throws at once from a single slice, rejects from a later one and stops there', async () => {
    assert.throws(
      () =>
        inSlices(3, () => {
          throw new Error('first');
        }),
      /first/,
    );
    const seen: number[] = [];
    await assert.rejects(
      inSlices(
        4,
        (from) => {
          seen.push(from);
          if (from === 2) throw new Error('third');
        },
        1,
      ) ?? Promise.resolve(),
      /third/,
    );
    assert.deepEqual(seen, [0, 1, 2]);
  });

  void it('sizes row slices from the element budget', () => {
    assert.equal(rowsPerSlice(4), sliceElements / 4);
    assert.equal(rowsPerSlice(sliceElements * 2), 1);
    assert.equal(rowsPerSlice(0), sliceElements);
  });
});
