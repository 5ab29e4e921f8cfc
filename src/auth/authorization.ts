import { AuthError } from './auth-error.js';
import type { Principal } from './principal.js';

/** The scope that grants inference on every model. */
export const inferAllScope = 'infer:*';

/** The scope that grants the repository (management) API. */
export const manageScope = 'models:manage';

/**
 * What a request needs: inference (or model metadata) on one model, the repository API, or just
 * any valid token (server metadata, `GET /v2`).
 */
export type AccessNeed =
  | { readonly kind: 'infer'; readonly model: string }
  | { readonly kind: 'manage' }
  | { readonly kind: 'authenticated' };

/** The need of `GET /v2`: any valid token. */
export const anyValidToken: AccessNeed = Object.freeze({ kind: 'authenticated' });

/**
 * The canonical scope a need asks for (`infer:<model>` or `models:manage`), for logs, the audit
 * log and `WWW-Authenticate`; undefined when any valid token will do.
 */
export function requiredScopeFor(need: AccessNeed): string | undefined {
  switch (need.kind) {
    case 'infer':
      return `infer:${need.model}`;
    case 'manage':
      return manageScope;
    case 'authenticated':
      return undefined;
  }
}

/**
 * Every scope that grants a need, any one of them sufficing. Exact matches only: nothing implies
 * anything else (`models:manage` does not grant inference, `infer:*` does not grant management).
 * Empty when any valid token will do.
 */
export function acceptedScopesFor(need: AccessNeed): readonly string[] {
  switch (need.kind) {
    case 'infer':
      return [`infer:${need.model}`, inferAllScope];
    case 'manage':
      return [manageScope];
    case 'authenticated':
      return [];
  }
}

/** True when the principal holds a scope that grants the need. */
export function isAuthorized(principal: Principal, need: AccessNeed): boolean {
  const accepted = acceptedScopesFor(need);
  return accepted.length === 0 || accepted.some((scope) => principal.scopes.has(scope));
}

/**
 * Throws unless the principal holds a scope that grants the need. Use the same 403 for a model
 * that does not exist, so scopes reveal no model names (CONTRACT "HTTP API").
 *
 * @throws {AuthError} `FORBIDDEN` with reason `forbidden` and the `requiredScope`.
 */
export function assertAuthorized(principal: Principal, need: AccessNeed): void {
  if (isAuthorized(principal, need)) return;
  const requiredScope = requiredScopeFor(need);
  throw new AuthError('forbidden', requiredScope === undefined ? {} : { requiredScope });
}
