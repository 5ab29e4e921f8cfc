/**
 * A lock per key: work for one key runs one piece at a time, in call order; work for different
 * keys runs side by side. A piece that fails does not hold up the next. The registry keeps one,
 * keyed by model name, so that a load, a reload and an unload of one model never interleave.
 */
export interface KeyedLock {
  /** Runs `work` once every earlier piece for `key` has settled; settles as `work` does. */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  /** How many keys have work queued or running (an idle key holds no memory). */
  readonly size: number;
}

/** Creates an empty {@link KeyedLock}. */
export function createKeyedLock(): KeyedLock {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run(key, work) {
      const previous = tails.get(key) ?? Promise.resolve();
      const next = previous.then(work, work);
      const settled = next.catch(() => undefined);
      tails.set(key, settled);
      void settled.then(() => {
        if (tails.get(key) === settled) tails.delete(key);
      });
      return next;
    },
    get size() {
      return tails.size;
    },
  };
}
