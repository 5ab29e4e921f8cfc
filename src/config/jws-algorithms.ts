/**
 * The JWS algorithms Bastion knows: the one list that the config schema (`auth.algorithms`), the
 * verifier's checks and the doctor derive from. `Ed25519` is the fully-specified name of `EdDSA`
 * over Ed25519 (RFC 9864), which jose verifies under either name. It lives in `config/`, below
 * `auth/`, because the config schema is built from it (the import graph only goes down).
 */
export const asymmetricAlgorithms = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
] as const;

/** JWS algorithms accepted only with an explicitly configured shared secret. */
export const sharedSecretAlgorithms = ['HS256', 'HS384', 'HS512'] as const;

/** Every JWS algorithm `auth.algorithms` may name (`none` is never one). */
export const jwsAlgorithms = [...asymmetricAlgorithms, ...sharedSecretAlgorithms] as const;

/** One of {@link jwsAlgorithms}. */
export type JwsAlgorithm = (typeof jwsAlgorithms)[number];

/** The algorithms pinned when none are configured (CONTRACT "Authentication"). */
export const defaultAlgorithms: readonly JwsAlgorithm[] = Object.freeze([
  'ES256',
  'EdDSA',
  'RS256',
]);

/** The default when a shared secret is configured and no algorithms are. */
export const defaultSharedSecretAlgorithms: readonly JwsAlgorithm[] = Object.freeze(['HS256']);

/** Minimum length of an HS* shared secret, in bytes (RFC 7518 §3.2 for HS256). */
export const minSharedSecretBytes = 32;

/** True for `none` in any casing: never configurable, never accepted. */
export function isNoneAlgorithm(alg: string): boolean {
  return alg.trim().toLowerCase() === 'none';
}

/** True for HS256/384/512 (exact casing: jose compares case-sensitively). */
export function isSharedSecretAlgorithm(alg: string): boolean {
  return (sharedSecretAlgorithms as readonly string[]).includes(alg);
}

/** True for a supported asymmetric algorithm (exact casing). */
export function isAsymmetricAlgorithm(alg: string): boolean {
  return (asymmetricAlgorithms as readonly string[]).includes(alg);
}

/**
 * Problems with an algorithm list for a key source kind, as messages naming the fix; empty when
 * the list is acceptable. Used both by the verifier (which refuses to start) and by
 * `findAuthProblems` (which reports every problem at once).
 */
export function findAlgorithmProblems(
  algorithms: readonly string[],
  keyKind: 'jwks' | 'shared-secret',
): string[] {
  const problems: string[] = [];
  if (algorithms.length === 0) problems.push('auth.algorithms must not be empty');
  for (const alg of algorithms) {
    if (isNoneAlgorithm(alg)) {
      problems.push(
        `auth.algorithms must not contain "${alg}": unsigned tokens are never accepted`,
      );
    } else if (keyKind === 'jwks' && isSharedSecretAlgorithm(alg)) {
      problems.push(
        `auth.algorithms contains "${alg}", which needs a shared secret: remove it, or configure a shared secret instead of a JWKS`,
      );
    } else if (keyKind === 'shared-secret' && !isSharedSecretAlgorithm(alg)) {
      problems.push(
        `auth.algorithms contains "${alg}", which cannot be used with a shared secret: use only ${sharedSecretAlgorithms.join(', ')}`,
      );
    } else if (!isSharedSecretAlgorithm(alg) && !isAsymmetricAlgorithm(alg)) {
      problems.push(
        `auth.algorithms contains unsupported "${alg}": use ${asymmetricAlgorithms.join(', ')}`,
      );
    }
  }
  return problems;
}
