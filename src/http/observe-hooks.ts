import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditEntry, AuditOutcome } from '../audit/audit-record.js';
import type { ErrorCode } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { isModelName } from '../models/model-repository.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The error this request was answered with (set by the error handler). */
    failure?: { readonly code: ErrorCode; readonly reason: string | undefined };
  }
}

/** Where audit records go; `append` resolves once the record is durable. */
export interface AuditSink {
  append(entry: AuditEntry): Promise<unknown>;
}

/** Options of {@link registerObserveHooks}. */
export interface ObserveHooksOptions {
  readonly audit?: AuditSink | undefined;
  /** Refuse (503) any response whose audit record could not be written. */
  readonly failClosed: boolean;
  readonly metrics?: Metrics | undefined;
  readonly onAuditFailure?: (error: unknown, request: FastifyRequest) => void;
}

/**
 * Audit and metrics for every route of `scope` whose policy says so. The audit record is written
 * in `onSend`, before the response leaves: with `failClosed`, a request whose record cannot be
 * written is answered 503 instead, so no client ever holds a response the log does not show.
 */
export function registerObserveHooks(scope: FastifyInstance, options: ObserveHooksOptions): void {
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
        reply.removeHeader('inference-header-content-length');
        void reply.code(503).header('retry-after', '5').header('content-type', 'application/json');
        return JSON.stringify({
          error: 'the audit log cannot be written, so the request is refused; retry later',
          code: 'AUDIT_UNAVAILABLE',
        });
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
}

function targetOf(request: FastifyRequest): {
  model: string | undefined;
  version: number | undefined;
} {
  if (request.bastionTarget !== undefined) return request.bastionTarget;
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
  const reason = request.failure?.reason ?? request.failure?.code ?? request.policyReason;
  return {
    event: 'request',
    outcome: outcomeOf(status),
    requestId: request.id,
    ...(request.principal === undefined ? {} : { sub: request.principal.sub }),
    ip: request.ip,
    method: request.method,
    path: request.url,
    ...(model === undefined ? {} : { model }),
    ...(version === undefined ? {} : { version }),
    status,
    ...(reason === undefined ? {} : { reason }),
    durationMs: reply.elapsedTime,
    ...(request.inputSha256 === undefined ? {} : { inputSha256: request.inputSha256 }),
  };
}
