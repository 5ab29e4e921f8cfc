/** Starting and talking to the bench's child processes (servers and the load generator). */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import type {
  LoadJob,
  LoadMessage,
  LoadResult,
  ServerCommand,
  ServerMessage,
  ServerSpec,
} from './bench-protocol.js';

const tsx = import.meta.resolve('tsx');

function forkTs(entry: string, args: readonly string[], execArgv: readonly string[]): ChildProcess {
  return fork(new URL(entry, import.meta.url), [...args], {
    execArgv: ['--import', tsx, ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function nextMessage<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: T): void => {
      cleanup();
      resolve(message);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${what} exited (code ${code}) before answering`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Audit counters of a Bastion server. */
export interface AuditCounts {
  readonly records: number;
  readonly fsyncs: number;
}

/** Records per fsync between two {@link AuditCounts}; NaN when either is missing or none synced. */
export function recordsPerFsync(
  before: AuditCounts | undefined,
  after: AuditCounts | undefined,
): number {
  if (before === undefined || after === undefined) return NaN;
  const fsyncs = after.fsyncs - before.fsyncs;
  return fsyncs <= 0 ? NaN : (after.records - before.records) / fsyncs;
}

/** The value of an unlabelled sample `name` in a Prometheus text scrape. */
export function scrapeValue(text: string, name: string): number | undefined {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** A server child that is listening. */
export interface RunningServer {
  readonly name: string;
  readonly url: string;
  /** A valid bearer token (Bastion only). */
  readonly token: string | undefined;
  readonly pid: number | undefined;
  /** CPU microseconds (user + system, all threads) the server process has used so far. */
  cpuMicros(): Promise<number>;
  /** The same, with the main thread's own CPU microseconds (NaN where Linux cannot say). */
  cpuTimes(): Promise<{ readonly micros: number; readonly mainMicros: number }>;
  /**
   * Audit records written and fdatasync calls so far, from Bastion's metrics listener
   * (`bastion_audit_records_total`, `bastion_audit_fsyncs_total`); undefined without one.
   */
  auditCounts(): Promise<AuditCounts | undefined>;
  /** A scrape of Bastion's metrics listener; undefined without one. */
  metricsText(): Promise<string | undefined>;
  /** The server process's resident set size, bytes. */
  rssBytes(): Promise<number>;
  /** Profiles the server's main thread while `during` runs; writes the `.cpuprofile` to `file`. */
  profile<T>(file: string, during: () => Promise<T>): Promise<T>;
  /** Closes the server and waits for its process to exit. */
  close(): Promise<void>;
}

/** Starts one server in its own process; `execArgv` adds Node flags. */
export async function startServer(
  spec: ServerSpec,
  execArgv: readonly string[] = [],
): Promise<RunningServer> {
  const child = forkTs('./server-main.ts', [JSON.stringify(spec)], execArgv);
  const message = await nextMessage<ServerMessage>(child, `server ${spec.name}`);
  if (message.type !== 'listening') {
    child.kill();
    throw new Error(
      `server ${spec.name} failed to start: ${message.type === 'error' ? message.message : message.type}`,
    );
  }
  const exited = once(child, 'exit');
  const { metricsPort } = message;
  const scrape = async (): Promise<string | undefined> =>
    metricsPort === undefined
      ? undefined
      : (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const cpuTimes = async () => {
    const answer = nextMessage<ServerMessage>(child, `server ${spec.name}`);
    child.send({ type: 'cpu' } satisfies ServerCommand);
    const message = await answer;
    if (message.type !== 'cpu') throw new Error(`server ${spec.name}: no CPU figure`);
    return { micros: message.micros, mainMicros: message.mainMicros ?? NaN };
  };
  return {
    name: spec.name,
    url: `http://127.0.0.1:${message.port}`,
    token: message.token,
    pid: child.pid,
    cpuTimes,
    async cpuMicros() {
      return (await cpuTimes()).micros;
    },
    metricsText: scrape,
    async auditCounts() {
      const text = await scrape();
      if (text === undefined) return undefined;
      const records = scrapeValue(text, 'bastion_audit_records_total');
      const fsyncs = scrapeValue(text, 'bastion_audit_fsyncs_total');
      return records === undefined || fsyncs === undefined ? undefined : { records, fsyncs };
    },
    async rssBytes() {
      const answer = nextMessage<ServerMessage>(child, `server ${spec.name}`);
      child.send({ type: 'cpu' } satisfies ServerCommand);
      const message = await answer;
      if (message.type !== 'cpu' || message.rssBytes === undefined) {
        throw new Error(`server ${spec.name}: no RSS figure`);
      }
      return message.rssBytes;
    },
    async profile(file, during) {
      child.send({ type: 'profile-start' } satisfies ServerCommand);
      const result = await during();
      const written = nextMessage<ServerMessage>(child, `server ${spec.name}`);
      child.send({ type: 'profile-stop', file } satisfies ServerCommand);
      const message = await written;
      if (message.type !== 'profiled') throw new Error(`server ${spec.name}: no profile written`);
      return result;
    },
    async close() {
      if (child.exitCode === null) {
        child.send({ type: 'close' } satisfies ServerCommand);
        await exited;
      }
    },
  };
}

/** The load generator child. */
export interface LoadGenerator {
  run(job: LoadJob): Promise<LoadResult>;
  close(): Promise<void>;
}

/** Starts the load generator process. */
export async function startLoadGenerator(): Promise<LoadGenerator> {
  const child = forkTs('./load-worker.ts', [], []);
  const ready = await nextMessage<LoadMessage>(child, 'load generator');
  if (ready.type !== 'ready') throw new Error('load generator did not start');
  const exited = once(child, 'exit');
  return {
    async run(job) {
      const answer = nextMessage<LoadMessage>(child, 'load generator');
      child.send(job);
      const message = await answer;
      if (message.type === 'result') return message.result;
      throw new Error(
        `load generator: ${message.type === 'error' ? message.message : 'no result'}`,
      );
    },
    async close() {
      child.disconnect();
      await exited;
    },
  };
}
