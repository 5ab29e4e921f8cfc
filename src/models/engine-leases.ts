import { BastionError } from '../errors.js';
import type { VersionEngine } from './version-preparer.js';

/** Reference counts on engines, so one is closed only once it is retired and no request holds it. */
export interface EngineLeases {
  /** Starts tracking a new engine. */
  track(engine: VersionEngine): void;
  /**
   * Takes a hold on a tracked engine; `release` gives it back (idempotent).
   *
   * @throws BastionError MODEL_NOT_READY when the engine is no longer tracked (being unloaded).
   */
  hold(engine: VersionEngine, what: string): () => void;
  /** No new holds after this; the engine closes when the last hold is released. */
  retire(engine: VersionEngine): void;
  /** Resolves once every retired engine has closed. */
  drained(): Promise<void>;
}

/** Creates the lease table; `log` hears about engines that fail to close. */
export function createEngineLeases(
  log: (level: 'error', msg: string, fields?: object) => void,
): EngineLeases {
  const leases = new Map<VersionEngine, { count: number; retired: boolean }>();
  const closing: Promise<void>[] = [];

  function closeEngine(engine: VersionEngine): void {
    leases.delete(engine);
    closing.push(
      engine.close().catch((error: unknown) => {
        log('error', 'closing a model engine failed', { err: error });
      }),
    );
  }

  return {
    track(engine) {
      leases.set(engine, { count: 0, retired: false });
    },
    hold(engine, what) {
      const entry = leases.get(engine);
      if (entry === undefined) {
        throw new BastionError('MODEL_NOT_READY', `${what} is being unloaded`, {
          retryAfterSec: 1,
        });
      }
      entry.count++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        entry.count--;
        if (entry.retired && entry.count === 0) closeEngine(engine);
      };
    },
    retire(engine) {
      const entry = leases.get(engine);
      if (entry === undefined) return;
      entry.retired = true;
      if (entry.count === 0) closeEngine(engine);
    },
    async drained() {
      await Promise.all(closing);
    },
  };
}
