import type { FastifyInstance, FastifyReply } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { jsonSchemaOf, liveResponse, okResponseSchema, readyResponse } from './openapi-schemas.js';

/** Dependencies of the health routes. */
export interface HealthRoutesOptions {
  /**
   * True when the gateway can serve: every model found at start-up has settled and at least one
   * is ready, the audit log is writable (fail-closed), and shutdown has not begun.
   */
  readonly isReady: () => boolean;
}

/** The body and status of a health answer; shared with the management listener. */
export interface HealthAnswer {
  readonly status: 200 | 503;
  readonly body: { readonly live: boolean } | { readonly ready: boolean };
}

/** `GET /v2/health/live`: the process answers, so it is live. */
export function liveAnswer(): HealthAnswer {
  return { status: 200, body: { live: true } };
}

/** `GET /v2/health/ready`: 200 `{"ready": true}` or 503 `{"ready": false}`. */
export function readyAnswer(isReady: () => boolean): HealthAnswer {
  const ready = isReady();
  return { status: ready ? 200 : 503, body: { ready } };
}

function send(reply: FastifyReply, answer: HealthAnswer): FastifyReply {
  void reply.header('cache-control', 'no-store');
  if (answer.status === 503) void reply.header('retry-after', '5');
  return reply.code(answer.status).send(answer.body);
}

const readySchema = jsonSchemaOf(readyResponse, 'output');

/**
 * `GET /v2/health/live` and `/v2/health/ready`: public, never audited. The bodies are the ones
 * KServe's server sends (`{"live": true}`, `{"ready": true}`); the status code carries the answer.
 */
export const healthRoutesPlugin = definePlugin(
  (app: FastifyInstance, options: HealthRoutesOptions, done: (error?: Error) => void) => {
    app.get(
      '/v2/health/live',
      { schema: { response: okResponseSchema(liveResponse) } },
      (_request, reply) => send(reply, liveAnswer()),
    );
    app.get(
      '/v2/health/ready',
      { schema: { response: { 200: readySchema, 503: readySchema } } },
      (_request, reply) => send(reply, readyAnswer(options.isReady)),
    );
    done();
  },
  { name: 'bastion-health-routes' },
);
