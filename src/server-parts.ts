import { readFile } from 'node:fs/promises';
import type { Config } from './config/config-schema.js';
import { isObservableEngine } from './inference/engine-stats.js';
import type { KnownModel } from './metrics/label-guard.js';
import type { Metrics } from './metrics/metrics.js';
import { parseEncryptionKey } from './models/model-encryption.js';
import type { ServingRegistry } from './serving/serving-registry.js';

/** The models and versions that may appear as metric labels: what the registry lists. */
export function knownModels(
  states: readonly { readonly model: string; readonly version: number }[],
  also?: { readonly model: string; readonly version: number },
): KnownModel[] {
  const versions = new Map<string, Set<string>>();
  for (const { model, version } of also === undefined ? states : [...states, also]) {
    const set = versions.get(model) ?? new Set<string>();
    set.add(String(version));
    versions.set(model, set);
  }
  return [...versions].map(([name, set]) => ({ name, versions: set }));
}

/** Sets `bastion_queue_depth` per model from the ready engines. */
export function sampleQueueDepth(registry: ServingRegistry, metrics: Metrics): void {
  const depth = new Map<string, number>();
  for (const state of registry.list()) {
    if (state.state !== 'ready' || !isObservableEngine(state.engine)) continue;
    depth.set(state.model, (depth.get(state.model) ?? 0) + state.engine.stats().queueDepth);
  }
  for (const [model, value] of depth) metrics.queueDepth.set({ model }, value);
  metrics.modelPlacement.set(
    registry
      .index()
      .flatMap((r) =>
        r.placement === undefined
          ? []
          : [{ model: r.name, version: r.version, placement: r.placement }],
      ),
  );
}

/** The model encryption key from `models.encryptionKeyFile` or `models.encryptionKeyEnv`. */
export async function readEncryptionKey(
  config: Readonly<Config>,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Buffer | undefined> {
  const { encryptionKeyFile, encryptionKeyEnv } = config.models;
  if (encryptionKeyFile !== undefined) {
    return parseEncryptionKey(await readFile(encryptionKeyFile, 'utf8'));
  }
  if (encryptionKeyEnv !== undefined) {
    const value = env[encryptionKeyEnv];
    if (value === undefined || value === '') {
      throw new Error(
        `models.encryptionKeyEnv: environment variable ${encryptionKeyEnv} is not set`,
      );
    }
    return parseEncryptionKey(value);
  }
  return undefined;
}
