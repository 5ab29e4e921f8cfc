/**
 * The one way an error becomes an HTTP answer. Every refusal and failure of the API listener is
 * thrown (or passed to `done`) as an error and answered here, in the contract's
 * `{"error", "code"}` shape; the answers Fastify's own handler cannot reach (the router's
 * `frameworkErrors`, Node's parser errors, the audit `onSend` hook) build theirs with
 * {@link errorBodyOf} from this file too.
 */
import type { FastifyInstance, FastifyPluginOptions, FastifyReply, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { isAuthError } from '../auth/auth-error.js';
import { BastionError } from '../errors.js';
import { toClientError } from './error-mapping.js';

/** The body of an error answer: the error's extra fields, then `error` and `code`. */
export function errorBodyOf(error: BastionError): Record<string, unknown> {
  return { ...error.body, error: error.message, code: error.code };
}

/** The refusal when an audit record cannot be written and `audit.failClosed` is on. */
export function auditUnavailableError(cause?: unknown): BastionError {
  return new BastionError(
    'AUDIT_UNAVAILABLE',
    'the audit log cannot be written, so the request is refused; retry later',
    { retryAfterSec: 5, cause },
  );
}

/** The answer to a path no route serves (the URL is never echoed: it may hold anything). */
export function notFoundError(): BastionError {
  return new BastionError('NOT_FOUND', 'no such route');
}

/** The audit `reason` of a refusal: the auth check that failed, or `rate_limited`. */
function reasonOf(error: BastionError): string | undefined {
  if (isAuthError(error)) return error.reason;
  return error.code === 'RATE_LIMITED' ? 'rate_limited' : undefined;
}

/**
 * Answers `error`: records it on the request (audit, metrics), logs it (a 500 with its cause and
 * stack, for the log only; 503/504 as warnings; a 4xx as one info line) and sends the body.
 */
export function replyWithError(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const clientError = toClientError(error);
  const status = clientError.status;
  request.failure = { code: clientError.code, reason: reasonOf(clientError) };
  if (status >= 500 && status !== 503 && status !== 504) {
    request.log.error({ err: error }, 'request failed');
  } else if (status >= 500) {
    request.log.warn({ code: clientError.code }, clientError.message);
  } else {
    request.log.info(
      { code: clientError.code, reason: request.failure.reason },
      clientError.message,
    );
  }
  if (clientError.retryAfterSec !== undefined) {
    void reply.header('retry-after', String(clientError.retryAfterSec));
  }
  if (clientError.headers !== undefined) void reply.headers(clientError.headers);
  return reply.code(status).send(errorBodyOf(clientError));
}

/**
 * The app's error handler and not-found handler, on the root instance (every scope inherits
 * them). Needs the request state (it records `failure`).
 */
export const errorHandlerPlugin = definePlugin(
  (app: FastifyInstance, _options: FastifyPluginOptions, done: (error?: Error) => void) => {
    app.setErrorHandler(replyWithError);
    app.setNotFoundHandler(() => {
      throw notFoundError();
    });
    done();
  },
  {
    name: 'bastion-error-handler',
    dependencies: ['bastion-request-state'],
    decorators: { request: ['failure'] },
  },
);
