/**
 * The boot steps of {@link createGateway}, in the order it runs them: refuse what the mode
 * forbids, open the credentials (tokens, trust anchors, encryption key), the recorders (metrics,
 * audit log), the model registry with its engines, the shared stores, the inference path.
 * Each step that can fail on a bad file throws {@link StartupError} naming it.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AuditEntry } from './audit/audit-record.js';
import type { AuditLog } from './audit/audit-log.js';
import { openGatewayAudit } from './audit/audit-setup.js';
import { type AuthSetup, createAuthSetup } from './auth/auth-setup.js';
import type { Config } from './config/config-schema.js';
import { resolveTuningDefaults } from './config/tuning-defaults.js';
import { productionRefusals } from './doctor/run-doctor.js';
import { createEngineFactory } from './inference/engine-factory.js';
import type { InferenceStats } from './inference/inference-stats.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { decryptModelBytes } from './models/model-encryption.js';
import { createSignedVersionReader } from './models/signed-version-reader.js';
import { loadTrustPolicy } from './models/trust-policy.js';
import { createInferenceService, type InferenceService } from './serving/inference-service.js';
import { createPolicyServices, type PolicyServices } from './serving/policy-setup.js';
import { createServingRegistry, type ServingRegistry } from './serving/serving-registry.js';
import { createReloadableTrust, type ReloadableTrust } from './server-reload.js';
import {
  engineHooksFor,
  knownModels,
  readEncryptionKey,
  recordModelEvent,
} from './server-parts.js';

/** Start-up refused: the configuration is unsafe for its mode, or a file it names is unusable. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** Runs one boot step; whatever it throws becomes a {@link StartupError} with its message. */
export async function startupStep<T>(step: () => Promise<T>): Promise<T> {
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

/** @throws StartupError listing every problem of {@link startupProblems}. */
export async function refuseUnsafeConfig(config: Readonly<Config>): Promise<void> {
  const problems = await startupProblems(config);
  if (problems.length > 0) throw new StartupError(problems.join('\n'));
}

/** Who may call (token verification) and whose models load (trust anchors, decryption key). */
export interface Credentials {
  readonly auth: AuthSetup;
  readonly trust: ReloadableTrust;
  readonly encryptionKey: Buffer | undefined;
}

/** @throws StartupError on an unusable key file, or production without a trust anchor. */
export async function openCredentials(
  config: Readonly<Config>,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Credentials> {
  const auth = await startupStep(() => createAuthSetup(config));
  const trust = createReloadableTrust(await startupStep(() => loadTrustPolicy(config)));
  if (config.mode === 'production' && trust.empty) {
    throw new StartupError(
      'models.trustedKeys: production needs at least one trusted publisher key (or models.trustedRoots, models.trustedIdentities)',
    );
  }
  const encryptionKey = await startupStep(() => readEncryptionKey(config, env));
  return { auth, trust, encryptionKey };
}

/** What records the gateway's work: metrics, the audit log, and a non-blocking audit append. */
export interface Recorders {
  readonly metrics: Metrics | undefined;
  readonly audit: AuditLog | undefined;
  /** Appends without waiting; a failed append is logged (the log's own health says the rest). */
  readonly auditLater: (entry: AuditEntry) => void;
}

/** @throws StartupError when the audit log cannot be opened (or recovered). */
export async function openRecorders(
  config: Readonly<Config>,
  logger: Logger,
  recoverAudit: boolean,
): Promise<Recorders> {
  const metrics = config.metrics.enabled ? createMetrics() : undefined;
  let audit: AuditLog | undefined;
  if (config.audit.enabled) {
    audit = await startupStep(() =>
      openGatewayAudit(config, {
        logger,
        recover: recoverAudit,
        onWriteFailure: (failed) => metrics?.auditWriteFailures.inc(Math.max(1, failed)),
      }),
    );
    metrics?.auditStats.readFrom(() => audit?.stats());
  }
  const auditLater = (entry: AuditEntry): void => {
    audit?.append(entry).catch((error: unknown) => {
      logger.error({ err: error, event: entry.event }, 'audit record could not be written');
    });
  };
  return { metrics, audit, auditLater };
}

/**
 * The model registry over the configured repository: signed versions (or unsigned where
 * allowed), decrypted in memory when a key is set, each served by the engine its tuning asks for;
 * every load, refusal and unload reaches the metrics and the audit log.
 */
export function createGatewayRegistry(
  config: Readonly<Config>,
  parts: Credentials & Recorders & { readonly stats: InferenceStats; readonly logger: Logger },
): ServingRegistry {
  const { trust, encryptionKey, metrics, stats } = parts;
  const modelLog = parts.logger.child({ component: 'models' });
  const registry = createServingRegistry({
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
      hooksFor: engineHooksFor(metrics, modelLog),
    }),
    onEvent: (event) => {
      // Labels follow the repository: every model and version it lists (refused ones too).
      metrics?.setKnownModels(knownModels(registry.list(), event));
      recordModelEvent(event, metrics, parts.auditLater);
    },
    log: (level, msg, fields) => {
      modelLog[level](fields ?? {}, msg);
    },
  });
  return registry;
}

/** The shared rate-limit and quota store, when `limits.redisUrl` is set; errors fail open. */
export function connectRedis(config: Readonly<Config>, logger: Logger): Redis | undefined {
  if (config.limits.redisUrl === undefined) return undefined;
  const redis = new Redis(config.limits.redisUrl, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
  });
  redis.on('error', (error) => {
    logger.warn({ err: error }, 'rate-limit store (Redis) error; limits fail open');
  });
  return redis;
}

/** The inference path: the policy services (quotas, extraction watch) and the service itself. */
export interface InferencePath {
  readonly policies: PolicyServices;
  readonly inference: InferenceService;
}

/** @throws StartupError when the quota store cannot be opened. */
export async function createInferencePath(
  config: Readonly<Config>,
  parts: Recorders & {
    readonly registry: ServingRegistry;
    readonly stats: InferenceStats;
    readonly redis: Redis | undefined;
    readonly logger: Logger;
  },
): Promise<InferencePath> {
  const inferenceLog = parts.logger.child({ component: 'inference' });
  const log = (level: 'warn' | 'error', msg: string, fields?: object): void => {
    inferenceLog[level](fields ?? {}, msg);
  };
  const policies = await startupStep(() =>
    createPolicyServices({
      stateDir: config.stateDir,
      redis: parts.redis,
      metrics: parts.metrics,
      audit: parts.auditLater,
      log,
    }),
  );
  const inference = createInferenceService({
    registry: parts.registry,
    stats: parts.stats,
    policy: policies.enforcer,
    log,
  });
  return { policies, inference };
}
