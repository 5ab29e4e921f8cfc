import { hash } from 'node:crypto';
import type { Principal } from './principal.js';

/** Options of {@link createVerifiedTokenCache}. */
export interface VerifiedTokenCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 10000. */
  readonly maxEntries?: number;
  /** Longest an entry is served, in ms, even if the token lives longer. Default 60000. */
  readonly ttlMs?: number;
}

/** Counters for metrics. */
export interface VerifiedTokenCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
  /** Entries dropped because the key that verified them was removed or replaced. */
  readonly rotationEvictions: number;
}

/** A bounded LRU of verified tokens, keyed by the SHA-256 of the token (never the token). */
export interface VerifiedTokenCache {
  /** The cache key of a token. */
  keyFor(token: string): string;
  /** True when a live entry exists; does not count as a hit or miss. */
  has(key: string, nowMs: number): boolean;
  /** The cached principal, counting a hit or a miss; expired entries are dropped. */
  get(key: string, nowMs: number): Principal | undefined;
  /**
   * Stores a verified principal until min(`exp`, now + ttl). `kid` is the key that verified it
   * (undefined when the token named none).
   */
  set(key: string, principal: Principal, kid: string | undefined, nowMs: number): void;
  /**
   * Drops entries verified by any of `removed` keys; entries without a `kid` cannot be traced to
   * a key and are dropped too whenever anything was removed.
   */
  evictKeys(removed: ReadonlySet<string>): number;
  clear(): void;
  stats(): VerifiedTokenCacheStats;
}

/** Defaults of {@link VerifiedTokenCacheOptions}. */
export const verifiedTokenCacheDefaults = { maxEntries: 10_000, ttlMs: 60_000 } as const;

interface Entry {
  readonly principal: Principal;
  readonly kid: string | undefined;
  readonly expiresAtMs: number;
}

/**
 * Creates the verified-token cache. Only successes are cached: a failure is not, since an
 * attacker varies tokens at will (a negative cache would not save work) and a cached
 * `unknown_kid` would hide a key that was just rotated in.
 *
 * @throws {RangeError} for a non-positive `maxEntries` or negative `ttlMs`.
 */
export function createVerifiedTokenCache(
  options: VerifiedTokenCacheOptions = {},
): VerifiedTokenCache {
  const maxEntries = options.maxEntries ?? verifiedTokenCacheDefaults.maxEntries;
  const ttlMs = options.ttlMs ?? verifiedTokenCacheDefaults.ttlMs;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError('cache maxEntries must be a positive integer');
  }
  if (!(ttlMs >= 0)) throw new RangeError('cache ttlMs must not be negative');
  // A Map iterates in insertion order: re-inserting on use makes its first key the LRU one.
  const entries = new Map<string, Entry>();
  let hits = 0;
  let misses = 0;
  let rotationEvictions = 0;

  function live(key: string, nowMs: number): Entry | undefined {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  return {
    // One-shot `hash` (Node ≥ 20.12): no Hash object per request; the same digest.
    keyFor: (token) => hash('sha256', token, 'base64url'),
    has: (key, nowMs) => live(key, nowMs) !== undefined,
    get(key, nowMs) {
      const entry = live(key, nowMs);
      if (entry === undefined) {
        misses += 1;
        return undefined;
      }
      hits += 1;
      entries.delete(key);
      entries.set(key, entry);
      return entry.principal;
    },
    set(key, principal, kid, nowMs) {
      const expiresAtMs = Math.min(principal.expiresAt * 1000, nowMs + ttlMs);
      if (expiresAtMs <= nowMs) return;
      entries.delete(key);
      entries.set(key, { principal, kid, expiresAtMs });
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done === true) break;
        entries.delete(oldest.value);
      }
    },
    evictKeys(removed) {
      if (removed.size === 0) return 0;
      let count = 0;
      for (const [key, entry] of entries) {
        if (entry.kid === undefined || removed.has(entry.kid)) {
          entries.delete(key);
          count += 1;
        }
      }
      rotationEvictions += count;
      return count;
    },
    clear: () => {
      entries.clear();
    },
    stats: () => ({ hits, misses, size: entries.size, rotationEvictions }),
  };
}
