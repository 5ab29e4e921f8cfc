/**
 * The worker engine: a pool of worker threads per model version, each with its own ONNX Runtime
 * session, fed from one bounded FIFO queue. Because onnxruntime-node runs a session synchronously,
 * this is what keeps the event loop free while a model computes.
 *
 * Hand-rolled on node:worker_threads rather than piscina: every worker needs a per-model
 * initialisation (its own session from the shared bytes) before it takes work, the engine must
 * know exactly which request each worker holds (so a crash fails only those and nothing is
 * retried behind the caller's back), and the queue must drop aborted work and reject with our
 * error codes. Piscina would add a second queue, hide the worker ↔ task mapping and post one
 * message per task, where this engine posts one per worker per event-loop turn.
 */
import type { SessionSettings } from './engine.js';
import type { WorkerEngine, WorkerEngineOptions } from './worker-job.js';
import { WorkerPool } from './worker-pool.js';

export { failureMessage } from './worker-job.js';

export type { HandoffStats, WorkerEngine, WorkerEngineOptions } from './worker-job.js';

/**
 * Creates a worker engine: starts `poolSize` workers (the first alone, so a CUDA fallback is
 * decided and logged once) and resolves when all have loaded the model. Assignable to
 * `EngineFactory`; bind `options` with a closure.
 *
 * Requests queued in one event-loop turn go to the idle workers together, one message per
 * worker, as many per message as fit in `messageBudgetMs` of measured run time (one until the
 * first run is measured); their answers come back the same way.
 *
 * `run` rejects with `OVERLOADED` (queue full), `SHUTTING_DOWN` (after `close`), the abort error
 * of `RunOptions.signal` (see `abortError`; cancelled work is dropped before it runs, in the queue
 * or in a worker's batch), or `INFERENCE_FAILED` (the model failed, or its worker crashed while
 * holding the request).
 *
 * @throws BastionError `INFERENCE_FAILED` when the model cannot be loaded.
 */
export async function createWorkerEngine(
  modelBytes: Uint8Array,
  settings: SessionSettings,
  label: string,
  options: WorkerEngineOptions = {},
): Promise<WorkerEngine> {
  const pool = new WorkerPool(modelBytes, settings, label, options);
  const signature = await pool.start();
  // The engine is the pool's public face only (worker-pool.ts): its slot callbacks stay inside.
  return {
    signature,
    run: (feeds, outputs, runOptions) => pool.run(feeds, outputs, runOptions),
    stats: () => pool.stats(),
    handoffStats: () => pool.handoffStats(),
    close: () => pool.close(),
    crashNextRunForTesting: (mode) => {
      pool.crashNextRunForTesting(mode);
    },
  };
}
