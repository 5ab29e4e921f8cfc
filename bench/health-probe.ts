/**
 * The event-loop probe: GET /v2/health/live at a steady pace from a process that does nothing
 * else, timing each answer.
 */
import { Agent, get } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LatencySummary } from './bench-protocol.js';
import { summarize } from './stats.js';

function once(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const request = get(url, { agent }, (response) => {
      response.resume();
      response.on('end', () => {
        if (response.statusCode === 200) resolve(performance.now() - started);
        else reject(new Error(`health answered ${response.statusCode}`));
      });
    });
    request.on('error', reject);
  });
}

/** Probes `url` every `intervalMs` for `seconds`; latencies in ms. */
export async function probeHealth(
  url: string,
  seconds: number,
  intervalMs = 10,
): Promise<LatencySummary> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  const until = performance.now() + seconds * 1000;
  try {
    while (performance.now() < until) {
      latencies.push(await once(agent, url));
      await sleep(intervalMs);
    }
  } finally {
    agent.destroy();
  }
  return summarize(latencies);
}
