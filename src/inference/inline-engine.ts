/**
 * The inline engine: one ONNX Runtime session on the calling thread. onnxruntime-node runs a
 * session synchronously, so every inference blocks the event loop for its whole duration; use
 * this only for tiny models, tests and comparison. Production models belong in the worker engine.
 */
import { BastionError, isBastionError } from '../errors.js';
import { abortError, shuttingDownError } from './abort-error.js';
import type { HostTensor, RunOptions, SessionSettings } from './engine.js';
import type { EngineHooks, EngineStats, ObservableEngine } from './engine-stats.js';
import { createOrtSession, runOrtSession } from './ort-session.js';
import { failureMessage } from './worker-engine.js';

/** Options for {@link createInlineEngine}. */
export interface InlineEngineOptions {
  /** Metrics callbacks (`onInference` is the one this engine calls). */
  readonly hooks?: EngineHooks;
  /** One-line operational messages (for example the CUDA → CPU fallback). Default: silent. */
  readonly log?: (message: string) => void;
}

/**
 * Creates an inline engine. Assignable to `EngineFactory` as is; bind `options` with a closure.
 *
 * @throws BastionError `INFERENCE_FAILED` when ONNX Runtime cannot load the model.
 */
export async function createInlineEngine(
  modelBytes: Uint8Array,
  settings: SessionSettings,
  label: string,
  options: InlineEngineOptions = {},
): Promise<ObservableEngine> {
  const hooks = options.hooks ?? {};
  const log = options.log ?? (() => undefined);
  let loaded;
  try {
    loaded = await createOrtSession(modelBytes, settings, (message) => {
      log(`${label}: ${message}`);
    });
  } catch (error) {
    throw new BastionError('INFERENCE_FAILED', `model ${label} could not be loaded`, {
      cause: error,
    });
  }
  const { session, signature } = loaded;
  let inFlight = 0;
  let runs = 0;
  let closing: Promise<void> | undefined;
  let drained: (() => void) | undefined;

  async function run(
    feeds: Readonly<Record<string, HostTensor>>,
    outputs: readonly string[],
    runOptions: RunOptions = {},
  ): Promise<Record<string, HostTensor>> {
    if (closing !== undefined) throw shuttingDownError(1);
    const { signal } = runOptions;
    if (signal?.aborted === true) throw abortError(signal);
    inFlight += 1;
    runs += 1;
    try {
      const result = await runOrtSession(session, feeds, outputs);
      hooks.onInference?.(result.inferenceMs);
      return result.outputs;
    } catch (error) {
      if (isBastionError(error)) throw error;
      throw new BastionError('INPUT_REJECTED_BY_MODEL', failureMessage('INPUT_REJECTED_BY_MODEL'), {
        cause: error,
      });
    } finally {
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    }
  }

  function stats(): EngineStats {
    return { queueDepth: 0, inFlight, concurrency: 1, runs, restarts: 0 };
  }

  async function shutDown(): Promise<void> {
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
      });
    }
    await session.release();
  }

  function close(): Promise<void> {
    closing ??= shutDown();
    return closing;
  }

  // Every run executes on the calling thread (session.run is synchronous).
  const runsInline = (): boolean => true;
  const engine: ObservableEngine = { signature, run, runsInline, stats, close };
  return engine;
}
