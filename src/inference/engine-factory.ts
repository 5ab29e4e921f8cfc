import type { ModelTuning } from '../config/config-schema.js';
import { createBatchingEngine, isBatchableSignature } from './batching-engine.js';
import type { ExternalDataFile, ModelEngine, SessionSettings } from './engine.js';
import type { EngineHooks } from './engine-stats.js';
import { createInlineEngine } from './inline-engine.js';
import { createWorkerEngine } from './worker-engine.js';

/** Which model version an engine serves. */
export interface EngineTarget {
  readonly model: string;
  readonly version: number;
  readonly label: string;
}

/** Options for {@link createEngineFactory}. */
export interface EngineFactoryOptions {
  /** One-line operational messages (provider fallback, worker restarts). */
  readonly log?: (message: string) => void;
  /** Metrics hooks for one model version. */
  readonly hooksFor?: (target: EngineTarget) => EngineHooks;
}

/** The session settings of a model's tuning. */
export function sessionSettingsOf(tuning: ModelTuning): SessionSettings {
  return {
    intraOpThreads: tuning.intraOpThreads,
    interOpThreads: tuning.interOpThreads,
    graphOptimizationLevel: tuning.graphOptimizationLevel,
    executionProviders: tuning.executionProviders,
  };
}

/**
 * Picks the engine a model's tuning asks for: `poolSize: 0` runs inline on the event loop (only
 * for tiny models: ONNX Runtime blocks the calling thread), otherwise a pool of worker threads;
 * `maxBatchSize > 0` adds dynamic batching in front when every input and output is batched along
 * a dynamic first dimension. A model that asks for batching but cannot be batched runs unbatched,
 * with one log line.
 */
export function createEngineFactory(options: EngineFactoryOptions = {}) {
  const log = options.log ?? (() => undefined);
  return async (
    bytes: Uint8Array,
    tuning: ModelTuning,
    target: EngineTarget,
    externalData: readonly ExternalDataFile[] = [],
  ): Promise<ModelEngine> => {
    const hooks = options.hooksFor?.(target) ?? {};
    const settings = { ...sessionSettingsOf(tuning), externalData };
    const { onBatch: _onBatch, ...engineHooks } = hooks;
    const { onQueueWait: _onQueueWait, ...workerHooks } = engineHooks;
    const batching = tuning.maxBatchSize > 0;
    const inner =
      tuning.poolSize === 0
        ? await createInlineEngine(bytes, settings, target.label, { hooks: engineHooks, log })
        : await createWorkerEngine(bytes, settings, target.label, {
            poolSize: tuning.poolSize,
            maxQueue: tuning.maxQueue,
            // With a batcher in front, it owns the queue-wait measurement.
            hooks: batching ? workerHooks : engineHooks,
            log,
          });
    if (!batching) return inner;
    if (!isBatchableSignature(inner.signature)) {
      log(
        `${target.label}: maxBatchSize is set but not every input and output has a dynamic first dimension; batching is off`,
      );
      return inner;
    }
    return createBatchingEngine(inner, {
      maxBatchSize: tuning.maxBatchSize,
      maxQueueDelayMs: tuning.maxQueueDelayMs,
      preferredBatchSizes: tuning.preferredBatchSizes,
      maxQueue: tuning.maxQueue,
      hooks,
    });
  };
}
