import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import type { AuditLog } from './audit/audit-log.js';
import type { AuthSetup } from './auth/auth-setup.js';
import type { Config } from './config/config-schema.js';
import { tlsServerOptions } from './http/tls.js';
import { createInferenceStats } from './inference/inference-stats.js';
import { createLogger } from './logger.js';
import type { Metrics } from './metrics/metrics.js';
import type { ServingRegistry } from './serving/serving-registry.js';
import {
  connectRedis,
  createGatewayRegistry,
  createInferencePath,
  openCredentials,
  openRecorders,
  refuseUnsafeConfig,
  startupStep,
} from './server-boot.js';
import { createGatewayLifecycle, createRunState, type ListenAddress } from './server-lifecycle.js';
import { createReloader, type ReloadReport } from './server-reload.js';
import { bastionVersion } from './version.js';

export { StartupError, startupProblems } from './server-boot.js';

/** A running (or ready to run) gateway. */
export interface Gateway {
  readonly app: FastifyInstance;
  readonly registry: ServingRegistry;
  readonly logger: Logger;
  readonly auth: AuthSetup;
  readonly metrics: Metrics | undefined;
  readonly audit: AuditLog | undefined;
  /**
   * Opens the listeners at once (health answers, ready 503), then loads the models; resolves with
   * the bound addresses once every model has settled (ready or refused).
   */
  listen(): Promise<ListenAddress>;
  /**
   * Graceful stop: readiness turns 503, the listeners keep serving for `server.drainDelayMs`, then
   * new work is refused, in-flight requests finish (bounded), the audit log is flushed.
   */
  close(): Promise<void>;
  /** Ends the drain delay of a {@link Gateway.close} in progress now (a second SIGTERM). */
  endDrain(): void;
  /** True when `/v2/health/ready` answers 200 (see docs/operations.md, "Probes"). */
  isReady(): boolean;
  /** The SIGHUP reload: trusted keys, JWKS, repository scan. Never throws. */
  reload(): Promise<ReloadReport>;
}

/** Options for {@link createGateway}. */
export interface GatewayOptions {
  readonly logger?: Logger;
  /** The process environment, for `models.encryptionKeyEnv` (only the config names it). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `serve --recover-audit`: open the audit log over any finding as a new chain segment. */
  readonly recoverAudit?: boolean;
}

/**
 * Wires the gateway from a validated configuration, step by step: refuse what the mode forbids;
 * open the credentials and the recorders; create the model registry with its engines, the shared
 * stores and the inference path; build the HTTP app. Nothing listens until
 * {@link Gateway.listen}.
 *
 * @throws StartupError when the configuration is not allowed in its mode or names a bad file.
 */
export async function createGateway(
  config: Readonly<Config>,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.logging.level);
  await refuseUnsafeConfig(config);

  const credentials = await openCredentials(config, options.env ?? {});
  const recorders = await openRecorders(config, logger, options.recoverAudit === true);
  const { metrics, audit } = recorders;

  const stats = createInferenceStats();
  const registry = createGatewayRegistry(config, { ...credentials, ...recorders, stats, logger });
  const redis = connectRedis(config, logger);
  const { policies, inference } = await createInferencePath(config, {
    ...recorders,
    registry,
    stats,
    redis,
    logger,
  });

  const run = createRunState(config, registry, audit);
  const serverOptions =
    config.server.tls === undefined
      ? undefined
      : await startupStep(() => tlsServerOptions(config.server.tls));
  const app = await buildApp({
    config,
    registry,
    inference,
    verifier: credentials.auth.verifier,
    logger,
    version: bastionVersion,
    stats,
    metrics,
    audit,
    redis,
    isReady: run.isReady,
    isShuttingDown: () => run.shuttingDown,
    ...(serverOptions === undefined ? {} : { serverOptions }),
  });
  const lifecycle = createGatewayLifecycle({
    ...recorders,
    config,
    logger,
    app,
    registry,
    policies,
    redis,
    run,
  });
  const reload = createReloader({
    config,
    registry,
    trust: credentials.trust,
    verifier: credentials.auth.verifier,
    jwksFile: config.auth.jwksFile ?? credentials.auth.devIssuer?.jwksFile,
  });
  return {
    app,
    registry,
    logger,
    auth: credentials.auth,
    metrics,
    audit,
    isReady: run.isReady,
    reload: () => (run.draining ? Promise.resolve(skippedReload) : reload()),
    endDrain: lifecycle.endDrain,
    listen: lifecycle.listen,
    close: lifecycle.close,
  };
}

const skippedReload: ReloadReport = {
  trustedKeys: 'skipped: shutting down',
  jwks: 'skipped: shutting down',
  models: [],
};
