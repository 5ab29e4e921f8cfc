import type { FastifyInstance, FastifyReply } from 'fastify';

/** Dependencies of the health routes. */
export interface HealthRoutesOptions {
  /** True when the gateway can serve (models loaded, audit writable, not shutting down). */
  readonly isReady: () => boolean;
}

/** `GET /v2/health/live` and `/v2/health/ready`: public, no body, never audited. */
export function registerHealthRoutes(app: FastifyInstance, options: HealthRoutesOptions): void {
  app.get('/v2/health/live', (_request, reply: FastifyReply) => reply.code(200).send());
  app.get('/v2/health/ready', (_request, reply: FastifyReply) => {
    if (options.isReady()) return reply.code(200).send();
    return reply.code(503).header('retry-after', '5').send();
  });
}
