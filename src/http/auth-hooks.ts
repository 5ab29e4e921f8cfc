import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthError, isAuthError } from '../auth/auth-error.js';
import { assertAuthorized, type AccessNeed, anyValidToken } from '../auth/authorization.js';
import type { Principal } from '../auth/principal.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { BastionError } from '../errors.js';
import { isModelName } from '../models/model-repository.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the verified token speaks for (set by the authenticate hook). */
    principal?: Principal;
    /** Why authentication failed, kept until the authorize hook answers 401. */
    authFailure?: AuthError;
  }
}

/** Options of {@link registerAuthHooks}. */
export interface AuthHooksOptions {
  readonly verifier: TokenVerifier;
  /** Called on every refused request, with the reason (metrics, log). */
  readonly onFailure?: (reason: AuthError['reason']) => void;
}

/**
 * Adds token checks to every route of `scope`: `onRequest` verifies the token (so the rate
 * limiter, which runs next, can key by subject) and `preParsing` answers 401/403 before any body
 * is read. What a route needs comes from its `config.policy.access`.
 */
export function registerAuthHooks(scope: FastifyInstance, options: AuthHooksOptions): void {
  scope.addHook('onRequest', async (request) => {
    try {
      request.principal = await options.verifier.verify(request.headers.authorization);
    } catch (error) {
      request.authFailure = isAuthError(error)
        ? error
        : new AuthError('malformed', { cause: error });
    }
  });

  scope.addHook('preParsing', async (request, reply, payload) => {
    try {
      if (request.authFailure !== undefined) throw request.authFailure;
      const principal = request.principal;
      if (principal === undefined) throw new AuthError('missing');
      assertAuthorized(principal, needOf(request));
    } catch (error) {
      if (isAuthError(error)) {
        options.onFailure?.(error.reason);
        void reply.header('www-authenticate', wwwAuthenticateFor(error));
      }
      throw error;
    }
    return payload;
  });
}

// RFC 6750 §3: scope-token characters. A malformed model name (the '\0' stand-in of needOf) has
// no scope to name, and a control character in a header would fail the whole reply.
const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** The `WWW-Authenticate` challenge for a refused request (RFC 6750 §3). */
function wwwAuthenticateFor(error: AuthError): string {
  if (error.code !== 'FORBIDDEN') return 'Bearer error="invalid_token"';
  const scope = error.requiredScope;
  return scope !== undefined && scopeToken.test(scope)
    ? `Bearer error="insufficient_scope", scope="${scope}"`
    : 'Bearer error="insufficient_scope"';
}

/** The access a request needs, from its route policy and model parameter. */
function needOf(request: FastifyRequest): AccessNeed {
  const policy = request.routeOptions.config.policy;
  switch (policy?.access) {
    case 'infer': {
      const model = (request.params as { model?: unknown }).model;
      // A malformed name still needs a scope: without infer:* it is 403 like any unknown model.
      return {
        kind: 'infer',
        model: typeof model === 'string' && isModelName(model) ? model : '\0',
      };
    }
    case 'manage':
      return { kind: 'manage' };
    case 'token':
    case 'none':
      return anyValidToken;
    case undefined:
      throw new BastionError('INTERNAL', 'route has no access policy');
  }
}
