import type { JWTPayload } from 'jose';
import { AuthError } from './auth-error.js';

/** Who a verified token speaks for. Frozen: a cached principal is shared between requests. */
export interface Principal {
  /** The `sub` claim: rate limits, quotas and the audit log key on it. */
  readonly sub: string;
  /** Granted scopes, from `scope` (space-separated) and/or `scp` (array or space-separated). */
  readonly scopes: ReadonlySet<string>;
  /** The `exp` claim, in seconds since the Unix epoch. */
  readonly expiresAt: number;
  /** The `jti` claim, when present. */
  readonly tokenId?: string;
}

/** Longest accepted `sub`, in characters (it ends up in logs and rate-limit keys). */
export const maxSubjectLength = 256;

/** A Set that can no longer change once built, so a shared principal cannot gain scopes. */
class SealedSet<T> extends Set<T> {
  #sealed = false;

  constructor(values: Iterable<T>) {
    super();
    for (const value of values) super.add(value);
    this.#sealed = true;
  }

  override add(value: T): this {
    if (this.#sealed) throw new TypeError('scopes are read-only');
    return super.add(value);
  }

  override delete(value: T): boolean {
    if (this.#sealed) throw new TypeError('scopes are read-only');
    return super.delete(value);
  }

  override clear(): void {
    if (this.#sealed) throw new TypeError('scopes are read-only');
    super.clear();
  }
}

function splitScopes(value: string): string[] {
  return value.split(' ').filter((scope) => scope !== '');
}

function scopesFrom(payload: JWTPayload): string[] {
  const scopes: string[] = [];
  const { scope, scp } = payload;
  if (scope !== undefined) {
    if (typeof scope !== 'string') throw new AuthError('claims');
    scopes.push(...splitScopes(scope));
  }
  if (scp !== undefined) {
    if (typeof scp === 'string') scopes.push(...splitScopes(scp));
    else if (Array.isArray(scp) && scp.every((item) => typeof item === 'string')) {
      scopes.push(...scp.filter((item) => item !== ''));
    } else throw new AuthError('claims');
  }
  return scopes;
}

/**
 * Builds the {@link Principal} from an already VERIFIED claims set (never from an unverified
 * decode).
 *
 * @throws {AuthError} `claims` when `sub` is missing, empty or too long, `exp` is not a number, or
 * `scope`/`scp` have the wrong type.
 */
export function parsePrincipal(payload: JWTPayload): Principal {
  const { sub, exp, jti } = payload;
  if (typeof sub !== 'string' || sub === '' || sub.length > maxSubjectLength) {
    throw new AuthError('claims');
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new AuthError('claims');
  const principal: Principal = {
    sub,
    scopes: new SealedSet(scopesFrom(payload)),
    expiresAt: exp,
    ...(typeof jti === 'string' ? { tokenId: jti } : {}),
  };
  return Object.freeze(principal);
}
