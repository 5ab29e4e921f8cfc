import { errors, jwtVerify, type JWTPayload, type JWTVerifyResult } from 'jose';
import {
  defaultAlgorithms,
  defaultSharedSecretAlgorithms,
  findAlgorithmProblems,
} from '../config/jws-algorithms.js';
import { AuthError, type AuthFailureReason } from './auth-error.js';
import { defaultMaxTokenLength, parseBearerToken } from './bearer-token.js';
import { createJwksFileKeySource } from './jwks-file-key-source.js';
import { createJwksUrlKeySource } from './jwks-url-key-source.js';
import { KeySourceUnavailableError, type KeySource, type KeySourceOptions } from './key-source.js';
import { parsePrincipal, type Principal } from './principal.js';
import { createSharedSecretKeySource } from './shared-secret-key-source.js';
import {
  createVerifiedTokenCache,
  type VerifiedTokenCacheOptions,
  type VerifiedTokenCacheStats,
} from './verified-token-cache.js';

/** Options of {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  /** Required `iss`. */
  readonly issuer: string;
  /** Required `aud` (the token's `aud` must contain it). */
  readonly audience: string;
  /** Where the keys come from. */
  readonly keys: KeySourceOptions;
  /**
   * Accepted JWS algorithms, exact casing. Default ES256, EdDSA, RS256 (HS256 with a shared
   * secret). `none` in any casing is refused, and HS* only with a shared secret.
   */
  readonly algorithms?: readonly string[];
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. Default 30. */
  readonly clockToleranceSec?: number;
  /**
   * Longest token lifetime accepted, in seconds: `exp − iat`, or `exp − now` when the token has
   * no `iat`. Default: no limit.
   */
  readonly maxTokenLifetimeSec?: number;
  /** Longest token accepted, in characters, checked before any parsing. Default 8192. */
  readonly maxTokenLength?: number;
  /** The verified-token cache, or `false` for none. Default: on, with its defaults. */
  readonly cache?: VerifiedTokenCacheOptions | false;
  /** The clock in ms since the epoch (injectable for tests). Default `Date.now`. */
  readonly now?: () => number;
}

/** Verifies bearer tokens. */
export interface TokenVerifier {
  /**
   * Verifies the raw `Authorization` header value and returns who it speaks for.
   *
   * @throws {AuthError} `UNAUTHENTICATED` with the failed check as `reason`.
   */
  verify(authorization: string | undefined): Promise<Principal>;
  /** Re-reads the key set now (e.g. on SIGHUP). @throws {AuthError} `jwks_unavailable`. */
  refreshKeys(): Promise<void>;
  /** Cache counters for metrics (all zero without a cache). */
  cacheStats(): VerifiedTokenCacheStats;
}

/** Default clock tolerance, in seconds. */
export const defaultClockToleranceSec = 30;

function claimReason(claim: string, joseReason: string): AuthFailureReason {
  if (claim === 'iss') return 'issuer';
  if (claim === 'aud') return 'audience';
  if (claim === 'nbf' && joseReason === 'check_failed') return 'not_yet_valid';
  return 'claims';
}

const joseReasons = new Map<string, AuthFailureReason>([
  [errors.JOSEAlgNotAllowed.code, 'algorithm'],
  [errors.JOSENotSupported.code, 'algorithm'],
  [errors.JWSSignatureVerificationFailed.code, 'signature'],
  [errors.JWKSNoMatchingKey.code, 'unknown_kid'],
  // Several keys fit a token without `kid`: we require the token to name one.
  [errors.JWKSMultipleMatchingKeys.code, 'unknown_kid'],
]);

/** Maps a failure of jose's `jwtVerify` (or of the key source) to an {@link AuthError}. */
export function toAuthError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof KeySourceUnavailableError) {
    return new AuthError('jwks_unavailable', { cause: error });
  }
  if (error instanceof errors.JWTExpired) return new AuthError('expired', { cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) {
    return new AuthError(claimReason(error.claim, error.reason), { cause: error });
  }
  if (error instanceof errors.JOSEError) {
    return new AuthError(joseReasons.get(error.code) ?? 'malformed', { cause: error });
  }
  // jose throws TypeError for some malformed input (e.g. a bad key type); fail closed.
  return new AuthError('malformed', { cause: error });
}

/**
 * The time checks jose leaves out (it checks `iat` only with `maxTokenAge`): an `iat` further in
 * the future than the clock tolerance, and a lifetime over `maxLifetimeSec`. jose has already
 * checked that `iat` and `exp`, when present, are numbers.
 *
 * @throws {AuthError} `issued_in_future` or `lifetime_too_long`.
 */
export function checkTimes(
  payload: JWTPayload,
  nowSec: number,
  toleranceSec: number,
  maxLifetimeSec: number | undefined,
): void {
  const { iat, exp } = payload;
  if (typeof iat === 'number' && iat > nowSec + toleranceSec) {
    throw new AuthError('issued_in_future');
  }
  if (maxLifetimeSec !== undefined && typeof exp === 'number') {
    const lifetime = exp - (typeof iat === 'number' ? iat : nowSec);
    if (lifetime > maxLifetimeSec) throw new AuthError('lifetime_too_long');
  }
}

function createKeySource(options: KeySourceOptions, now: () => number): Promise<KeySource> {
  switch (options.kind) {
    case 'jwks-file':
      return createJwksFileKeySource(options, now);
    case 'jwks-url':
      return Promise.resolve(createJwksUrlKeySource(options));
    case 'shared-secret':
      return Promise.resolve(createSharedSecretKeySource(options));
  }
}

const emptyStats: VerifiedTokenCacheStats = { hits: 0, misses: 0, size: 0, rotationEvictions: 0 };

/**
 * Creates the bearer-token verifier: jose's `jwtVerify` with pinned algorithms, required `iss`,
 * `aud`, `exp` and `sub`, `nbf` honoured, a clock tolerance, and a bound on the token length
 * checked before any parsing. Successful verifications are cached (see
 * `createVerifiedTokenCache`); when the key source reports a removed or replaced key, the tokens
 * it verified leave the cache at once.
 *
 * @throws {Error} on invalid options: `none`, HS* without a shared secret, a short secret, an
 * unreadable JWKS file.
 */
export async function createTokenVerifier(options: TokenVerifierOptions): Promise<TokenVerifier> {
  const sharedSecret = options.keys.kind === 'shared-secret';
  const algorithms = [
    ...(options.algorithms ?? (sharedSecret ? defaultSharedSecretAlgorithms : defaultAlgorithms)),
  ];
  const problems = findAlgorithmProblems(algorithms, sharedSecret ? 'shared-secret' : 'jwks');
  if (options.issuer === '') problems.push('auth.issuer must not be empty');
  if (options.audience === '') problems.push('auth.audience must not be empty');
  if (problems.length > 0) throw new Error(problems.join('; '));

  const now = options.now ?? Date.now;
  const maxTokenLength = options.maxTokenLength ?? defaultMaxTokenLength;
  const verifyOptions = {
    algorithms,
    issuer: options.issuer,
    audience: options.audience,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: options.clockToleranceSec ?? defaultClockToleranceSec,
  };
  const keys = await createKeySource(options.keys, now);
  const cache = options.cache === false ? undefined : createVerifiedTokenCache(options.cache);
  keys.onKeysChanged(({ removed }) => cache?.evictKeys(removed));

  const maxLifetime = options.maxTokenLifetimeSec;
  async function verifyToken(token: string): Promise<JWTVerifyResult> {
    const at = now();
    let result: JWTVerifyResult;
    try {
      result = await jwtVerify(token, keys.key, { ...verifyOptions, currentDate: new Date(at) });
    } catch (error) {
      throw toAuthError(error);
    }
    checkTimes(result.payload, Math.floor(at / 1000), verifyOptions.clockTolerance, maxLifetime);
    return result;
  }

  return {
    async verify(authorization) {
      const token = parseBearerToken(authorization, maxTokenLength);
      const cacheKey = cache?.keyFor(token);
      if (cache !== undefined && cacheKey !== undefined) {
        // A removed key must also end its cached tokens: look at the key set first.
        if (cache.has(cacheKey, now())) {
          try {
            await keys.ensureFresh();
          } catch (error) {
            throw toAuthError(error);
          }
        }
        const hit = cache.get(cacheKey, now());
        if (hit !== undefined) return hit;
      }
      const { payload, protectedHeader } = await verifyToken(token);
      const principal = parsePrincipal(payload);
      if (cache !== undefined && cacheKey !== undefined) {
        cache.set(cacheKey, principal, protectedHeader.kid, now());
      }
      return principal;
    },
    async refreshKeys() {
      try {
        await keys.refresh();
      } catch (error) {
        throw toAuthError(error);
      }
    },
    cacheStats: () => cache?.stats() ?? emptyStats,
  };
}
