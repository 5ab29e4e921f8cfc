/**
 * The gateway's listeners and its life after boot: open the listeners, load the models, start
 * the background work (metrics sampler, repository poller, audit witness); on close, drain, stop
 * taking work, let in-flight requests finish, then close everything in order.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AuditEntry } from './audit/audit-record.js';
import type { AuditLog } from './audit/audit-log.js';
import { startAuditWitness } from './audit/audit-setup.js';
import type { Config } from './config/config-schema.js';
import type { Metrics } from './metrics/metrics.js';
import { createMetricsServer, type MetricsServer } from './metrics/metrics-server.js';
import { createRepositoryPoller, type RepositoryPoller } from './models/repository-poller.js';
import type { PolicyServices } from './serving/policy-setup.js';
import type { ServingRegistry } from './serving/serving-registry.js';
import { knownModels, sampleQueueDepth } from './server-parts.js';
import { bastionVersion } from './version.js';

/** Where the gateway is in its life, as readiness and the app's closing hook see it. */
export interface RunState {
  /** Between the start of a close and the end of the drain delay: not ready, still serving. */
  readonly draining: boolean;
  /** After the drain: new work is refused. */
  readonly shuttingDown: boolean;
  /** True when `/v2/health/ready` answers 200 (see docs/operations.md, "Probes"). */
  readonly isReady: () => boolean;
  readonly beginDrain: () => void;
  readonly beginShutdown: () => void;
}

/**
 * Creates the run state. Ready means: not draining or shutting down, the first load has
 * finished, the audit log is writable when it fails closed, and some version is ready.
 */
export function createRunState(
  config: Readonly<Config>,
  registry: ServingRegistry,
  audit: AuditLog | undefined,
): RunState {
  let draining = false;
  let shuttingDown = false;
  return {
    get draining() {
      return draining;
    },
    get shuttingDown() {
      return shuttingDown;
    },
    isReady: () =>
      !draining &&
      !shuttingDown &&
      registry.started &&
      (config.audit.failClosed !== true || audit?.healthy !== false) &&
      registry.list().some((s) => s.state === 'ready'),
    beginDrain() {
      draining = true;
    },
    beginShutdown() {
      shuttingDown = true;
    },
  };
}

/** What the listeners and the close sequence work on. */
export interface LifecycleParts {
  readonly config: Readonly<Config>;
  readonly logger: Logger;
  readonly app: FastifyInstance;
  readonly registry: ServingRegistry;
  readonly metrics: Metrics | undefined;
  readonly audit: AuditLog | undefined;
  readonly auditLater: (entry: AuditEntry) => void;
  readonly policies: PolicyServices;
  readonly redis: Redis | undefined;
  readonly run: RunState;
}

/** The bound addresses {@link GatewayLifecycle.listen} resolves with. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number | undefined;
}

/** Listen and close, as the gateway exposes them. */
export interface GatewayLifecycle {
  readonly listen: () => Promise<ListenAddress>;
  readonly close: () => Promise<void>;
  /** Ends the drain delay of a close in progress now. */
  readonly endDrain: () => void;
}

/** Creates the listen/close pair over the booted parts. */
export function createGatewayLifecycle(parts: LifecycleParts): GatewayLifecycle {
  const { config, logger, app, registry, run } = parts;
  let metricsServer: MetricsServer | undefined;
  let background: Background | undefined;
  let loading: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  let endDrain: (() => void) | undefined;

  async function listen(): Promise<ListenAddress> {
    metricsServer = await createManagementListener(parts);
    // Listen first: probes answer (ready 503) while the models load, however long that takes.
    await app.listen({ host: config.server.host, port: config.server.port });
    const address = app.server.address();
    const port =
      typeof address === 'object' && address !== null ? address.port : config.server.port;
    const metricsPort = (await metricsServer?.listen())?.port;
    const where = { host: config.server.host, port, metricsPort };
    logger.info({ ...where, mode: config.mode }, 'listeners open; loading models');
    loading = registry.loadAll();
    await loading;
    // Stopped while the models loaded: close() owns the rest; nothing more starts.
    if (run.draining) return where;
    background = startBackground(parts);
    const ready = registry.list().filter((s) => s.state === 'ready').length;
    logger.info({ ...where, mode: config.mode, readyVersions: ready }, 'bastion listening');
    if (ready === 0) logger.error('no model version is ready: /v2/health/ready answers 503');
    return where;
  }

  /** Waits `server.drainDelayMs` (ready answers 503 meanwhile); {@link endDrain} cuts it short. */
  async function drain(): Promise<void> {
    run.beginDrain();
    if (config.server.drainDelayMs <= 0 || !app.server.listening) return;
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

  async function stop(): Promise<void> {
    await drain();
    run.beginShutdown();
    // The first load finishes before the registry closes (its engines would leak otherwise).
    await loading?.catch(() => undefined);
    // No new versions load while the gateway stops; a scan in progress finishes first.
    await background?.stopPoller();
    const timer = setTimeout(() => {
      logger.warn('shutdown timeout reached; closing remaining connections');
      app.server.closeAllConnections();
    }, config.server.shutdownTimeoutMs);
    timer.unref();
    try {
      await app.close();
    } finally {
      clearTimeout(timer);
      background?.stopSampler();
      await closeServices(parts, metricsServer, background);
    }
    logger.info('bastion stopped');
  }

  return {
    listen,
    close() {
      closed ??= stop();
      return closed;
    },
    endDrain() {
      endDrain?.();
    },
  };
}

/** The management listener (metrics and probes), when metrics are on; not listening yet. */
async function createManagementListener(parts: LifecycleParts): Promise<MetricsServer | undefined> {
  const { config, metrics } = parts;
  if (metrics === undefined) return undefined;
  const bearerToken =
    config.metrics.bearerTokenFile === undefined
      ? undefined
      : (await readFile(config.metrics.bearerTokenFile, 'utf8')).trim();
  return createMetricsServer({
    host: config.metrics.host,
    port: config.metrics.port,
    registry: metrics.registry,
    isReady: parts.run.isReady,
    ...(bearerToken === undefined ? {} : { bearerToken }),
  });
}

/** The work started once the models have loaded, and how to stop each part. */
interface Background {
  /** Stops the repository poller, after a scan in progress. */
  stopPoller(): Promise<void>;
  stopSampler(): void;
  stopWitness(): void;
}

/**
 * Starts what runs once the models have loaded: the queue-depth sampler, the repository poller,
 * the `server.start` audit record and the audit witness.
 */
function startBackground(parts: LifecycleParts): Background {
  const { config, registry, metrics, audit, logger } = parts;
  let sampler: NodeJS.Timeout | undefined;
  if (metrics !== undefined) {
    metrics.setKnownModels(knownModels(registry.list()));
    sampler = setInterval(() => {
      sampleQueueDepth(registry, metrics);
    }, 1000);
    sampler.unref();
  }
  let poller: RepositoryPoller | undefined;
  if (config.models.pollIntervalSec > 0 && !parts.run.shuttingDown) {
    const modelLog = logger.child({ component: 'models' });
    poller = createRepositoryPoller({
      registry,
      intervalMs: config.models.pollIntervalSec * 1000,
      log: (level, msg, fields) => {
        modelLog[level](fields ?? {}, msg);
      },
    });
    poller.start();
  }
  parts.auditLater({
    event: 'server.start',
    outcome: 'allowed',
    reason: `bastion ${bastionVersion}`,
  });
  const stopWitness =
    audit === undefined
      ? undefined
      : startAuditWitness(audit, logger, config.audit.witnessIntervalSec);
  return {
    stopPoller: async () => {
      await poller?.stop();
    },
    stopSampler: () => {
      if (sampler !== undefined) clearInterval(sampler);
    },
    stopWitness: () => {
      stopWitness?.();
    },
  };
}

/** After the app has closed: the registry, the policy stores, the management listener, audit. */
async function closeServices(
  parts: LifecycleParts,
  metricsServer: MetricsServer | undefined,
  background: Background | undefined,
): Promise<void> {
  await parts.registry.close();
  await parts.policies.close();
  await metricsServer?.close();
  if (parts.audit !== undefined) {
    await parts.audit.append({ event: 'server.stop', outcome: 'allowed' }).catch(() => undefined);
    await parts.audit.close();
    background?.stopWitness();
  }
  parts.redis?.disconnect();
}
