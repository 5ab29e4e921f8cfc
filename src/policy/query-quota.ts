/**
 * Query quotas per subject and model over a long window (a policy's `quota`: e.g. 10 000 a day).
 * Windows are fixed and aligned to the epoch. Two stores: an embedded one that persists its
 * counters to a JSON file under `stateDir` (written at most once a second while counting, and on
 * close — a crash loses at most that second), and Redis (`limits.redisUrl`), shared by replicas.
 * Subjects are stored as SHA-256 digests, never in clear.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Redis } from 'ioredis';
import { isNotFound, writeFileAtomic } from '../fs-files.js';

/** Counts requests per key and window. */
export interface QuotaStore {
  /** Counts one request of `key` in the window starting at `windowStart` (epoch s); the new count. */
  take(key: string, windowStart: number, windowSec: number): Promise<number>;
  /** Persists what is pending and stops. */
  close(): Promise<void>;
}

/** The outcome of one {@link checkQuota}. */
export interface QuotaState {
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window resets. */
  readonly resetSec: number;
  readonly exceeded: boolean;
  readonly windowSec: number;
}

const keyCache = new Map<string, string>();

/** The store key of a subject's quota on a model (memoised: one SHA-256 per subject, not per call). */
export function quotaKey(model: string, sub: string): string {
  const plain = `${model}\0${sub}`;
  let key = keyCache.get(plain);
  if (key === undefined) {
    key = `${model}:${createHash('sha256').update(sub).digest('hex').slice(0, 32)}`;
    if (keyCache.size >= 10_000) keyCache.clear();
    keyCache.set(plain, key);
  }
  return key;
}

/** Counts one request against a quota. */
export async function checkQuota(
  store: QuotaStore,
  key: string,
  quota: { readonly requests: number; readonly windowSec: number },
  nowMs = Date.now(),
): Promise<QuotaState> {
  const nowSec = Math.floor(nowMs / 1000);
  const windowStart = nowSec - (nowSec % quota.windowSec);
  const count = await store.take(key, windowStart, quota.windowSec);
  return {
    limit: quota.requests,
    remaining: Math.max(0, quota.requests - count),
    resetSec: Math.max(1, windowStart + quota.windowSec - nowSec),
    exceeded: count > quota.requests,
    windowSec: quota.windowSec,
  };
}

interface Counter {
  window: number;
  count: number;
}

/** Options of {@link createFileQuotaStore}. */
export interface FileQuotaStoreOptions {
  readonly path: string;
  /** How long counts may stay only in memory; default 1000 ms. */
  readonly flushMs?: number;
  readonly onError?: (error: unknown) => void;
}

/**
 * The embedded store: counters in memory, persisted to `path` (0600, atomic replace). Expired
 * windows are dropped when written.
 */
export async function createFileQuotaStore(options: FileQuotaStoreOptions): Promise<QuotaStore> {
  const counters = new Map<string, Counter>();
  try {
    const saved = JSON.parse(await readFile(options.path, 'utf8')) as unknown;
    if (typeof saved === 'object' && saved !== null && !Array.isArray(saved)) {
      for (const [key, value] of Object.entries(saved as Record<string, unknown>)) {
        const v = value as Partial<Counter> | null;
        if (typeof v?.window === 'number' && typeof v.count === 'number') {
          counters.set(key, { window: v.window, count: v.count });
        }
      }
    }
  } catch (error) {
    if (!isNotFound(error)) options.onError?.(error);
  }
  const windows = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let writing = Promise.resolve();

  const flush = (): Promise<void> => {
    timer = undefined;
    const nowSec = Math.floor(Date.now() / 1000);
    const out: Record<string, Counter> = {};
    for (const [key, c] of counters) {
      const span = windows.get(key) ?? Infinity;
      if (c.window + span > nowSec) out[key] = c;
      else counters.delete(key);
    }
    const text = JSON.stringify(out);
    writing = writing
      .then(async () => {
        await mkdir(dirname(options.path), { recursive: true, mode: 0o700 });
        await writeFileAtomic(options.path, text, { mode: 0o600, overwrite: true });
      })
      .catch((error: unknown) => options.onError?.(error));
    return writing;
  };

  return {
    take(key, windowStart, windowSec) {
      windows.set(key, windowSec);
      const c = counters.get(key);
      let count: number;
      if (c === undefined || c.window !== windowStart) {
        counters.set(key, { window: windowStart, count: 1 });
        count = 1;
      } else {
        count = ++c.count;
      }
      timer ??= setTimeout(() => void flush(), options.flushMs ?? 1000);
      timer.unref();
      return Promise.resolve(count);
    },
    async close() {
      if (timer !== undefined) clearTimeout(timer);
      await flush();
    },
  };
}

/** The Redis store: one `INCR` + `EXPIRE` per request, shared by every replica. */
export function createRedisQuotaStore(redis: Redis): QuotaStore {
  return {
    async take(key, windowStart, windowSec) {
      const name = `bastion-quota:${key}:${windowStart}`;
      const results = await redis
        .multi()
        .incr(name)
        .expire(name, windowSec + 60)
        .exec();
      const count = results?.[0]?.[1];
      if (typeof count !== 'number') throw new Error('redis quota counter returned no count');
      return count;
    },
    close: () => Promise.resolve(),
  };
}
