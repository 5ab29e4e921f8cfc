import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import {
  createChangeEmitter,
  fingerprintKeySet,
  removedKeys,
  type JwksFileKeySourceOptions,
  type KeySource,
} from './key-source.js';

/** Defaults of {@link JwksFileKeySourceOptions}. */
export const jwksFileDefaults = { checkIntervalMs: 5000, unknownKidCooldownMs: 5000 } as const;

interface LoadedKeys {
  readonly resolve: JWTVerifyGetKey;
  readonly fingerprints: ReadonlyMap<string, string>;
  readonly signature: string;
}

async function fileSignature(path: string): Promise<string> {
  const info = await stat(path);
  return `${info.ino}:${info.size}:${info.mtimeMs}`;
}

async function loadKeys(path: string): Promise<LoadedKeys> {
  const signature = await fileSignature(path);
  const jwks = JSON.parse(await readFile(path, 'utf8')) as JSONWebKeySet;
  // Refuse at load, not at first use: a private or symmetric key has no place in a JWKS file.
  if (Array.isArray(jwks.keys) && jwks.keys.some((jwk) => 'd' in jwk || 'k' in jwk)) {
    throw new Error('the JWKS must hold public keys only');
  }
  // createLocalJWKSet validates the shape; private members are refused on first use by jose.
  const resolve = createLocalJWKSet(jwks);
  return { resolve, fingerprints: fingerprintKeySet(jwks), signature };
}

/**
 * A key source backed by a JWKS file, re-read when the file changes (checked at most every
 * `checkIntervalMs`) or when a token names an unknown `kid` (at most every
 * `unknownKidCooldownMs`). A failed re-read keeps the last good key set.
 *
 * @param now the clock, in ms (injectable for tests).
 * @throws {Error} when the file cannot be read or is not a JWKS at start-up.
 */
export async function createJwksFileKeySource(
  options: JwksFileKeySourceOptions,
  now: () => number = Date.now,
): Promise<KeySource> {
  const checkIntervalMs = options.checkIntervalMs ?? jwksFileDefaults.checkIntervalMs;
  const cooldownMs = options.unknownKidCooldownMs ?? jwksFileDefaults.unknownKidCooldownMs;
  const changes = createChangeEmitter();
  let current: LoadedKeys;
  try {
    current = await loadKeys(options.path);
  } catch (cause) {
    throw new Error(`auth.jwksFile ${options.path} could not be read as a JWKS`, { cause });
  }
  let lastCheckAt = now();
  let lastForcedAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | undefined;

  async function reload(force: boolean): Promise<void> {
    try {
      if (!force && (await fileSignature(options.path)) === current.signature) return;
      const next = await loadKeys(options.path);
      const removed = removedKeys(current.fingerprints, next.fingerprints);
      current = next;
      if (removed.size > 0) changes.emit({ removed });
    } catch (error) {
      options.onReloadError?.(error);
    }
  }

  function coalesced(force: boolean): Promise<void> {
    pending ??= reload(force).finally(() => {
      pending = undefined;
    });
    return pending;
  }

  async function ensureFresh(): Promise<void> {
    const at = now();
    if (at - lastCheckAt < checkIntervalMs) return;
    lastCheckAt = at;
    await coalesced(false);
  }

  const key: JWTVerifyGetKey = async (header, token) => {
    await ensureFresh();
    try {
      return await current.resolve(header, token);
    } catch (error) {
      const at = now();
      if (!(error instanceof errors.JWKSNoMatchingKey) || at - lastForcedAt < cooldownMs) {
        throw error;
      }
      lastForcedAt = at;
      await coalesced(true);
      return current.resolve(header, token);
    }
  };

  return {
    key,
    ensureFresh,
    isFresh: () => now() - lastCheckAt < checkIntervalMs,
    refresh: () => coalesced(true),
    onKeysChanged: changes.on,
  };
}
