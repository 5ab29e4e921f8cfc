import type { JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose';

/** Options of a key source read from a JWKS file on disk. */
export interface JwksFileKeySourceOptions {
  readonly kind: 'jwks-file';
  /** Path of the JWKS file (`{"keys":[...]}`, public keys only). */
  readonly path: string;
  /**
   * How often, at most, the file is checked for a change (stat: mtime, size, inode) before a
   * verification or a cache hit. Default 5000 ms.
   */
  readonly checkIntervalMs?: number;
  /** Minimum time between two re-reads forced by a token with an unknown `kid`. Default 5000 ms. */
  readonly unknownKidCooldownMs?: number;
  /**
   * Called when a re-read fails (file gone, bad JSON, bad key); the last good key set stays in
   * use. The first read at start-up throws instead.
   */
  readonly onReloadError?: (error: unknown) => void;
}

/** Options of a key source fetched from a remote JWKS URL (jose's `createRemoteJWKSet`). */
export interface JwksUrlKeySourceOptions {
  readonly kind: 'jwks-url';
  /** The JWKS URL; https in production (see `findAuthProblems`). */
  readonly url: string | URL;
  /** Timeout of one fetch. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Minimum time after a fetch before an unknown `kid` may trigger another. Default 30000 ms. */
  readonly cooldownMs?: number;
  /** Keys older than this are re-fetched before use. Default 600000 ms (10 minutes). */
  readonly cacheMaxAgeMs?: number;
}

/** Options of an explicitly configured HS256/384/512 shared secret. */
export interface SharedSecretKeySourceOptions {
  readonly kind: 'shared-secret';
  /** At least 32 bytes; a string is taken as its UTF-8 bytes. */
  readonly secret: Uint8Array | string;
}

/** Where verification keys come from. */
export type KeySourceOptions =
  JwksFileKeySourceOptions | JwksUrlKeySourceOptions | SharedSecretKeySourceOptions;

/** A change of the key set: the ids of keys that were removed or replaced. */
export interface KeySetChange {
  /** `kid`s (or `#<fingerprint>` for keys without one) no longer in the set with the same key. */
  readonly removed: ReadonlySet<string>;
}

/** A source of verification keys, as used by the token verifier. */
export interface KeySource {
  /** The key (or key resolver) handed to jose's `jwtVerify`. */
  readonly key: JWTVerifyGetKey | Uint8Array;
  /**
   * Refreshes the keys when they may be stale (file changed, remote cache too old). Called before
   * a cached verification is served, so that a removed key also ends its cached tokens.
   *
   * @throws {KeySourceUnavailableError} when a needed refresh fails (remote only).
   */
  ensureFresh(): Promise<void>;
  /**
   * True when {@link ensureFresh} would do nothing now (no check due), so a cached verification
   * may be served without awaiting it.
   */
  isFresh(): boolean;
  /** Re-reads the keys now. @throws {KeySourceUnavailableError} when that fails. */
  refresh(): Promise<void>;
  /** Registers a listener called whenever keys are removed or replaced. */
  onKeysChanged(listener: (change: KeySetChange) => void): void;
}

/** The key set could not be read or fetched; verification fails closed. */
export class KeySourceUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeySourceUnavailableError';
  }
}

function fingerprintOf(jwk: JWK): string {
  // The public parameters that identify the key material; enough to notice a replaced key.
  return JSON.stringify([jwk.kty, jwk.crv, jwk.x, jwk.y, jwk.n, jwk.e, jwk.alg, jwk.use]);
}

/** Maps each key of a set to its fingerprint, by `kid` or `#<fingerprint>` when it has none. */
export function fingerprintKeySet(jwks: JSONWebKeySet): Map<string, string> {
  const map = new Map<string, string>();
  for (const jwk of jwks.keys) {
    const fingerprint = fingerprintOf(jwk);
    map.set(typeof jwk.kid === 'string' ? jwk.kid : `#${fingerprint}`, fingerprint);
  }
  return map;
}

/** The ids in `before` that are missing from `after` or map to a different key there. */
export function removedKeys(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): Set<string> {
  const removed = new Set<string>();
  for (const [id, fingerprint] of before) {
    if (after.get(id) !== fingerprint) removed.add(id);
  }
  return removed;
}

/** A tiny listener list shared by the key sources. */
export function createChangeEmitter(): {
  readonly on: (listener: (change: KeySetChange) => void) => void;
  readonly emit: (change: KeySetChange) => void;
} {
  const listeners: ((change: KeySetChange) => void)[] = [];
  return {
    on: (listener) => {
      listeners.push(listener);
    },
    emit: (change) => {
      for (const listener of listeners) listener(change);
    },
  };
}
