import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelRegistry } from './model-registry.js';
import { scanRepository } from './model-repository.js';
import { isUnloadedModel, statesByModel, type VersionState } from './model-state.js';

/** Timer functions the poller schedules with; injectable so tests control time. */
export interface PollerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@link createRepositoryPoller}. */
export interface RepositoryPollerOptions {
  readonly registry: ModelRegistry;
  /** Pause between the end of one scan and the start of the next. */
  readonly intervalMs: number;
  readonly log?:
    ((level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void) | undefined;
  /** Default: the global `setTimeout` / `clearTimeout` (timers are unref'd). */
  readonly timers?: PollerTimers | undefined;
}

/** What one scan did. */
export interface PollOutcome {
  /** `model/version` of every version the scan tried to load, with the resulting state. */
  readonly attempted: readonly {
    readonly model: string;
    readonly version: number;
    readonly state: VersionState['state'];
  }[];
}

/** Watches the repository for new model and version folders (`models.pollIntervalSec`). */
export interface RepositoryPoller {
  /** Schedules the first scan `intervalMs` from now; idempotent. */
  start(): void;
  /** Scans once now (never two at a time: a call during a scan waits for it and scans again). */
  poll(): Promise<PollOutcome>;
  /** Cancels the next scan and waits for one in progress. Idempotent. */
  stop(): Promise<void>;
}

const defaultTimers: PollerTimers = {
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/**
 * Creates the repository poller. Each scan lists the repository and hands the registry (which
 * verifies every version before it serves) only what is new:
 * - a model folder the registry has never seen is loaded whole;
 * - a version folder the registry does not know is loaded on its own, the model's other versions
 *   untouched;
 * - a version that failed is retried only once its folder changed (names, sizes, mtimes), so a
 *   version still being copied in is picked up when the copy completes, and a bad one is not
 *   re-verified on every scan;
 * - ready versions are never reloaded, and a model the operator unloaded stays unloaded
 *   (`POST /v2/repository/models/{m}/load` remains the way to reload or drop versions).
 */
export function createRepositoryPoller(options: RepositoryPollerOptions): RepositoryPoller {
  const { registry } = options;
  const timers = options.timers ?? defaultTimers;
  const log = options.log ?? (() => undefined);
  /** `model/version` → the folder fingerprint when it last failed. */
  const failedAt = new Map<string, string>();
  let handle: unknown;
  let running: Promise<PollOutcome> | undefined;
  let stopped = false;
  let started = false;

  function schedule(): void {
    if (stopped) return;
    handle = timers.setTimeout(() => {
      handle = undefined;
      void poller
        .poll()
        .catch((error: unknown) => {
          log('error', 'model repository poll failed', { err: error });
        })
        .finally(schedule);
    }, options.intervalMs);
  }

  const scan = (): Promise<PollOutcome> =>
    scanOnce({ registry, failedAt, log, stopped: () => stopped });

  const poller: RepositoryPoller = {
    start() {
      if (started || stopped) return;
      started = true;
      schedule();
    },
    poll() {
      const previous = running ?? Promise.resolve(undefined);
      const next = previous.then(scan, scan);
      running = next;
      void next.finally(() => {
        if (running === next) running = undefined;
      });
      return next;
    },
    async stop() {
      stopped = true;
      if (handle !== undefined) timers.clearTimeout(handle);
      handle = undefined;
      await running?.catch(() => undefined);
    },
  };
  return poller;
}

/** What one scan works with. */
interface ScanContext {
  readonly registry: ModelRegistry;
  /** `model/version` → the folder fingerprint when it last failed. */
  readonly failedAt: Map<string, string>;
  readonly log: NonNullable<RepositoryPollerOptions['log']>;
  /** True once the poller is stopping: the scan ends after the model in progress. */
  readonly stopped: () => boolean;
}

type Attempt = PollOutcome['attempted'][number];

/** Lists the repository and loads what is new or changed (see {@link createRepositoryPoller}). */
async function scanOnce(ctx: ScanContext): Promise<PollOutcome> {
  const attempted: Attempt[] = [];
  let found;
  try {
    found = await scanRepository(ctx.registry.repository);
  } catch (error) {
    ctx.log('warn', 'model repository scan failed', { err: error });
    return { attempted };
  }
  const known = statesByModel(ctx.registry.list());
  for (const model of found.models) {
    if (ctx.stopped()) break;
    const states = known.get(model.name);
    if (isUnloadedModel(states)) continue;
    const prints = await changedVersions(model, states, ctx.failedAt);
    if (prints.size === 0) continue;
    const todo = [...prints.keys()];
    ctx.log('info', 'new model versions found', { model: model.name, versions: todo });
    attempted.push(...(await loadChanged(ctx, model.name, prints, states === undefined)));
  }
  return { attempted };
}

/**
 * The versions of `model` to load, each with its folder fingerprint: those the registry does not
 * know, and failed ones whose folder changed since they failed. A failure seen for the first time
 * (from start-up or an API load) is remembered and retried once its folder changes.
 */
async function changedVersions(
  model: { readonly name: string; readonly dir: string; readonly versions: readonly number[] },
  states: ReadonlyMap<number, VersionState['state']> | undefined,
  failedAt: Map<string, string>,
): Promise<Map<number, string>> {
  const prints = new Map<number, string>();
  for (const version of model.versions) {
    const state = states?.get(version);
    if (state !== undefined && state !== 'failed') continue;
    // Taken before the load, so a change made while it runs is seen by the next scan.
    const print = await fingerprint(join(model.dir, String(version)));
    const key = `${model.name}/${version}`;
    if (state === 'failed') {
      const before = failedAt.get(key);
      if (before === undefined || before === print) {
        failedAt.set(key, print);
        continue;
      }
    }
    prints.set(version, print);
  }
  return prints;
}

/** Loads the changed versions (a model never seen is loaded whole) and remembers failures. */
async function loadChanged(
  ctx: ScanContext,
  model: string,
  prints: ReadonlyMap<number, string>,
  unseen: boolean,
): Promise<Attempt[]> {
  const { registry, failedAt } = ctx;
  try {
    const results =
      unseen && !registry.has(model)
        ? await registry.load(model)
        : await registry.loadVersions(model, [...prints.keys()]);
    return results.map((result) => {
      const key = `${result.model}/${result.version}`;
      if (result.state === 'failed') failedAt.set(key, prints.get(result.version) ?? '');
      else failedAt.delete(key);
      return { model: result.model, version: result.version, state: result.state };
    });
  } catch (error) {
    ctx.log('warn', 'loading new model versions failed', { model, err: error });
    return [];
  }
}

/** Names, types, sizes and mtimes of everything under `dir`: changes when a copy progresses. */
async function fingerprint(dir: string): Promise<string> {
  const parts: string[] = [];
  async function walk(rel: string): Promise<void> {
    let entries: string[];
    try {
      entries = (await readdir(join(dir, rel))).sort();
    } catch {
      parts.push(`${rel}:unreadable`);
      return;
    }
    for (const name of entries) {
      const path = rel === '' ? name : `${rel}/${name}`;
      try {
        const stats = await lstat(join(dir, path));
        parts.push(`${path}:${stats.mode}:${stats.size}:${stats.mtimeMs}:${stats.ino}`);
        if (stats.isDirectory()) await walk(path);
      } catch {
        parts.push(`${path}:gone`);
      }
    }
  }
  await walk('');
  return parts.join('\n');
}
