import type { Config, ModelTuning } from './config-schema.js';

/** Built-in tuning, used where neither `models.defaults` nor a model's config.yaml says more. */
export const builtInTuning: ModelTuning = {
  poolSize: 'auto',
  intraOpThreads: 1,
  interOpThreads: 1,
  graphOptimizationLevel: 'all',
  executionProviders: ['cpu'],
  maxQueue: 1024,
  timeoutMs: 30_000,
  maxElements: 4_194_304,
  maxBatchSize: 0,
  maxQueueDelayMs: 2,
  preferredBatchSizes: [],
  allowExternalData: false,
};

/** `models.defaults` merged over the built-in tuning. */
export function resolveTuningDefaults(config: Readonly<Config>): ModelTuning {
  const set = Object.fromEntries(
    Object.entries(config.models.defaults).filter(([, v]) => v !== undefined),
  ) as Partial<ModelTuning>;
  return { ...builtInTuning, ...set };
}
