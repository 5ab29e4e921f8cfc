import Fastify, { type FastifyInstance, type FastifyServerOptions, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TokenVerifier } from './auth/token-verifier.js';
import type { Config } from './config/config-schema.js';
import { BastionError } from './errors.js';
import { authPlugin } from './http/auth-hooks.js';
import { clientCertificatePlugin } from './http/client-certificate.js';
import { configRoutesPlugin } from './http/config-routes.js';
import {
  connectionsCheckingIntervalFor,
  limitConnectionsPerAddress,
} from './http/connection-limits.js';
import { corsPlugin } from './http/cors.js';
import { errorHandlerPlugin } from './http/error-handler.js';
import { createClientErrorHandler, createFrameworkErrorHandler } from './http/framework-errors.js';
import { healthRoutesPlugin } from './http/health-routes.js';
import { jsonBodyPlugin } from './http/json-body.js';
import { createJsonParsePool } from './http/json-parse-pool.js';
import { modelRoutesPlugin } from './http/model-routes.js';
import { type AuditSink, auditEntryOf, observePlugin } from './http/observe-hooks.js';
import { openApiPlugin, recordRoutes } from './http/openapi.js';
import { rateLimitPlugin } from './http/rate-limit.js';
import { methodNotAllowedPlugin, unknownPathsPlugin } from './http/refusal-routes.js';
import { repositoryRoutesPlugin } from './http/repository-routes.js';
import { bodyDecodingPlugin, requestBodyPlugin } from './http/request-body.js';
import { requestIdFor, requestIdPlugin } from './http/request-id.js';
import { requestStatePlugin } from './http/request-state.js';
import { responseCompressionPlugin } from './http/response-compression.js';
import {
  computeSecurityHeaders,
  securityHeaderOptions,
  securityHeadersPlugin,
} from './http/security-headers.js';
import { serverRoutesPlugin } from './http/server-routes.js';
import { statsRoutesPlugin } from './http/stats-routes.js';
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

/**
 * Builds the Fastify app from its plugins (each declares its `name` and `dependencies`). Boot
 * order, top to bottom: the edge (request state and id, security headers, error handler, body
 * parser, CORS), the public routes and their 405s, then the authenticated scope: its hooks (see
 * {@link registerAuthenticatedEdge}), the v2 routes, and last their 405 and 404 answers. It never
 * listens; `server.ts` does.
 */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config } = deps;
  const helmetOptions = securityHeaderOptions(config.server.tls !== undefined);
  const securityHeaders = computeSecurityHeaders(helmetOptions);
  const jsonBodyBytes = Math.min(config.limits.jsonBodyBytes, config.limits.bodyBytes);
  const app = createServer(deps, securityHeaders);
  const routes = recordRoutes(app);
  const parsePool = createJsonParsePool({ threads: 2, maxQueue: 64 });
  app.addHook('onClose', () => parsePool.close());

  // The edge, for every request: its state and id, security headers, body parsing and errors.
  await app.register(requestStatePlugin);
  await app.register(requestIdPlugin);
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
  await app.register(securityHeadersPlugin, { helmet: helmetOptions, headers: securityHeaders });
  await app.register(errorHandlerPlugin);
  await app.register(jsonBodyPlugin, { limit: jsonBodyBytes });
  await app.register(requestBodyPlugin, { bodyBytes: config.limits.bodyBytes });
  await app.register(corsPlugin, { origins: config.server.cors.origins });

  // Public routes, then their 405s.
  await app.register(healthRoutesPlugin, {
    isReady: () => deps.registry.started && deps.isReady(),
  });
  await app.register(openApiPlugin, { version: deps.version });
  await app.register(methodNotAllowedPlugin, { routes, policy: undefined });

  await app.register(async (scope) => {
    await registerAuthenticatedEdge(scope, deps, jsonBodyBytes);
    await scope.register(serverRoutesPlugin, { version: deps.version });
    await scope.register(modelRoutesPlugin, {
      registry: deps.registry,
      inference: deps.inference,
      maxJsonOutputElements: config.limits.maxJsonOutputElements,
      jsonHeaderBytes: jsonBodyBytes,
      parsePool,
    });
    await scope.register(statsRoutesPlugin, {
      registry: deps.registry,
      stats: deps.stats ?? createInferenceStats(),
    });
    await scope.register(configRoutesPlugin, { registry: deps.registry });
    await scope.register(repositoryRoutesPlugin, { registry: deps.registry });
    // Last: every other method of the paths above, and any other path under them, audited.
    const audited = { access: 'none', audit: true } as const;
    await scope.register(methodNotAllowedPlugin, { routes, policy: audited });
    await scope.register(unknownPathsPlugin, {
      prefixes: ['/v2/models', '/v2/repository'],
      policy: audited,
    });
  });

  return app;
}

/**
 * The authenticated scope's hooks, in the order they run: the shutdown refusal, the client
 * certificate, the token, the rate limit (keyed by the token's subject), audit and metrics,
 * response compression, then body decoding (which reads the body, so it comes last).
 */
async function registerAuthenticatedEdge(
  scope: FastifyInstance,
  deps: AppDependencies,
  jsonBodyBytes: number,
): Promise<void> {
  const { config } = deps;
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
  if (subjects !== undefined) await scope.register(clientCertificatePlugin, { subjects });
  await scope.register(authPlugin, {
    verifier: deps.verifier,
    onFailure: (reason) => deps.metrics?.authFailures.inc({ reason }),
  });
  await scope.register(rateLimitPlugin, {
    requestsPerMinute: config.limits.requestsPerMinute,
    unauthenticatedPerMinute: config.limits.unauthenticatedPerMinute,
    registry: deps.registry,
    redis: deps.redis,
    onLimited: () => deps.metrics?.rateLimited.inc(),
  });
  await scope.register(observePlugin, {
    audit: deps.audit,
    failClosed: config.audit.failClosed === true,
    metrics: deps.metrics,
    onAuditFailure: (error, request) => {
      request.log.error({ err: error }, 'audit record could not be written');
    },
  });
  await scope.register(responseCompressionPlugin);
  await scope.register(bodyDecodingPlugin, { bodyBytes: config.limits.bodyBytes, jsonBodyBytes });
}

/**
 * The Fastify instance and its HTTP server: timeouts and connection limits from `server.*`, the
 * request id, and the answers to what the router and Node's parser refuse (with the security
 * headers, since no hook runs for those).
 */
function createServer(
  deps: AppDependencies,
  securityHeaders: Readonly<Record<string, string>>,
): FastifyInstance {
  const { config } = deps;
  const checkingInterval = connectionsCheckingIntervalFor(config.server.headersTimeoutMs);
  const https = deps.serverOptions?.https;
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
  app.server.headersTimeout = config.server.headersTimeoutMs;
  app.server.maxConnections = config.server.maxConnections;
  limitConnectionsPerAddress(app.server, {
    maxPerAddress: config.server.maxConnectionsPerIp,
    onRefused: (address) => {
      deps.logger.warn({ ip: address }, 'connection refused: server.maxConnectionsPerIp reached');
    },
  });
  return app;
}
