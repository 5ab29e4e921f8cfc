/**
 * `node --import tsx bench/handoff.ts [seconds]`: main-thread cost of the engine hand-off alone.
 * Keeps C requests in flight (closed loop, C = 1, 8, 32, 128) on the demo `mlp` through the worker
 * engine, the inline engine and ONNX Runtime called directly, and prints per request: main-thread
 * busy time (event-loop utilisation, so worker threads are not counted), whole-process CPU and
 * throughput. The driver's own cost is in every row, so compare rows, not absolute values.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { HostTensor, ModelEngine, SessionSettings } from '../src/inference/engine.js';
import { createInlineEngine } from '../src/inference/inline-engine.js';
import { createWorkerEngine } from '../src/inference/worker-engine.js';

const seconds = Number(process.argv[2] ?? process.env['BENCH_HANDOFF_SEC'] ?? 2);
const settings: SessionSettings = {
  intraOpThreads: 1,
  interOpThreads: 1,
  graphOptimizationLevel: 'all',
  executionProviders: ['cpu'],
};

/** Figures of one closed-loop measurement. */
export interface HandoffFigure {
  readonly engine: string;
  readonly connections: number;
  readonly perSec: number;
  readonly mainUsPerRequest: number;
  readonly cpuUsPerRequest: number;
}

function input(): Record<string, HostTensor> {
  const data = new Float32Array(64);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
  return { input: { type: 'float32', dims: [1, 64], data } };
}

/** Runs `engine` with `connections` requests in flight for `durationSec`. */
export async function closedLoop(
  name: string,
  engine: ModelEngine,
  connections: number,
  durationSec: number,
): Promise<HandoffFigure> {
  const outputs = engine.signature.outputs.map((o) => o.name);
  const until = performance.now() + durationSec * 1000;
  let done = 0;
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        await engine.run(input(), outputs);
        done += 1;
      }
    }),
  );
  const wallMs = performance.now() - started;
  const busy = performance.eventLoopUtilization(elu);
  const used = process.cpuUsage(cpu);
  return {
    engine: name,
    connections,
    perSec: (done / wallMs) * 1000,
    mainUsPerRequest: (busy.active * 1000) / done,
    cpuUsPerRequest: (used.user + used.system) / done,
  };
}

/** Measures every engine at every concurrency, alternating engines within each concurrency. */
export async function measureHandoff(durationSec: number): Promise<HandoffFigure[]> {
  const bytes = await readFile(resolve(import.meta.dirname, '../models/mlp/1/model.onnx'));
  const worker = await createWorkerEngine(bytes, settings, 'mlp:worker', { maxQueue: 1024 });
  const inline = await createInlineEngine(bytes, settings, 'mlp:inline');
  const figures: HandoffFigure[] = [];
  try {
    for (const [name, engine] of [
      ['worker', worker],
      ['inline', inline],
    ] as const)
      await closedLoop(name, engine, 8, 0.5);
    for (const connections of [1, 8, 32, 128]) {
      for (const [name, engine] of [
        ['worker', worker],
        ['inline', inline],
      ] as const) {
        figures.push(await closedLoop(name, engine, connections, durationSec));
      }
    }
  } finally {
    await Promise.all([worker.close(), inline.close()]);
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  for (const f of await measureHandoff(seconds)) {
    process.stdout.write(
      `${f.engine.padEnd(7)} c=${String(f.connections).padEnd(4)} ${f.perSec.toFixed(0).padStart(7)} req/s  main ${f.mainUsPerRequest.toFixed(1).padStart(6)} µs/req  cpu ${f.cpuUsPerRequest.toFixed(1).padStart(6)} µs/req\n`,
    );
  }
}
