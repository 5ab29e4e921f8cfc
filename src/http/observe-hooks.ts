import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import type { AuditEntry, AuditOutcome } from '../audit/audit-record.js';
import type { Metrics } from '../metrics/metrics.js';
import { isModelName } from '../models/model-repository.js';
import { auditUnavailableError, errorBodyOf } from './error-handler.js';
import type { RequestTarget } from './request-state.js';

/** Where audit records go; `append` resolves once the record is durable. */
export interface AuditSink {
  append(entry: AuditEntry): Promise<unknown>;
}

/** Options of {@link observePlugin}. */
export interface ObserveHooksOptions {
  readonly audit?: AuditSink | undefined;
  /** Refuse (503) any response whose audit record could not be written. */
  readonly failClosed: boolean;
  readonly metrics?: Metrics | undefined;
  readonly onAuditFailure?: (error: unknown, request: FastifyRequest) => void;
}

/**
 * Audit and metrics for every route of the scope whose policy says so. The audit record is
 * written in `onSend`, before the response leaves: with `failClosed`, a request whose record
 * cannot be written is answered 503 instead, so no client ever holds a response the log does
 * not show.
 */
export const observePlugin = definePlugin(
  (scope: FastifyInstance, options: ObserveHooksOptions, done: (error?: Error) => void) => {
    const { audit, metrics } = options;
    if (audit !== undefined) {
      scope.addHook('onSend', async (request, reply, payload) => {
        if (request.routeOptions.config.policy?.audit !== true) return payload;
        try {
          await audit.append(auditEntryOf(request, reply));
          return payload;
        } catch (error) {
          options.onAuditFailure?.(error, request);
          if (!options.failClosed) return payload;
          // Too late for the error handler (the answer is being sent): the same body, by hand.
          const refusal = auditUnavailableError(error);
          reply.removeHeader('inference-header-content-length');
          void reply
            .code(refusal.status)
            .header('retry-after', String(refusal.retryAfterSec))
            .header('content-type', 'application/json');
          return JSON.stringify(errorBodyOf(refusal));
        }
      });
    }
    if (metrics !== undefined) {
      scope.addHook('onResponse', async (request, reply) => {
        if (request.routeOptions.config.policy === undefined) return;
        const { model, version } = targetOf(request);
        const labels = { model, version, status: reply.statusCode };
        metrics.requests.inc(labels);
        metrics.requestDuration.observe(labels, reply.elapsedTime / 1000);
      });
    }
    done();
  },
  {
    name: 'bastion-observe',
    dependencies: ['bastion-request-state'],
    decorators: {
      request: ['principal', 'failure', 'bastionTarget', 'policyReason', 'inputSha256'],
    },
  },
);

function targetOf(request: FastifyRequest): {
  readonly model: string | undefined;
  readonly version: number | undefined;
} {
  const target: RequestTarget | null = request.bastionTarget;
  if (target !== null) return target;
  // Null for requests the router refused (frameworkErrors): they have no route, no params.
  const model = (request.params as { model?: unknown } | null)?.model;
  return {
    model: typeof model === 'string' && isModelName(model) ? model : undefined,
    version: undefined,
  };
}

function outcomeOf(status: number): AuditOutcome {
  if (status < 400) return 'allowed';
  if (status === 401 || status === 403 || status === 429) return 'denied';
  return 'error';
}

/** The audit record of one request: who, what, outcome; never the token or the tensors. */
export function auditEntryOf(request: FastifyRequest, reply: FastifyReply): AuditEntry {
  const { model, version } = targetOf(request);
  const status = reply.statusCode;
  const reason =
    request.failure?.reason ?? request.failure?.code ?? request.policyReason ?? undefined;
  return {
    event: 'request',
    outcome: outcomeOf(status),
    requestId: request.id,
    ...(request.principal === null ? {} : { sub: request.principal.sub }),
    ip: request.ip,
    method: request.method,
    path: request.url,
    ...(model === undefined ? {} : { model }),
    ...(version === undefined ? {} : { version }),
    status,
    ...(reason === undefined ? {} : { reason }),
    durationMs: reply.elapsedTime,
    ...(request.inputSha256 === null ? {} : { inputSha256: request.inputSha256 }),
  };
}
