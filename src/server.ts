import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import type { AuditEntry } from './audit/audit-record.js';
import type { AuditLog } from './audit/audit-log.js';
import { openGatewayAudit, startAuditWitness } from './audit/audit-setup.js';
import { type AuthSetup, createAuthSetup } from './auth/auth-setup.js';
import type { Config } from './config/config-schema.js';
import { resolveTuningDefaults } from './config/tuning-defaults.js';
import { createEngineFactory } from './inference/engine-factory.js';
import { createInferenceService } from './inference/inference-service.js';
import { createInferenceStats } from './inference/inference-stats.js';
import { createPolicyServices } from './policy/policy-setup.js';
import { createLogger } from './logger.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { createMetricsServer, type MetricsServer } from './metrics/metrics-server.js';
import { decryptModelBytes } from './models/model-encryption.js';
import {
  createModelRegistry,
  type ModelEvent,
  type ModelRegistry,
} from './models/model-registry.js';
import { createRepositoryPoller, type RepositoryPoller } from './models/repository-poller.js';
import { createSignedVersionReader } from './models/signed-version-reader.js';
import { loadTrustPolicy } from './models/trust-policy.js';
import { tlsServerOptions } from './http/tls.js';
import { productionRefusals } from './doctor/run-doctor.js';
import { createReloadableTrust, createReloader, type ReloadReport } from './server-reload.js';
import { knownModels, readEncryptionKey, sampleQueueDepth } from './server-parts.js';
import { bastionVersion } from './version.js';

/** A running (or ready to run) gateway. */
export interface Gateway {
  readonly app: FastifyInstance;
  readonly registry: ModelRegistry;
  readonly logger: Logger;
  readonly auth: AuthSetup;
  readonly metrics: Metrics | undefined;
  readonly audit: AuditLog | undefined;
  /**
   * Opens the listeners at once (health answers, ready 503), then loads the models; resolves with
   * the bound addresses once every model has settled (ready or refused).
   */
  listen(): Promise<{ host: string; port: number; metricsPort: number | undefined }>;
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

/** Start-up refused: the configuration is unsafe for its mode, or a file it names is unusable. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * Wires the gateway from a validated configuration: logger, token verifier, audit log, metrics,
 * trust policy, model registry, inference service, HTTP app. Nothing listens until
 * {@link Gateway.listen}.
 *
 * @throws StartupError when the configuration is not allowed in its mode or names a bad file.
 */
export async function createGateway(
  config: Readonly<Config>,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.logging.level);
  const problems = await startupProblems(config);
  if (problems.length > 0) throw new StartupError(problems.join('\n'));

  const auth = await startupStep(() => createAuthSetup(config));
  const trust = createReloadableTrust(await startupStep(() => loadTrustPolicy(config)));
  if (config.mode === 'production' && trust.empty) {
    throw new StartupError(
      'models.trustedKeys: production needs at least one trusted publisher key (or models.trustedRoots, models.trustedIdentities)',
    );
  }
  const encryptionKey = await startupStep(() => readEncryptionKey(config, options.env ?? {}));
  const metrics = config.metrics.enabled ? createMetrics() : undefined;

  let audit: AuditLog | undefined;
  if (config.audit.enabled) {
    audit = await startupStep(() =>
      openGatewayAudit(config, {
        logger,
        recover: options.recoverAudit === true,
        onWriteFailure: (failed) => metrics?.auditWriteFailures.inc(Math.max(1, failed)),
      }),
    );
  }
  const auditLater = (entry: AuditEntry): void => {
    audit?.append(entry).catch((error: unknown) => {
      logger.error({ err: error, event: entry.event }, 'audit record could not be written');
    });
  };

  const modelLog = logger.child({ component: 'models' });
  const stats = createInferenceStats();
  const registry = createModelRegistry({
    repository: config.models.repository,
    defaults: resolveTuningDefaults(config),
    readVersion: createSignedVersionReader({
      trust,
      allowUnsigned: config.models.allowUnsigned,
      ignorePaths: config.models.ignorePaths,
    }),
    decrypt:
      encryptionKey === undefined ? undefined : (bytes) => decryptModelBytes(bytes, encryptionKey),
    createEngine: createEngineFactory({
      stats,
      log: (msg) => {
        modelLog.warn(msg);
      },
      hooksFor: ({ model, version }) =>
        metrics === undefined
          ? {
              onWorkerRestart: (label, reason) => {
                modelLog.error({ label, reason }, 'model worker crashed and was replaced');
              },
            }
          : {
              onInference: (ms) => {
                metrics.inferenceDuration.observe({ model, version }, ms / 1000);
              },
              onQueueWait: (ms) => {
                metrics.queueWait.observe({ model }, ms / 1000);
              },
              onBatch: (_requests, rows) => {
                metrics.batchSize.observe({ model }, rows);
              },
              onWorkerRestart: (label, reason) => {
                metrics.workerRestarts.inc({ model });
                modelLog.error({ label, reason }, 'model worker crashed and was replaced');
              },
            },
    }),
    onEvent: (event) => {
      // Labels follow the repository: every model and version it lists (refused ones too).
      metrics?.setKnownModels(knownModels(registry.list(), event));
      onModelEvent(event, metrics, auditLater);
    },
    log: (level, msg, fields) => {
      modelLog[level](fields ?? {}, msg);
    },
  });

  const redis =
    config.limits.redisUrl === undefined
      ? undefined
      : new Redis(config.limits.redisUrl, {
          lazyConnect: false,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 2000,
        });
  redis?.on('error', (error) => {
    logger.warn({ err: error }, 'rate-limit store (Redis) error; limits fail open');
  });

  const inferenceLog = logger.child({ component: 'inference' });
  const policies = await startupStep(() =>
    createPolicyServices({
      stateDir: config.stateDir,
      redis,
      metrics,
      audit: auditLater,
      log: (level, msg, fields) => {
        inferenceLog[level](fields ?? {}, msg);
      },
    }),
  );
  const inference = createInferenceService({
    registry,
    stats,
    policy: policies.enforcer,
    log: (level, msg, fields) => {
      inferenceLog[level](fields ?? {}, msg);
    },
  });

  let shuttingDown = false;
  // Between SIGTERM and shutdownDelayMs' end: not ready, still serving.
  let draining = false;
  let endDrain: (() => void) | undefined;
  const isReady = (): boolean =>
    !draining &&
    !shuttingDown &&
    registry.started &&
    (config.audit.failClosed !== true || audit?.healthy !== false) &&
    registry.list().some((s) => s.state === 'ready');
  const serverOptions =
    config.server.tls === undefined
      ? undefined
      : await startupStep(() => tlsServerOptions(config.server.tls));
  const app = await buildApp({
    config,
    registry,
    inference,
    verifier: auth.verifier,
    logger,
    version: bastionVersion,
    stats,
    metrics,
    audit,
    redis,
    isReady,
    isShuttingDown: () => shuttingDown,
    ...(serverOptions === undefined ? {} : { serverOptions }),
  });

  let metricsServer: MetricsServer | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let poller: RepositoryPoller | undefined;
  let closed: Promise<void> | undefined;
  let loading: Promise<void> | undefined;
  const reload = createReloader({
    config,
    registry,
    trust,
    verifier: auth.verifier,
    jwksFile: config.auth.jwksFile ?? auth.devIssuer?.jwksFile,
  });
  let stopWitness: (() => void) | undefined;
  return {
    app,
    registry,
    logger,
    auth,
    metrics,
    audit,
    isReady,
    reload() {
      if (!draining) return reload();
      const skipped = 'skipped: shutting down';
      return Promise.resolve({ trustedKeys: skipped, jwks: skipped, models: [] });
    },
    endDrain() {
      endDrain?.();
    },
    async listen() {
      if (metrics !== undefined) {
        const bearerToken =
          config.metrics.bearerTokenFile === undefined
            ? undefined
            : (await readFile(config.metrics.bearerTokenFile, 'utf8')).trim();
        metricsServer = createMetricsServer({
          host: config.metrics.host,
          port: config.metrics.port,
          registry: metrics.registry,
          isReady,
          ...(bearerToken === undefined ? {} : { bearerToken }),
        });
      }
      // Listen first: probes answer (ready 503) while the models load, however long that takes.
      await app.listen({ host: config.server.host, port: config.server.port });
      const address = app.server.address();
      const port =
        typeof address === 'object' && address !== null ? address.port : config.server.port;
      const metricsPort = (await metricsServer?.listen())?.port;
      logger.info(
        { host: config.server.host, port, metricsPort, mode: config.mode },
        'listeners open; loading models',
      );
      loading = registry.loadAll();
      await loading;
      // Stopped while the models loaded: close() owns the rest; nothing more starts.
      if (draining) return { host: config.server.host, port, metricsPort };
      if (metrics !== undefined) {
        metrics.setKnownModels(knownModels(registry.list()));
        sampler = setInterval(() => {
          sampleQueueDepth(registry, metrics);
        }, 1000);
        sampler.unref();
      }
      if (config.models.pollIntervalSec > 0 && !shuttingDown) {
        poller = createRepositoryPoller({
          registry,
          intervalMs: config.models.pollIntervalSec * 1000,
          log: (level, msg, fields) => {
            modelLog[level](fields ?? {}, msg);
          },
        });
        poller.start();
      }
      auditLater({
        event: 'server.start',
        outcome: 'allowed',
        reason: `bastion ${bastionVersion}`,
      });
      if (audit !== undefined) {
        stopWitness = startAuditWitness(audit, logger, config.audit.witnessIntervalSec);
      }
      const ready = registry.list().filter((s) => s.state === 'ready').length;
      logger.info(
        { host: config.server.host, port, metricsPort, mode: config.mode, readyVersions: ready },
        'bastion listening',
      );
      if (ready === 0) logger.error('no model version is ready: /v2/health/ready answers 503');
      return { host: config.server.host, port, metricsPort };
    },
    close() {
      closed ??= (async () => {
        draining = true;
        if (config.server.drainDelayMs > 0 && app.server.listening) {
          logger.info(
            { drainDelayMs: config.server.drainDelayMs },
            'draining: ready answers 503, still serving until the delay ends',
          );
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, config.server.drainDelayMs);
            endDrain = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        shuttingDown = true;
        // The first load finishes before the registry closes (its engines would leak otherwise).
        await loading?.catch(() => undefined);
        // No new versions load while the gateway stops; a scan in progress finishes first.
        await poller?.stop();
        const timer = setTimeout(() => {
          logger.warn('shutdown timeout reached; closing remaining connections');
          app.server.closeAllConnections();
        }, config.server.shutdownTimeoutMs);
        timer.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          if (sampler !== undefined) clearInterval(sampler);
          await registry.close();
          await policies.close();
          await metricsServer?.close();
          if (audit !== undefined) {
            await audit.append({ event: 'server.stop', outcome: 'allowed' }).catch(() => undefined);
            await audit.close();
            stopWitness?.();
          }
          redis?.disconnect();
        }
        logger.info('bastion stopped');
      })();
      return closed;
    },
  };
}

function onModelEvent(
  event: ModelEvent,
  metrics: Metrics | undefined,
  audit: (entry: AuditEntry) => void,
): void {
  const { model, version } = event;
  switch (event.type) {
    case 'load':
      metrics?.modelLoads.inc({ model, version, result: 'loaded' });
      audit({
        event: 'model.load',
        outcome: 'allowed',
        model,
        version,
        reason: `signed by ${event.signedBy ?? 'nobody (allowUnsigned)'}; sha256 ${event.modelSha256}`,
      });
      return;
    case 'refused':
      metrics?.modelLoads.inc({ model, version, result: 'refused' });
      metrics?.modelRefusals.inc({ model, reason: event.code ?? 'other' });
      audit({ event: 'model.refused', outcome: 'denied', model, version, reason: event.reason });
      return;
    case 'unload':
      audit({ event: 'model.unload', outcome: 'allowed', model, version });
      return;
  }
}

async function startupStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw new StartupError(error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
}

/**
 * What the configuration's mode forbids: in production, every high finding of `bastion doctor`
 * (model files aside), one line each naming the key and the fix. Nothing in development.
 */
export async function startupProblems(config: Readonly<Config>): Promise<string[]> {
  return (await productionRefusals(config)).map((line) => `refused in production: ${line}`);
}
