import type { ModelTuning } from '../config/config-schema.js';
import { createBatchingEngine, isBatchableSignature } from './batching-engine.js';
import type { ExternalDataFile } from '../models/external-data.js';
import type { ModelEngine, SessionSettings } from './engine.js';
import type { EngineHooks } from './engine-stats.js';
import { type InferenceStats, withStatsHooks } from './inference-stats.js';
import { createInlineEngine } from './inline-engine.js';
import { createAutoPlacedEngine, withPlacement } from './placement.js';
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
  /** Statistics collector (Triton's statistics extension) fed by every engine's hooks. */
  readonly stats?: InferenceStats;
  /** `poolSize: auto`: the longest an inline run may block the event loop, ms. Default 1. */
  readonly inlineBoundMs?: number;
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
 * Picks the engine a model's tuning asks for: `poolSize: auto` (the default) measures the model
 * and runs it inline when it is provably tiny, in one worker otherwise (see `placement.ts`);
 * `poolSize: 0` always runs inline on the event loop (ONNX Runtime blocks the calling thread),
 * `poolSize: N` always in a pool of N worker threads;
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
    const metricsHooks = options.hooksFor?.(target) ?? {};
    const hooks =
      options.stats === undefined
        ? metricsHooks
        : withStatsHooks(options.stats, target.model, target.version, metricsHooks);
    const settings = { ...sessionSettingsOf(tuning), externalData };
    const { onBatch: _onBatch, onBatchRun: _onBatchRun, ...engineHooks } = hooks;
    const { onQueueWait: _onQueueWait, ...workerHooks } = engineHooks;
    const batching = tuning.maxBatchSize > 0;
    const pool = (poolSize: number) => () =>
      createWorkerEngine(bytes, settings, target.label, {
        poolSize,
        maxQueue: tuning.maxQueue,
        // With a batcher in front, it owns the queue-wait measurement.
        hooks: batching ? workerHooks : engineHooks,
        log,
      });
    const inner =
      tuning.poolSize === 'auto'
        ? await createAutoPlacedEngine(bytes, settings, target.label, {
            createPool: pool(1),
            hooks: engineHooks,
            log,
            ...(options.inlineBoundMs === undefined
              ? {}
              : { inlineBoundMs: options.inlineBoundMs }),
          })
        : tuning.poolSize === 0
          ? withPlacement(
              await createInlineEngine(bytes, settings, target.label, { hooks: engineHooks, log }),
              'inline',
            )
          : withPlacement(await pool(tuning.poolSize)(), 'pool');
    if (!batching) return inner;
    if (!isBatchableSignature(inner.signature)) {
      log(
        `${target.label}: maxBatchSize is set but not every input and output has a dynamic first dimension; batching is off`,
      );
      return inner;
    }
    const batcher = createBatchingEngine(inner, {
      maxBatchSize: tuning.maxBatchSize,
      maxQueueDelayMs: tuning.maxQueueDelayMs,
      preferredBatchSizes: tuning.preferredBatchSizes,
      maxQueue: tuning.maxQueue,
      hooks,
    });
    return Object.assign(batcher, {
      placement: () => inner.placement(),
      placementDetails: () => inner.placementDetails(),
    });
  };
}
