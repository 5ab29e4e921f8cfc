import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import type { Config } from './config/config-schema.js';
import { resolveTuningDefaults } from './config/tuning-defaults.js';
import { createEngineFactory } from './inference/engine-factory.js';
import { createInferenceService } from './inference/inference-service.js';
import { createLogger } from './logger.js';
import { createModelRegistry, type ModelRegistry } from './models/model-registry.js';
import { readUnsignedVersion } from './models/version-files.js';
import { bastionVersion } from './version.js';

/** A running (or ready to run) gateway. */
export interface Gateway {
  readonly app: FastifyInstance;
  readonly registry: ModelRegistry;
  readonly logger: Logger;
  /** Loads the models and starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }>;
  /** Graceful stop: refuse new work, finish in-flight requests (bounded), close the models. */
  close(): Promise<void>;
}

/** Options for {@link createGateway}. */
export interface GatewayOptions {
  readonly logger?: Logger;
}

/** Start-up refused: the configuration is unsafe for its mode. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * Wires the gateway from a validated configuration: logger, model registry, inference service,
 * HTTP app. Nothing listens until {@link Gateway.listen}.
 *
 * @throws StartupError when the configuration is not allowed in its mode.
 */
export async function createGateway(
  config: Readonly<Config>,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const logger = options.logger ?? createLogger(config.logging.level);
  const problems = startupProblems(config);
  if (problems.length > 0) throw new StartupError(problems.join('\n'));

  const modelLog = logger.child({ component: 'models' });
  const registry = createModelRegistry({
    repository: config.models.repository,
    defaults: resolveTuningDefaults(config),
    readVersion: readUnsignedVersion,
    createEngine: createEngineFactory({
      log: (msg) => {
        modelLog.warn(msg);
      },
    }),
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
  let shuttingDown = false;
  const app = await buildApp({
    config,
    registry,
    inference,
    logger,
    version: bastionVersion,
    isShuttingDown: () => shuttingDown,
  });

  let closed: Promise<void> | undefined;
  return {
    app,
    registry,
    logger,
    async listen() {
      await registry.loadAll();
      await app.listen({ host: config.server.host, port: config.server.port });
      const address = app.server.address();
      const port =
        typeof address === 'object' && address !== null ? address.port : config.server.port;
      logger.info({ host: config.server.host, port, mode: config.mode }, 'bastion listening');
      return { host: config.server.host, port };
    },
    close() {
      closed ??= (async () => {
        shuttingDown = true;
        const timer = setTimeout(() => {
          logger.warn('shutdown timeout reached; closing remaining connections');
          app.server.closeAllConnections();
        }, config.server.shutdownTimeoutMs);
        timer.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          await registry.close();
        }
        logger.info('bastion stopped');
      })();
      return closed;
    },
  };
}

/** What the configuration's mode forbids, each with the fix. */
export function startupProblems(config: Readonly<Config>): string[] {
  const problems: string[] = [];
  if (config.mode === 'production' && config.models.allowUnsigned) {
    problems.push(
      'models.allowUnsigned is refused in production: sign the models (npx bastion sign) and list the publisher key in models.trustedKeys',
    );
  }
  return problems;
}
