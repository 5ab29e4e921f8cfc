import type { FastifyInstance, FastifyReply } from 'fastify';
import { type HealthAnswer, liveAnswer, readyAnswer } from '../metrics/health-answer.js';
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
