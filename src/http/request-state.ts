/**
 * What Bastion keeps on a request while answering it, declared once with `decorateRequest` at the
 * root so that every request (of every scope, and those the router refuses) has the same shape
 * from the start: each field begins `null` (Fastify's guidance: a reference type starts as
 * `null`, never as an object shared between requests) and is set by the plugin that owns it.
 */
import type { FastifyInstance, FastifyPluginOptions, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import type { AuthError } from '../auth/auth-error.js';
import type { Principal } from '../auth/principal.js';
import type { ErrorCode } from '../errors.js';

/** The error a request was answered with, for the audit record and metrics. */
export interface RequestFailure {
  readonly code: ErrorCode;
  /** A finer reason (an auth check, `rate_limited`), when there is one. */
  readonly reason: string | undefined;
}

/** The model version a request is about. */
export interface RequestTarget {
  readonly model: string;
  readonly version: number | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the verified token speaks for (the auth plugin's `onRequest`). */
    principal: Principal | null;
    /** Why authentication failed, kept until the auth plugin's `preParsing` answers 401. */
    authFailure: AuthError | null;
    /** The error this request was answered with (the error handler). */
    failure: RequestFailure | null;
    /** The model version that served (or was chosen for) this request, for audit and metrics. */
    bastionTarget: RequestTarget | null;
    /** Why the model's policy flagged an allowed request (audit `reason`), e.g. `ood-flagged`. */
    policyReason: string | null;
    /** Hex SHA-256 of the raw request body, for the audit log (the body parsers). */
    inputSha256: string | null;
  }
}

/**
 * Gives a request built outside any route context (Fastify's `frameworkErrors` get a bare
 * request, without the decorators) the same state as every other.
 */
export function ensureRequestState(request: FastifyRequest): void {
  if ('principal' in request) return;
  const bare = request as { -readonly [K in keyof FastifyRequest]: FastifyRequest[K] };
  bare.principal = null;
  bare.authFailure = null;
  bare.failure = null;
  bare.bastionTarget = null;
  bare.policyReason = null;
  bare.inputSha256 = null;
}

/** Declares Bastion's request state; register first, on the root instance. */
export const requestStatePlugin = definePlugin(
  (app: FastifyInstance, _options: FastifyPluginOptions, done: (error?: Error) => void) => {
    app.decorateRequest('principal', null);
    app.decorateRequest('authFailure', null);
    app.decorateRequest('failure', null);
    app.decorateRequest('bastionTarget', null);
    app.decorateRequest('policyReason', null);
    app.decorateRequest('inputSha256', null);
    done();
  },
  { name: 'bastion-request-state' },
);
