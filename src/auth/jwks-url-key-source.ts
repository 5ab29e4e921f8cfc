import {
  createRemoteJWKSet,
  errors,
  jwksCache,
  type ExportedJWKSCache,
  type JWTVerifyGetKey,
} from 'jose';
import {
  createChangeEmitter,
  fingerprintKeySet,
  KeySourceUnavailableError,
  removedKeys,
  type JwksUrlKeySourceOptions,
  type KeySource,
} from './key-source.js';

/** Defaults of {@link JwksUrlKeySourceOptions}. */
export const jwksUrlDefaults = {
  timeoutMs: 5000,
  cooldownMs: 30_000,
  cacheMaxAgeMs: 600_000,
} as const;

// Errors about the token's choice of key pass through; anything else means the set is unusable.
const tokenErrors = new Set<string>([
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
  errors.JOSENotSupported.code,
]);

function unavailable(error: unknown): unknown {
  if (error instanceof errors.JOSEError && tokenErrors.has(error.code)) return error;
  return new KeySourceUnavailableError('the JWKS URL could not be fetched or parsed', {
    cause: error,
  });
}

/**
 * A key source backed by a remote JWKS (jose's `createRemoteJWKSet`): fetched on first use,
 * re-fetched when older than `cacheMaxAgeMs` or when a token names an unknown `kid` (at most
 * every `cooldownMs`), so keys rotate without a restart. Every fetch is compared with the last
 * one and removed or replaced keys are reported to {@link KeySource.onKeysChanged}.
 *
 * jose keeps its own clock (Date.now) for these durations.
 */
export function createJwksUrlKeySource(options: JwksUrlKeySourceOptions): KeySource {
  const url = typeof options.url === 'string' ? new URL(options.url) : options.url;
  const changes = createChangeEmitter();
  // jose writes each successful fetch here; `uat` tells us cheaply that the set was replaced.
  const fetched: Partial<ExportedJWKSCache> = {};
  const remote = createRemoteJWKSet(url, {
    timeoutDuration: options.timeoutMs ?? jwksUrlDefaults.timeoutMs,
    cooldownDuration: options.cooldownMs ?? jwksUrlDefaults.cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs ?? jwksUrlDefaults.cacheMaxAgeMs,
    [jwksCache]: fetched as Record<string, never>,
  });
  let seenAt: number | undefined;
  let fingerprints: ReadonlyMap<string, string> = new Map();

  function sync(): void {
    if (fetched.uat === seenAt || fetched.jwks === undefined) return;
    seenAt = fetched.uat;
    const next = fingerprintKeySet(fetched.jwks);
    const removed = removedKeys(fingerprints, next);
    fingerprints = next;
    if (removed.size > 0) changes.emit({ removed });
  }

  async function refresh(): Promise<void> {
    try {
      await remote.reload();
    } catch (error) {
      throw unavailable(error);
    } finally {
      sync();
    }
  }

  const key: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      throw unavailable(error);
    } finally {
      sync();
    }
  };

  return {
    key,
    ensureFresh: async () => {
      if (!remote.fresh) await refresh();
    },
    isFresh: () => remote.fresh,
    refresh,
    onKeysChanged: changes.on,
  };
}
