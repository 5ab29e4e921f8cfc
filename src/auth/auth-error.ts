import { BastionError } from '../errors.js';

/**
 * Every reason a request can fail authentication or authorization. Reasons are for logs, the
 * audit log and the `bastion_auth_failures_total{reason}` metric (a bounded label set); they are
 * never sent to a client.
 */
export const authFailureReasons = [
  'missing',
  'malformed',
  'scheme',
  'too_long',
  'algorithm',
  'signature',
  'expired',
  'not_yet_valid',
  'issued_in_future',
  'lifetime_too_long',
  'claims',
  'issuer',
  'audience',
  'unknown_kid',
  'jwks_unavailable',
  'forbidden',
] as const;

/** Why authentication or authorization failed (see {@link authFailureReasons}). */
export type AuthFailureReason = (typeof authFailureReasons)[number];

/** Options for {@link AuthError}. */
export interface AuthErrorOptions {
  /** The underlying error (e.g. jose's), for logs only. */
  readonly cause?: unknown;
  /** For `forbidden`: the scope the request needed, for logs and `WWW-Authenticate`. */
  readonly requiredScope?: string;
}

/** The message a client sees on any 401: it never says which check failed. */
export const unauthenticatedMessage = 'invalid or missing bearer token';

/** The message a client sees on any 403. */
export const forbiddenMessage = 'the token does not grant access to this resource';

/**
 * An authentication (`UNAUTHENTICATED`, 401) or authorization (`FORBIDDEN`, 403) failure. The
 * `message` is generic and safe for clients; `reason` says what actually failed.
 */
export class AuthError extends BastionError {
  /** What failed, for logs, metrics and the audit log only. */
  readonly reason: AuthFailureReason;
  /** For `forbidden`: the scope the request needed. */
  readonly requiredScope: string | undefined;

  constructor(reason: AuthFailureReason, options: AuthErrorOptions = {}) {
    const forbidden = reason === 'forbidden';
    super(
      forbidden ? 'FORBIDDEN' : 'UNAUTHENTICATED',
      forbidden ? forbiddenMessage : unauthenticatedMessage,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.name = 'AuthError';
    this.reason = reason;
    this.requiredScope = options.requiredScope;
  }
}

/** True when `value` is an {@link AuthError}. */
export function isAuthError(value: unknown): value is AuthError {
  return value instanceof AuthError;
}
