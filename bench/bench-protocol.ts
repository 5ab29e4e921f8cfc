/** Messages between the bench orchestrator (`run.ts`) and its child processes. */

/** Percentiles of one set of latencies, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** One autocannon run, as the orchestrator asks for it. */
export interface LoadJob {
  readonly url: string;
  readonly headers: Record<string, string>;
  /** POST this body; GET when absent. */
  readonly body?: string;
  readonly connections: number;
  readonly durationSec: number;
}

/** What one autocannon run measured (2xx answers only in `requests` and `latency`). */
export interface LoadResult {
  readonly requests: number;
  readonly durationSec: number;
  readonly perSec: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly latency: LatencySummary;
  /** Set by the orchestrator: the server process's CPU time per answered request, µs. */
  readonly serverCpuPerRequest?: number;
  /** Set by the orchestrator: the server's main thread's CPU time per answered request, µs. */
  readonly serverMainCpuPerRequest?: number;
  /** Set by the orchestrator: audit records per fdatasync during the run (Bastion with audit). */
  readonly auditRecordsPerFsync?: number;
}

/** Load worker → orchestrator. */
export type LoadMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly result: LoadResult }
  | { readonly type: 'error'; readonly message: string };

/** Which server a server child runs. */
export interface ServerSpec {
  /** `floor`: the naive server behind Bastion's edge plugins (`naive-server.ts`). */
  readonly kind: 'naive' | 'floor' | 'bastion';
  /** A label for logs and results. */
  readonly name: string;
  /** Model repository (bastion) or folder of `<model>.onnx` files (naive). */
  readonly repository: string;
  /** Bastion only: the YAML configuration text. */
  readonly configYaml?: string;
  /** Bastion only: the folder the configuration's relative paths resolve against. */
  readonly configDir?: string;
}

/** Server child → orchestrator. */
export type ServerMessage =
  | {
      readonly type: 'listening';
      readonly port: number;
      readonly token?: string;
      /** Bastion's metrics listener, when metrics are on. */
      readonly metricsPort?: number;
    }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'closed' }
  | { readonly type: 'profiled'; readonly file: string }
  | {
      readonly type: 'cpu';
      readonly micros: number;
      /** The main thread's own CPU time (Linux schedstat); absent where it cannot be read. */
      readonly mainMicros?: number;
      readonly rssBytes?: number;
    };

/** Orchestrator → server child. */
export type ServerCommand =
  | { readonly type: 'close' }
  /** Start the V8 CPU profiler on the server's main thread. */
  | { readonly type: 'profile-start' }
  /** Stop it and write the `.cpuprofile` to `file`. */
  | { readonly type: 'profile-stop'; readonly file: string }
  /** Report the process's CPU time so far (user + system, every thread). */
  | { readonly type: 'cpu' };
