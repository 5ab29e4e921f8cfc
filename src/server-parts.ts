import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { AuditEntry } from './audit/audit-record.js';
import type { Config } from './config/config-schema.js';
import type { EngineTarget } from './inference/engine-factory.js';
import { type EngineHooks, isObservableEngine } from './inference/engine-stats.js';
import type { KnownModel } from './metrics/label-guard.js';
import type { Metrics } from './metrics/metrics.js';
import { parseEncryptionKey } from './models/model-encryption.js';
import type { ModelEvent } from './models/model-state.js';
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

/**
 * The engine hooks of one model version: its inference time, queue wait, batch sizes and worker
 * restarts as metrics, and a log line for every restart (with metrics off, only the line).
 */
export function engineHooksFor(
  metrics: Metrics | undefined,
  modelLog: Logger,
): (target: EngineTarget) => EngineHooks {
  const onRestartLogged = (label: string, reason: string): void => {
    modelLog.error({ label, reason }, 'model worker crashed and was replaced');
  };
  if (metrics === undefined) return () => ({ onWorkerRestart: onRestartLogged });
  return ({ model, version }) => ({
    onInference: (ms) => {
      metrics.inferenceDuration.observe({ model, version }, ms / 1000);
    },
    onQueueWait: (ms) => {
      metrics.queueWait.observe({ model }, ms / 1000);
    },
    onBatch: (_requests, rows) => {
      metrics.batchSize.observe({ model }, rows);
    },
    onWorkerRestart: (label, reason) => {
      metrics.workerRestarts.inc({ model });
      onRestartLogged(label, reason);
    },
  });
}

/**
 * A model event as metrics (`bastion_model_loads_total`, `bastion_model_refusals_total` by the
 * reason's leading code) and an audit record (`model.load`, `model.refused`, `model.unload`).
 */
export function recordModelEvent(
  event: ModelEvent,
  metrics: Metrics | undefined,
  audit: (entry: AuditEntry) => void,
): void {
  const { model, version } = event;
  switch (event.type) {
    case 'load':
      metrics?.modelLoads.inc({ model, version, result: 'loaded' });
      audit({
        event: 'model.load',
        outcome: 'allowed',
        model,
        version,
        reason: `signed by ${event.signedBy ?? 'nobody (allowUnsigned)'}; sha256 ${event.modelSha256}`,
      });
      return;
    case 'refused':
      metrics?.modelLoads.inc({ model, version, result: 'refused' });
      metrics?.modelRefusals.inc({ model, reason: event.code ?? 'other' });
      audit({ event: 'model.refused', outcome: 'denied', model, version, reason: event.reason });
      return;
    case 'unload':
      audit({ event: 'model.unload', outcome: 'allowed', model, version });
      return;
  }
}
