import { minSharedSecretBytes } from '../config/jws-algorithms.js';
import type { KeySource, SharedSecretKeySourceOptions } from './key-source.js';

/** The secret's bytes: a string is taken as UTF-8. */
export function sharedSecretBytes(secret: Uint8Array | string): Uint8Array {
  return typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
}

/**
 * A key source for an explicitly configured HS256/384/512 shared secret. Nothing rotates.
 *
 * @throws {Error} when the secret is shorter than 32 bytes.
 */
export function createSharedSecretKeySource(options: SharedSecretKeySourceOptions): KeySource {
  const bytes = Uint8Array.from(sharedSecretBytes(options.secret));
  if (bytes.byteLength < minSharedSecretBytes) {
    throw new Error(
      `the auth shared secret has ${bytes.byteLength} bytes; use at least ${minSharedSecretBytes} random bytes`,
    );
  }
  return {
    key: bytes,
    ensureFresh: () => Promise.resolve(),
    refresh: () => Promise.resolve(),
    onKeysChanged: () => undefined,
  };
}
