import type { FastifyInstance } from 'fastify';

/** Headers a browser client may send to Bastion. */
const allowedHeaders = 'authorization, content-type, inference-header-content-length, x-request-id';

/**
 * CORS for the origins in `server.cors.origins`, and nothing else: without origins no CORS header
 * is ever sent. A preflight (`OPTIONS` with `Access-Control-Request-Method`) from a listed origin
 * gets 204 with the allowed methods and headers; from any other origin, 403 with no CORS header.
 */
export function registerCors(app: FastifyInstance, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  app.addHook('onRequest', (request, reply, done) => {
    const origin = request.headers.origin;
    if (typeof origin !== 'string' || !allowed.has(origin)) {
      done();
      return;
    }
    void reply
      .header('access-control-allow-origin', origin)
      .header('vary', 'Origin')
      .header(
        'access-control-expose-headers',
        'x-request-id, retry-after, inference-header-content-length',
      );
    done();
  });
  app.options('*', (request, reply) => {
    const origin = request.headers.origin;
    if (typeof origin !== 'string' || !allowed.has(origin)) {
      return reply.code(403).send({ error: 'origin not allowed', code: 'FORBIDDEN' });
    }
    return reply
      .code(204)
      .header('access-control-allow-methods', 'GET, POST')
      .header('access-control-allow-headers', allowedHeaders)
      .header('access-control-max-age', '600')
      .send();
  });
}
