import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config/config-schema.js';
import { httpStatusFor } from './errors.js';
import { toClientError } from './http/error-mapping.js';
import { registerHealthRoutes } from './http/health-routes.js';
import { methodNotAllowed, registerModelRoutes } from './http/model-routes.js';
import { requestIdFor, requestIdHeader } from './http/request-id.js';
import type { InferenceService } from './inference/inference-service.js';
import type { ModelRegistry } from './models/model-registry.js';

/** Everything the HTTP app needs; built by `server.ts` or by a test. */
export interface AppDependencies {
  readonly config: Readonly<Config>;
  readonly registry: ModelRegistry;
  readonly inference: InferenceService;
  readonly logger: Logger;
  /** The gateway's version, for `GET /v2`. */
  readonly version: string;
  /** True once shutdown has begun. */
  readonly isShuttingDown?: () => boolean;
  /** Extra Fastify server options (TLS, for instance), merged over the defaults. */
  readonly serverOptions?: Partial<FastifyServerOptions> & Record<string, unknown>;
}

/** The routes and the methods they accept, for 405 answers. */
const knownPaths: readonly (readonly [string, 'GET' | 'POST'])[] = [
  ['/v2', 'GET'],
  ['/v2/health/live', 'GET'],
  ['/v2/health/ready', 'GET'],
  ['/v2/models/:model', 'GET'],
  ['/v2/models/:model/versions/:version', 'GET'],
  ['/v2/models/:model/ready', 'GET'],
  ['/v2/models/:model/versions/:version/ready', 'GET'],
  ['/v2/models/:model/infer', 'POST'],
  ['/v2/models/:model/versions/:version/infer', 'POST'],
];

/**
 * Builds the Fastify app: edge hygiene, request ids, error mapping, then the routes. It never
 * listens; `server.ts` does.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: config.limits.bodyBytes,
    genReqId: requestIdFor,
    requestIdHeader: false,
    trustProxy: config.server.trustProxy,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    requestTimeout: config.server.requestTimeoutMs,
    routerOptions: { maxParamLength: 256, ignoreTrailingSlash: false },
    ...deps.serverOptions,
  });

  app.addHook('onRequest', (request, reply, done) => {
    void reply.header(requestIdHeader, request.id);
    done();
  });

  await app.register(helmet, {
    // A JSON API: no documents to frame, script or style.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    hsts: config.server.tls !== undefined,
  });

  // JSON only: the default text/plain parser would let non-JSON bodies through to handlers.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error, request, reply) => {
    const clientError = toClientError(error);
    const status = httpStatusFor(clientError.code);
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: clientError.code }, clientError.message);
    }
    if (clientError.retryAfterSec !== undefined) {
      void reply.header('retry-after', String(clientError.retryAfterSec));
    }
    if (clientError.code === 'METHOD_NOT_ALLOWED') {
      const allow = reply.getHeader('allow');
      if (allow === undefined) void reply.header('allow', 'GET');
    }
    return reply.code(status).send({ error: clientError.message, code: clientError.code });
  });

  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({
      error: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
      code: 'NOT_FOUND',
    });
  });

  registerHealthRoutes(app, {
    isReady: () => deps.registry.started && deps.isShuttingDown?.() !== true,
  });

  app.get('/v2', { config: { policy: { access: 'token', audit: false } } }, () => ({
    name: 'bastion',
    version: deps.version,
    extensions: [] as string[],
  }));

  registerModelRoutes(app, { registry: deps.registry, inference: deps.inference });

  for (const [url, allowed] of knownPaths) {
    const others = (['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const).filter(
      (m) => m !== allowed,
    );
    app.route({
      method: others,
      url,
      handler: (_request, reply) => {
        void reply.header('allow', allowed === 'GET' ? 'GET, HEAD' : 'POST');
        methodNotAllowed(allowed);
      },
    });
  }

  return app;
}
