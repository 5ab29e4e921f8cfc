/**
 * Entry point of a bench server child: starts the naive baseline or a Bastion gateway as its
 * {@link ServerSpec} (argv[2], JSON) says, reports the port (and a token) over IPC, and closes on
 * command. One server per process, so each gets its own event loop and CPU profile.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { pathToFileURL } from 'node:url';
import type * as LoadConfig from '../src/config/load-config.js';
import type * as Logger from '../src/logger.js';
import type * as Server from '../src/server.js';
import { benchDistEnv } from './build-dist.js';
import type { ServerCommand, ServerMessage, ServerSpec } from './bench-protocol.js';
import { startNaiveServer } from './naive-server.js';

function send(message: ServerMessage): void {
  process.send?.(message);
}

/** A gateway module: from the compiled build the bench made (see build-dist.ts), else the sources. */
async function gatewayModule<T>(path: string): Promise<T> {
  const dist = process.env[benchDistEnv];
  const url =
    dist === undefined || dist === ''
      ? new URL(`../src/${path.replace(/\.js$/, '.ts')}`, import.meta.url).href
      : pathToFileURL(join(dist, path)).href;
  return (await import(url)) as T;
}

async function start(spec: ServerSpec): Promise<() => Promise<void>> {
  if (spec.kind === 'naive' || spec.kind === 'floor') {
    const { app, port } = await startNaiveServer(spec.repository, spec.kind === 'floor');
    send({ type: 'listening', port });
    return () => app.close();
  }
  const { parseConfigText } = await gatewayModule<typeof LoadConfig>('config/load-config.js');
  const { createLogger } = await gatewayModule<typeof Logger>('logger.js');
  const { createGateway } = await gatewayModule<typeof Server>('server.js');
  const configDir = spec.configDir ?? process.cwd();
  const config = parseConfigText(spec.configYaml ?? '', join(configDir, 'config.yaml'));
  // The application log is written as in production (JSON lines, one write per line), to
  // /dev/null rather than a terminal.
  const logger = createLogger(
    config.logging.level,
    pino.destination({ dest: '/dev/null', sync: true }),
  );
  const gateway = await createGateway(config, { logger });
  const { port, metricsPort } = await gateway.listen();
  const token = await gateway.auth.devIssuer?.mint({
    sub: 'bench',
    scopes: ['infer:*'],
    ttlSec: 3600,
  });
  send({
    type: 'listening',
    port,
    ...(token === undefined ? {} : { token }),
    ...(metricsPort === undefined ? {} : { metricsPort }),
  });
  return () => gateway.close();
}

const spec = JSON.parse(process.argv[2] ?? '{}') as ServerSpec;
let stop: (() => Promise<void>) | undefined;
const shutDown = async (): Promise<void> => {
  await stop?.();
  send({ type: 'closed' });
  process.exit(0);
};
// Profiling over IPC covers only the load, not the start-up (module loading, model loads).
const inspector = new Session();
inspector.connect();
async function profileCommand(command: ServerCommand): Promise<void> {
  if (command.type === 'profile-start') {
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
    await inspector.post('Profiler.start');
  } else if (command.type === 'profile-stop') {
    const { profile } = await inspector.post('Profiler.stop');
    await writeFile(command.file, JSON.stringify(profile));
    send({ type: 'profiled', file: command.file });
  }
}
/**
 * The main thread's CPU time so far, µs: the first field of Linux's per-thread schedstat
 * (nanoseconds on the CPU). `process.cpuUsage()` counts every thread (GC helpers, the libuv pool
 * doing the audit log's fdatasync), and the CPU goal is the main thread's.
 */
function mainThreadMicros(): number | undefined {
  try {
    const text = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8');
    return Number(text.split(' ')[0]) / 1000;
  } catch {
    return undefined;
  }
}

process.on('message', (command: ServerCommand) => {
  if (command.type === 'close') void shutDown();
  else if (command.type === 'cpu') {
    const { user, system } = process.cpuUsage();
    const main = mainThreadMicros();
    send({
      type: 'cpu',
      micros: user + system,
      ...(main === undefined ? {} : { mainMicros: main }),
      rssBytes: process.memoryUsage.rss(),
    });
  } else void profileCommand(command);
});
process.on('disconnect', () => {
  void shutDown();
});
try {
  stop = await start(spec);
} catch (error) {
  send({
    type: 'error',
    message: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
  process.exit(1);
}
