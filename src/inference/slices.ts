/**
 * Per-element passes over large tensors that run on the event loop (a model policy's input
 * checks and scores, the extraction watch's hash and margins, output hardening) go in slices
 * that yield to the event loop between them, so that one request holding millions of elements
 * never holds the loop for long. A pass that fits in one slice runs at once and returns no
 * promise, so small requests pay nothing for it.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Elements one slice covers. Measured on the shared 2-core test host under coverage, the
 * slowest pass (the Mahalanobis score, ~30 ns per element) takes about 2 ms for this many, and a
 * yield costs microseconds, so a 4M-element request yields 64 times for under 1 ms.
 */
export const sliceElements = 1 << 16;

/** A value now, or later when its pass ran in slices. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Calls `step(from, to)` over `[0, total)`: at once when `total` fits in one slice of `size`,
 * else slice by slice, yielding to the event loop (setImmediate) before each slice but the first.
 *
 * @returns undefined when it ran at once (a throwing step then throws here), else a promise that
 *   settles after the last slice (rejected with the first error a step throws; no slice runs after it).
 */
export function inSlices(
  total: number,
  step: (from: number, to: number) => void,
  size = sliceElements,
): Promise<void> | undefined {
  const width = Math.max(1, Math.floor(size));
  if (total <= width) {
    step(0, total);
    return undefined;
  }
  return (async () => {
    step(0, width);
    for (let from = width; from < total; from += width) {
      await nextTurn();
      step(from, Math.min(total, from + width));
    }
  })();
}

/** Rows of `width` elements one slice covers (at least one). */
export function rowsPerSlice(width: number): number {
  return Math.max(1, Math.floor(sliceElements / Math.max(1, width)));
}
