import type { ModelTuning } from '../config/config-schema.js';
import type { ModelEngine, SessionSettings } from './engine.js';
import { createInlineEngine } from './inline-engine.js';

/** Options for {@link createEngineFactory}. */
export interface EngineFactoryOptions {
  readonly log?: (message: string) => void;
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

/** Picks the engine a model's tuning asks for. */
export function createEngineFactory(options: EngineFactoryOptions = {}) {
  return async (bytes: Uint8Array, tuning: ModelTuning, label: string): Promise<ModelEngine> => {
    const log = options.log;
    return createInlineEngine(bytes, sessionSettingsOf(tuning), label, log ? { log } : {});
  };
}
