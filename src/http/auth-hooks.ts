import type { FastifyInstance, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { AuthError, isAuthError } from '../auth/auth-error.js';
import { assertAuthorized, type AccessNeed, anyValidToken } from '../auth/authorization.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { BastionError } from '../errors.js';
import { isModelName } from '../models/model-repository.js';

/** Options of {@link authPlugin}. */
export interface AuthHooksOptions {
  readonly verifier: TokenVerifier;
  /** Called on every refused request, with the reason (metrics, log). */
  readonly onFailure?: ((reason: AuthError['reason']) => void) | undefined;
}

/**
 * Token checks for every route of the scope it is registered in: `onRequest` verifies the token
 * (so the rate limiter, registered next, can key by subject) and `preParsing` answers 401/403
 * before any body is read. What a route needs comes from its `config.policy.access`.
 */
export const authPlugin = definePlugin(
  (scope: FastifyInstance, options: AuthHooksOptions, done: (error?: Error) => void) => {
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
        if (request.authFailure !== null) throw request.authFailure;
        const principal = request.principal;
        if (principal === null) throw new AuthError('missing');
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
    done();
  },
  {
    name: 'bastion-auth',
    dependencies: ['bastion-request-state', 'bastion-error-handler'],
    decorators: { request: ['principal', 'authFailure'] },
  },
);

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
