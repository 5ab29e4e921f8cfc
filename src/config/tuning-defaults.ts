import type { Config, ModelTuning, ModelTuningOverrides } from './config-schema.js';

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

/** `overrides` (a parsed `config.yaml` or `models.defaults`) merged over `base`; unset keys keep `base`'s. */
export function mergeTuning(base: ModelTuning, overrides: ModelTuningOverrides): ModelTuning {
  const set = Object.fromEntries(
    Object.entries(overrides).filter(([, v]) => v !== undefined),
  ) as Partial<ModelTuning>;
  return { ...base, ...set };
}

/** `models.defaults` merged over the built-in tuning. */
export function resolveTuningDefaults(config: Readonly<Config>): ModelTuning {
  return mergeTuning(builtInTuning, config.models.defaults);
}
