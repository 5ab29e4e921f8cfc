import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import type { AuditEntry } from './audit/audit-record.js';
import { readHmacKeyFile } from './audit/audit-hash.js';
import { type AuditLog, createAuditLog } from './audit/audit-log.js';
import { type AuthSetup, createAuthSetup } from './auth/auth-setup.js';
import type { Config } from './config/config-schema.js';
import { resolveTuningDefaults } from './config/tuning-defaults.js';
import { createEngineFactory } from './inference/engine-factory.js';
import { isObservableEngine } from './inference/engine-stats.js';
import { createInferenceService } from './inference/inference-service.js';
import { createLogger } from './logger.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import type { KnownModel } from './metrics/label-guard.js';
import { createMetricsServer, type MetricsServer } from './metrics/metrics-server.js';
import { decryptModelBytes, parseEncryptionKey } from './models/model-encryption.js';
import {
  createModelRegistry,
  type ModelEvent,
  type ModelRegistry,
} from './models/model-registry.js';
import { createRepositoryPoller, type RepositoryPoller } from './models/repository-poller.js';
import { createSignedVersionReader } from './models/signed-version-reader.js';
import { loadTrustPolicy } from './models/trust-policy.js';
import { tlsServerOptions } from './http/tls.js';
import { bastionVersion } from './version.js';

/** A running (or ready to run) gateway. */
export interface Gateway {
  readonly app: FastifyInstance;
  readonly registry: ModelRegistry;
  readonly logger: Logger;
  readonly auth: AuthSetup;
  readonly metrics: Metrics | undefined;
  readonly audit: AuditLog | undefined;
  /** Loads the models and starts listening; resolves with the bound addresses. */
  listen(): Promise<{ host: string; port: number; metricsPort: number | undefined }>;
  /** Graceful stop: refuse new work, finish in-flight requests (bounded), flush the audit log. */
  close(): Promise<void>;
}

/** Options for {@link createGateway}. */
export interface GatewayOptions {
  readonly logger?: Logger;
  /** The process environment, for `models.encryptionKeyEnv` (only the config names it). */
  readonly env?: Readonly<Record<string, string | undefined>>;
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
  const problems = startupProblems(config);
  if (problems.length > 0) throw new StartupError(problems.join('\n'));

  const auth = await startupStep(() => createAuthSetup(config));
  const trust = await startupStep(() => loadTrustPolicy(config));
  if (config.mode === 'production' && trust.empty) {
    throw new StartupError(
      'models.trustedKeys: production needs at least one trusted publisher key (or models.trustedRoots, models.trustedIdentities)',
    );
  }
  const encryptionKey = await startupStep(() => readEncryptionKey(config, options.env ?? {}));
  const metrics = config.metrics.enabled ? createMetrics() : undefined;

  let audit: AuditLog | undefined;
  if (config.audit.enabled) {
    const hmacKey =
      config.audit.hmacKeyFile === undefined
        ? undefined
        : await startupStep(() => readHmacKeyFile(config.audit.hmacKeyFile as string));
    audit = await startupStep(() =>
      createAuditLog({
        path: config.audit.path,
        ...(hmacKey === undefined ? {} : { hmacKey }),
        fsync: config.audit.fsync === 'always' ? 'always' : { intervalMs: config.audit.fsync },
        maxBytes: config.audit.maxBytes,
        acceptBrokenTail: config.audit.acceptBrokenTail,
        onError: (error, failed) => {
          metrics?.auditWriteFailures.inc(Math.max(1, failed));
          logger.error({ err: error, records: failed }, 'AUDIT LOG WRITE FAILED');
        },
      }),
    );
  }
  const auditLater = (entry: AuditEntry): void => {
    audit?.append(entry).catch((error: unknown) => {
      logger.error({ err: error, event: entry.event }, 'audit record could not be written');
    });
  };

  const modelLog = logger.child({ component: 'models' });
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
  const inference = createInferenceService({
    registry,
    log: (level, msg, fields) => {
      logger.child({ component: 'inference' })[level](fields ?? {}, msg);
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

  let shuttingDown = false;
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
    metrics,
    audit,
    redis,
    isReady: () => !shuttingDown && (config.audit.failClosed !== true || audit?.healthy !== false),
    isShuttingDown: () => shuttingDown,
    ...(serverOptions === undefined ? {} : { serverOptions }),
  });

  let metricsServer: MetricsServer | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let poller: RepositoryPoller | undefined;
  let closed: Promise<void> | undefined;
  return {
    app,
    registry,
    logger,
    auth,
    metrics,
    audit,
    async listen() {
      await registry.loadAll();
      if (metrics !== undefined) {
        metrics.setKnownModels(knownModels(registry.list()));
        sampler = setInterval(() => {
          sampleQueueDepth(registry, metrics);
        }, 1000);
        sampler.unref();
        const bearerToken =
          config.metrics.bearerTokenFile === undefined
            ? undefined
            : (await readFile(config.metrics.bearerTokenFile, 'utf8')).trim();
        metricsServer = createMetricsServer({
          host: config.metrics.host,
          port: config.metrics.port,
          registry: metrics.registry,
          ...(bearerToken === undefined ? {} : { bearerToken }),
        });
      }
      await app.listen({ host: config.server.host, port: config.server.port });
      const address = app.server.address();
      const port =
        typeof address === 'object' && address !== null ? address.port : config.server.port;
      const metricsPort = (await metricsServer?.listen())?.port;
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
      logger.info(
        { host: config.server.host, port, metricsPort, mode: config.mode },
        'bastion listening',
      );
      return { host: config.server.host, port, metricsPort };
    },
    close() {
      closed ??= (async () => {
        shuttingDown = true;
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
          await metricsServer?.close();
          if (audit !== undefined) {
            await audit.append({ event: 'server.stop', outcome: 'allowed' }).catch(() => undefined);
            await audit.close();
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
      metrics?.modelRefusals.inc({
        model,
        reason: /^([a-z][a-z0-9-]+): /.exec(event.reason)?.[1] ?? 'other',
      });
      audit({ event: 'model.refused', outcome: 'denied', model, version, reason: event.reason });
      return;
    case 'unload':
      audit({ event: 'model.unload', outcome: 'allowed', model, version });
      return;
  }
}

/** The models and versions that may appear as metric labels: what the registry lists. */
function knownModels(
  states: readonly { readonly model: string; readonly version: number }[],
  also?: { readonly model: string; readonly version: number },
): KnownModel[] {
  const versions = new Map<string, Set<string>>();
  for (const { model, version } of also === undefined ? states : [...states, also]) {
    const set = versions.get(model) ?? new Set<string>();
    set.add(String(version));
    versions.set(model, set);
  }
  return [...versions].map(([name, set]) => ({ name, versions: set }));
}

function sampleQueueDepth(registry: ModelRegistry, metrics: Metrics): void {
  const depth = new Map<string, number>();
  for (const state of registry.list()) {
    if (state.state !== 'ready' || !isObservableEngine(state.engine)) continue;
    depth.set(state.model, (depth.get(state.model) ?? 0) + state.engine.stats().queueDepth);
  }
  for (const [model, value] of depth) metrics.queueDepth.set({ model }, value);
}

async function readEncryptionKey(
  config: Readonly<Config>,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Buffer | undefined> {
  const { encryptionKeyFile, encryptionKeyEnv } = config.models;
  if (encryptionKeyFile !== undefined) {
    return parseEncryptionKey(await readFile(encryptionKeyFile, 'utf8'));
  }
  if (encryptionKeyEnv !== undefined) {
    const value = env[encryptionKeyEnv];
    if (value === undefined || value === '') {
      throw new Error(
        `models.encryptionKeyEnv: environment variable ${encryptionKeyEnv} is not set`,
      );
    }
    return parseEncryptionKey(value);
  }
  return undefined;
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

/** What the configuration's mode forbids, each with the fix. */
export function startupProblems(config: Readonly<Config>): string[] {
  const problems: string[] = [];
  if (config.mode !== 'production') return problems;
  if (config.models.allowUnsigned) {
    problems.push(
      'models.allowUnsigned is refused in production: sign the models (npx bastion sign) and list the publisher key in models.trustedKeys',
    );
  }
  const issuerless = config.models.trustedIdentities.find((entry) => entry.issuer === undefined);
  if (issuerless !== undefined) {
    problems.push(
      `models.trustedIdentities: "${issuerless.identity}" has no issuer; production needs the OIDC issuer of every trusted identity (anyone can get a certificate for an e-mail from some issuer)`,
    );
  }
  if (!config.audit.enabled) {
    problems.push('audit.enabled: false is refused in production: every call must be audited');
  }
  if (
    config.server.host !== '127.0.0.1' &&
    config.server.host !== '::1' &&
    config.server.tls === undefined
  ) {
    problems.push(
      `server.tls: production listening on ${config.server.host} needs TLS (server.tls.certFile, keyFile), or terminate TLS in front and bind 127.0.0.1`,
    );
  }
  return problems;
}
