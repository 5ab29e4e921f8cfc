/**
 * Baseline (a), the limit: ONNX Runtime's `session.run` called in a loop in this process, with
 * the same session options as Bastion's workers and a fresh `ort.Tensor` per call. No HTTP, no
 * JSON, no thread hop.
 */
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import type { LatencySummary } from './bench-protocol.js';
import { summarize } from './stats.js';

/** Rows per second and per-run latency of one in-process measurement. */
export interface InProcessResult {
  readonly rowsPerSec: number;
  readonly runs: number;
  readonly latency: LatencySummary;
}

const sessions = new Map<Uint8Array, Promise<ort.InferenceSession>>();

function sessionFor(bytes: Uint8Array): Promise<ort.InferenceSession> {
  let session = sessions.get(bytes);
  if (session === undefined) {
    session = ort.InferenceSession.create(bytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    sessions.set(bytes, session);
  }
  return session;
}

/** Runs `bytes` on `rows` × `width` float32 rows for `seconds`. */
export async function measureInProcess(
  bytes: Uint8Array,
  width: number,
  rows: number,
  seconds: number,
): Promise<InProcessResult> {
  const session = await sessionFor(bytes);
  const inputName = session.inputNames[0] ?? 'input';
  const data = Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i * 0.37));
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + seconds * 1000;
  let sink = 0;
  while (performance.now() < until) {
    const t0 = performance.now();
    const result = await session.run({
      [inputName]: new ort.Tensor('float32', data, [rows, width]),
    });
    for (const tensor of Object.values(result))
      sink += Number((tensor.data as Float32Array | BigInt64Array)[0] ?? 0); // int64 outputs (iris's label) are BigInt
    latencies.push(performance.now() - t0);
  }
  const elapsed = (performance.now() - started) / 1000;
  if (Number.isNaN(sink)) throw new Error('the model produced NaN');
  return {
    rowsPerSec: (latencies.length * rows) / elapsed,
    runs: latencies.length,
    latency: summarize(latencies),
  };
}

/** Mean milliseconds of one run of `rows` rows (after one warm-up run). */
export async function timeOneRun(bytes: Uint8Array, width: number, rows: number): Promise<number> {
  await measureInProcess(bytes, width, rows, 0);
  const result = await measureInProcess(bytes, width, rows, 0.3);
  return result.latency.p50;
}

/** Releases the cached sessions. */
export async function releaseSessions(): Promise<void> {
  for (const session of sessions.values()) await (await session).release();
  sessions.clear();
}
