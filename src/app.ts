import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isAuthError } from './auth/auth-error.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import type { Config } from './config/config-schema.js';
import { BastionError, httpStatusFor } from './errors.js';
import { registerAuthHooks } from './http/auth-hooks.js';
import { registerClientSubjectCheck } from './http/client-certificate.js';
import { registerCors } from './http/cors.js';
import {
  connectionsCheckingIntervalFor,
  limitConnectionsPerAddress,
} from './http/connection-limits.js';
import { toClientError } from './http/error-mapping.js';
import { registerConfigRoutes } from './http/config-routes.js';
import { createClientErrorHandler, createFrameworkErrorHandler } from './http/framework-errors.js';
import { registerHealthRoutes } from './http/health-routes.js';
import { recordRoutes, registerOpenApiRoute } from './http/openapi.js';
import { registerStatsRoutes } from './http/stats-routes.js';
import { registerJsonBodyParser } from './http/json-body.js';
import { createJsonParsePool } from './http/json-parse-pool.js';
import { computeSecurityHeaders, securityHeaderOptions } from './http/security-headers.js';
import {
  methodNotAllowedError,
  registerModelRoutes,
  type RoutePolicy,
} from './http/model-routes.js';
import { type AuditSink, auditEntryOf, registerObserveHooks } from './http/observe-hooks.js';
import { registerRateLimit } from './http/rate-limit.js';
import { registerRepositoryRoutes } from './http/repository-routes.js';
import { registerBodyDecoding, registerRequestBodyHooks } from './http/request-body.js';
import { registerResponseCompression } from './http/response-compression.js';
import { requestIdFor, requestIdHeader } from './http/request-id.js';
import type { InferenceService } from './serving/inference-service.js';
import { createInferenceStats, type InferenceStats } from './inference/inference-stats.js';
import type { Metrics } from './metrics/metrics.js';
import type { ServingRegistry } from './serving/serving-registry.js';

/** Everything the HTTP app needs; built by `server.ts` or by a test. */
export interface AppDependencies {
  readonly config: Readonly<Config>;
  readonly registry: ServingRegistry;
  readonly inference: InferenceService;
  readonly verifier: TokenVerifier;
  readonly logger: Logger;
  /** The gateway's version, for `GET /v2`. */
  readonly version: string;
  /** Per-version statistics fed by the inference path (Triton's statistics extension). */
  readonly stats?: InferenceStats | undefined;
  readonly metrics?: Metrics | undefined;
  readonly audit?: AuditSink | undefined;
  /** Shared rate-limit store (limits.redisUrl). */
  readonly redis?: Redis | undefined;
  /** False while the gateway cannot serve (shutting down, audit log unwritable in fail-closed). */
  readonly isReady: () => boolean;
  /** True once graceful shutdown has begun: new requests get an audited 503 SHUTTING_DOWN. */
  readonly isShuttingDown?: () => boolean;
  /** Extra Fastify server options (TLS, for instance), merged over the defaults. */
  readonly serverOptions?: Partial<FastifyServerOptions> & Record<string, unknown>;
}

/** Public routes and the methods they accept, for 405 answers (not audited). */
const publicPaths: readonly (readonly [string, 'GET' | 'POST'])[] = [
  ['/v2/health/live', 'GET'],
  ['/v2/health/ready', 'GET'],
  ['/openapi.json', 'GET'],
];

/** Routes in the authenticated scope and the methods they accept, for audited 405 answers. */
const knownPaths: readonly (readonly [string, 'GET' | 'POST'])[] = [
  ['/v2', 'GET'],
  ['/v2/', 'GET'],
  ['/v2/models/:model', 'GET'],
  ['/v2/models/:model/versions/:version', 'GET'],
  ['/v2/models/:model/ready', 'GET'],
  ['/v2/models/:model/versions/:version/ready', 'GET'],
  ['/v2/models/:model/infer', 'POST'],
  ['/v2/models/:model/versions/:version/infer', 'POST'],
  ['/v2/repository/index', 'POST'],
  ['/v2/repository/models/:model/load', 'POST'],
  ['/v2/repository/models/:model/unload', 'POST'],
  ['/v2/models/stats', 'GET'],
  ['/v2/models/:model/stats', 'GET'],
  ['/v2/models/:model/versions/:version/stats', 'GET'],
  ['/v2/models/:model/config', 'GET'],
  ['/v2/models/:model/versions/:version/config', 'GET'],
];

/**
 * Builds the Fastify app. Boot order, top to bottom: edge hygiene (helmet, body parser, request
 * ids, error mapping), public health routes, then the authenticated scope: token check, rate
 * limit, audit and metrics hooks, and the v2 routes. It never listens; `server.ts` does.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config } = deps;
  // @fastify/helmet stays registered (reply.helmet() for routes that need their own policy), but
  // the global policy is applied from headers computed once at boot: see security-headers.ts.
  const helmetOptions = securityHeaderOptions(config.server.tls !== undefined);
  const securityHeaders = computeSecurityHeaders(helmetOptions);
  const checkingInterval = connectionsCheckingIntervalFor(config.server.headersTimeoutMs);
  const https = deps.serverOptions?.https;
  const jsonBodyBytes = Math.min(config.limits.jsonBodyBytes, config.limits.bodyBytes);
  const app = Fastify({
    loggerInstance: deps.logger,
    // No "incoming request"/"request completed" lines: the audit log records every request to a
    // model route, and two app-log lines per request cost more CPU than a small model's inference.
    // Errors are still logged by the error handler; `logging.level: debug` adds a line per request.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.limits.bodyBytes,
    genReqId: requestIdFor,
    requestIdHeader: false,
    trustProxy: config.server.trustProxy,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Requests arriving while closing are refused by our own hook below, so they are audited.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    requestTimeout: config.server.requestTimeoutMs,
    routerOptions: { maxParamLength: 256, ignoreTrailingSlash: false },
    frameworkErrors: createFrameworkErrorHandler({
      headers: securityHeaders,
      failClosed: config.audit.failClosed === true,
      audit:
        deps.audit === undefined
          ? undefined
          : async (request, reply) => {
              if (/^\/v2\/(models|repository)\//.test(request.url)) {
                await deps.audit?.append(auditEntryOf(request, reply));
              }
            },
    }),
    clientErrorHandler: createClientErrorHandler(securityHeaders),
    http: { connectionsCheckingInterval: checkingInterval },
    ...deps.serverOptions,
    ...(typeof https === 'object' && https !== null
      ? { https: { ...https, connectionsCheckingInterval: checkingInterval } }
      : {}),
  });
  recordRoutes(app);
  app.server.headersTimeout = config.server.headersTimeoutMs;
  app.server.maxConnections = config.server.maxConnections;
  const parsePool = createJsonParsePool({ threads: 2, maxQueue: 64 });
  app.addHook('onClose', () => parsePool.close());
  limitConnectionsPerAddress(app.server, {
    maxPerAddress: config.server.maxConnectionsPerIp,
    onRefused: (address) => {
      deps.logger.warn({ ip: address }, 'connection refused: server.maxConnectionsPerIp reached');
    },
  });

  app.addHook('onRequest', (request, reply, done) => {
    void reply.header(requestIdHeader, request.id);
    done();
  });
  if (deps.logger.isLevelEnabled('debug')) {
    app.addHook('onResponse', (request, reply, done) => {
      request.log.debug(
        {
          method: request.method,
          url: request.url,
          status: reply.statusCode,
          ms: reply.elapsedTime,
        },
        'request completed',
      );
      done();
    });
  }

  await app.register(helmet, { ...helmetOptions, global: false });
  app.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(securityHeaders);
    done();
  });

  registerJsonBodyParser(app, jsonBodyBytes);
  registerRequestBodyHooks(app, { bodyBytes: config.limits.bodyBytes });
  await registerCors(app, config.server.cors.origins);

  app.setErrorHandler((error, request, reply) => {
    const clientError = toClientError(error);
    const status = httpStatusFor(clientError.code);
    request.failure = {
      code: clientError.code,
      reason: isAuthError(clientError)
        ? clientError.reason
        : clientError.code === 'RATE_LIMITED'
          ? 'rate_limited'
          : undefined,
    };
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
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
    return reply.code(status).send({ error: clientError.message, code: clientError.code });
  });

  // Never echoes the URL (it may hold anything); the preParsing hook answers before any body.
  app.setNotFoundHandler((_request, reply) => {
    return reply.code(404).send({ error: 'no such route', code: 'NOT_FOUND' });
  });

  registerHealthRoutes(app, { isReady: () => deps.registry.started && deps.isReady() });
  registerOpenApiRoute(app, deps.version);
  registerMethodNotAllowed(app, publicPaths, undefined);

  await app.register(async (scope) => {
    scope.addHook('onRequest', (_request, _reply, done) => {
      if (deps.isShuttingDown?.() === true) {
        done(
          new BastionError(
            'SHUTTING_DOWN',
            'the gateway is shutting down; retry on another replica',
            {
              retryAfterSec: 1,
            },
          ),
        );
        return;
      }
      done();
    });
    const subjects = config.server.tls?.allowedClientSubjects;
    if (subjects !== undefined) registerClientSubjectCheck(scope, subjects);
    registerAuthHooks(scope, {
      verifier: deps.verifier,
      onFailure: (reason) => deps.metrics?.authFailures.inc({ reason }),
    });
    await registerRateLimit(scope, {
      requestsPerMinute: config.limits.requestsPerMinute,
      unauthenticatedPerMinute: config.limits.unauthenticatedPerMinute,
      registry: deps.registry,
      redis: deps.redis,
      onLimited: () => deps.metrics?.rateLimited.inc(),
    });
    registerObserveHooks(scope, {
      audit: deps.audit,
      failClosed: config.audit.failClosed === true,
      metrics: deps.metrics,
      onAuditFailure: (error, request) => {
        request.log.error({ err: error }, 'audit record could not be written');
      },
    });
    // After the audit hook, so a fail-closed 503 replaces the payload before it is compressed.
    await registerResponseCompression(scope);
    registerBodyDecoding(scope, { bodyBytes: config.limits.bodyBytes, jsonBodyBytes });
    registerMethodNotAllowed(scope, knownPaths, { access: 'none', audit: true });
    // Any other path under the model and repository routes: an audited 404, before any body.
    scope.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'],
      url: '/v2/models/*',
      config: { policy: { access: 'none', audit: true }, methodNotAllowed: true, refuse: notFound },
      handler: () => {
        throw notFound();
      },
    });
    scope.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'],
      url: '/v2/repository/*',
      config: { policy: { access: 'none', audit: true }, methodNotAllowed: true, refuse: notFound },
      handler: () => {
        throw notFound();
      },
    });

    const serverMetadata = () => ({
      name: 'bastion',
      version: deps.version,
      extensions: [
        'model_repository',
        'binary_tensor_data',
        'statistics',
        'model_configuration',
        'classification',
      ],
    });
    const tokenOnly = { config: { policy: { access: 'token', audit: false } } } as const;
    scope.get('/v2', tokenOnly, serverMetadata);
    scope.get('/v2/', tokenOnly, serverMetadata);
    registerModelRoutes(scope, {
      registry: deps.registry,
      inference: deps.inference,
      maxJsonOutputElements: config.limits.maxJsonOutputElements,
      jsonHeaderBytes: jsonBodyBytes,
      parsePool,
    });
    registerStatsRoutes(scope, {
      registry: deps.registry,
      stats: deps.stats ?? createInferenceStats(),
    });
    registerConfigRoutes(scope, deps.registry);
    registerRepositoryRoutes(scope, deps.registry);
  });

  return app;
}

function notFound(): BastionError {
  return new BastionError('NOT_FOUND', 'no such route');
}

/** 405 routes for the other methods of each known path, answered before any body is read. */
function registerMethodNotAllowed(
  app: FastifyInstance,
  paths: readonly (readonly [string, 'GET' | 'POST'])[],
  policy: RoutePolicy | undefined,
): void {
  for (const [url, allowed] of paths) {
    const others = (['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const).filter(
      (m) => m !== allowed,
    );
    const allow = allowed === 'GET' ? 'GET, HEAD' : 'POST';
    app.route({
      method: others,
      url,
      config: {
        ...(policy === undefined ? {} : { policy }),
        methodNotAllowed: true,
        refuse: () => methodNotAllowedError(allowed),
      },
      onRequest: (_request, reply, done) => {
        void reply.header('allow', allow);
        done();
      },
      handler: () => {
        throw methodNotAllowedError(allowed);
      },
    });
  }
}
