/**
 * The load generator, in its own process so that it never shares an event loop with a server or
 * with the probes: the parent sends a {@link LoadJob} over IPC, this runs autocannon and answers
 * with a {@link LoadResult}. Latencies are kept per response (autocannon's histogram rounds to
 * whole milliseconds, too coarse for sub-millisecond answers).
 */
import { createRequire } from 'node:module';
import type { LoadJob, LoadMessage, LoadResult } from './bench-protocol.js';
import { summarize } from './stats.js';

interface AutocannonResult {
  readonly duration: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

interface AutocannonInstance {
  on(
    event: 'response',
    listener: (client: unknown, status: number, bytes: number, ms: number) => void,
  ): void;
}

type Autocannon = (
  options: {
    url: string;
    method: 'POST' | 'GET';
    headers: Record<string, string>;
    body?: string;
    connections: number;
    duration: number;
    timeout: number;
  },
  done: (error: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

// autocannon ships no type declarations: load it through require and describe what we use.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

function run(job: LoadJob): Promise<LoadResult> {
  const latencies: number[] = [];
  let ok = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: job.url,
        method: job.body === undefined ? 'GET' : 'POST',
        headers: job.headers,
        ...(job.body === undefined ? {} : { body: job.body }),
        connections: job.connections,
        duration: job.durationSec,
        timeout: 30,
      },
      (error, result) => {
        if (error !== null) {
          reject(error);
          return;
        }
        resolve({
          requests: ok,
          durationSec: result.duration,
          perSec: ok / result.duration,
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          latency: summarize(latencies),
        });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) {
        ok += 1;
        latencies.push(ms);
      }
    });
  });
}

process.on('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send?.({ type: 'result', result } satisfies LoadMessage),
    (error: unknown) =>
      process.send?.({
        type: 'error',
        message: error instanceof Error ? error.message : String(error),
      } satisfies LoadMessage),
  );
});
process.send?.({ type: 'ready' } satisfies LoadMessage);
process.on('disconnect', () => {
  process.exit(0);
});
