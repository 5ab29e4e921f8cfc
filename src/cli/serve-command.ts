import { ConfigError, loadConfig } from '../config/load-config.js';
import { createGateway, type Gateway, StartupError } from '../server.js';
import { type CliCommand, exitCodes, parseCommandArgs } from './cli-io.js';

/**
 * `bastion serve [--config FILE] [--recover-audit]`: starts the gateway and runs until
 * SIGTERM/SIGINT, then shuts down gracefully (after `server.drainDelayMs`; a second signal ends
 * the delay). SIGHUP reloads trusted keys, the JWKS and the repository scan, and never stops the
 * process. Resolves with the exit code once stopped. `--recover-audit` opens an audit log that
 * does not match its head checkpoint (or has a broken tail) by starting a new chain segment whose
 * first record says what was found; it is a flag, not a config key, so it cannot be left on.
 */
export const serveCommand: CliCommand = async (argv, io) => {
  const parsed = parseCommandArgs(
    argv,
    {
      options: {
        config: { type: 'string', short: 'c' },
        'recover-audit': { type: 'boolean' },
      },
      allowPositionals: false,
    },
    '',
    io,
    'bastion serve: ',
  );
  if (parsed === exitCodes.usage) return parsed;
  const configFile = parsed.values.config;
  const recoverAudit = parsed.values['recover-audit'] === true;
  let gateway: Gateway | undefined;
  // SIGHUP's default action kills the process; here it reloads what can change safely. Taken
  // before start-up, so a SIGHUP while the models load does not kill the process either.
  process.on('SIGHUP', () => {
    if (gateway === undefined) return;
    const running = gateway;
    running.logger.info({ signal: 'SIGHUP' }, 'reloading trusted keys, JWKS and the repository');
    void running.reload().then((report) => {
      running.logger.info(report, 'reload done');
    });
  });
  try {
    const { config } = loadConfig({ file: configFile, env: io.env, cwd: io.cwd });
    gateway = await createGateway(config, { env: io.env, recoverAudit });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StartupError) {
      io.stderr(`bastion serve: ${error.message}`);
      return exitCodes.usage;
    }
    throw error;
  }
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) {
        // A second signal: no more waiting for the load balancer; close now (still gracefully).
        gateway.logger.info({ signal }, 'second signal: ending the drain delay');
        gateway.endDrain();
        return;
      }
      stopping = true;
      gateway.logger.info({ signal }, 'shutting down');
      gateway.close().then(
        () => {
          resolve(exitCodes.ok);
        },
        (error: unknown) => {
          gateway.logger.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

  // A promise rejected with nobody listening is a bug, but not a reason to drop every in-flight
  // request and the audit tail with it: log it loudly and keep serving.
  process.on('unhandledRejection', (reason) => {
    gateway.logger.error({ err: reason }, 'unhandled promise rejection (bug): still serving');
  });
  try {
    await gateway.listen();
  } catch (error) {
    gateway.logger.error({ err: error }, 'start-up failed');
    await gateway.close();
    io.stderr(`bastion serve: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  return stopped;
};
