/**
 * How a worker engine replaces its dead workers: at once after a single death, then with an
 * exponential back-off while workers keep dying before finishing any run (a poisoned host or a
 * model that crashes its runtime), so a crash loop cannot spin the CPU. Owns the pending restart
 * timers, so closing the engine cancels them all.
 */

/** The delay before the restart that follows `crashStreak` deaths in a row without a finished run. */
export function restartDelayMs(crashStreak: number): number {
  return crashStreak <= 1 ? 0 : Math.min(100 * 2 ** (crashStreak - 2), 5_000);
}

/** Restarts of one engine's workers. */
export interface RestartPolicy {
  /** Restarts scheduled so far. */
  readonly restarts: number;
  /** A worker died: runs `start` after the back-off the current streak calls for. */
  schedule(start: () => void): void;
  /** A worker finished a run: the streak of deaths ends. */
  succeeded(): void;
  /** Cancels every pending restart (the engine is closing). */
  cancel(): void;
}

/** Creates a {@link RestartPolicy}. */
export function createRestartPolicy(): RestartPolicy {
  let restarts = 0;
  let crashStreak = 0;
  const timers = new Set<NodeJS.Timeout>();
  return {
    get restarts() {
      return restarts;
    },
    schedule(start) {
      restarts += 1;
      crashStreak += 1;
      const timer = setTimeout(() => {
        timers.delete(timer);
        start();
      }, restartDelayMs(crashStreak));
      timers.add(timer);
    },
    succeeded() {
      crashStreak = 0;
    },
    cancel() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
