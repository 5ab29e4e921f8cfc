import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { BastionError } from '../errors.js';

/** Headers a browser client may send to Bastion (W3C trace context included). */
export const corsAllowedHeaders = [
  'authorization',
  'content-type',
  'content-encoding',
  'inference-header-content-length',
  'x-request-id',
  'traceparent',
  'tracestate',
] as const;

/** Response headers a browser script may read. */
const exposedHeaders = ['x-request-id', 'retry-after', 'inference-header-content-length'];

/** Options of {@link corsPlugin}. */
export interface CorsOptions {
  /** `server.cors.origins`: without any, the plugin does nothing. */
  readonly origins: readonly string[];
}

/**
 * CORS through @fastify/cors, for the origins in `server.cors.origins` and nothing else: without
 * origins @fastify/cors is not registered and no CORS header is ever sent. With origins, every
 * response carries `Vary: Origin` (a cache must not hand one origin's answer to another), a
 * listed origin gets `Access-Control-Allow-Origin`, and a preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) from a listed origin gets 204 with the allowed methods and
 * headers; from any other origin (or none), 403 in the usual error shape, with no CORS header.
 */
export const corsPlugin = definePlugin(
  async (app: FastifyInstance, options: CorsOptions) => {
    if (options.origins.length === 0) return;
    const allowed = new Set(options.origins);
    app.addHook('onRequest', (request, reply, done) => {
      const origin = request.headers.origin;
      const preflight =
        request.method === 'OPTIONS' &&
        request.headers['access-control-request-method'] !== undefined;
      if (preflight && (typeof origin !== 'string' || !allowed.has(origin))) {
        void reply.header('vary', 'Origin');
        done(new BastionError('FORBIDDEN', 'origin not allowed'));
        return;
      }
      done();
    });
    await app.register(cors, {
      origin: [...allowed],
      methods: ['GET', 'HEAD', 'POST'],
      allowedHeaders: [...corsAllowedHeaders],
      exposedHeaders,
      maxAge: 600,
      // A real preflight from an unlisted origin was answered above; other OPTIONS get 204.
      strictPreflight: false,
    });
  },
  { name: 'bastion-cors', dependencies: ['bastion-error-handler'] },
);
