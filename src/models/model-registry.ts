import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ModelTuning } from '../config/config-schema.js';
import { BastionError, type RefusalCode } from '../errors.js';
import type { ExternalDataFile, ModelEngine } from '../inference/engine.js';
import { labelsOf } from '../inference/classification.js';
import { createInferRequestParser } from '../inference/input-schema.js';
import { isPlacedEngine } from '../inference/placement.js';
import { isModelName, readModelTuning, scanModel, scanRepository } from './model-repository.js';
import type { IndexEntry, ReadyVersion, VersionState } from './model-state.js';
import { describeFailure, refusalCodeOf } from './load-failure.js';
import { loadModelPolicy, policyFileName } from '../policy/model-policy.js';
import type { VersionReader } from './version-files.js';
import { createEngineLeases } from './engine-leases.js';
import { selectVersionModel } from './version-model.js';

/** Something that happened to a model version; the audit log and metrics listen. */
export type ModelEvent =
  | {
      readonly type: 'load';
      readonly model: string;
      readonly version: number;
      readonly signedBy: string | undefined;
      readonly modelSha256: string;
    }
  | {
      readonly type: 'refused';
      readonly model: string;
      readonly version: number;
      readonly reason: string;
      /** The refusal's stable code; undefined for a failure without one. */
      readonly code: RefusalCode | undefined;
    }
  | { readonly type: 'unload'; readonly model: string; readonly version: number };

/**
 * Creates the engine for a version from its verified model bytes and the verified external-data
 * files they name (empty for a self-contained model).
 */
export type ModelEngineFactory = (
  modelBytes: Uint8Array,
  tuning: ModelTuning,
  target: { readonly model: string; readonly version: number; readonly label: string },
  externalData: readonly ExternalDataFile[],
) => Promise<ModelEngine>;

/** Dependencies of {@link createModelRegistry}. */
export interface ModelRegistryOptions {
  readonly repository: string;
  readonly defaults: ModelTuning;
  /** Reads (and verifies) a version folder. */
  readonly readVersion: VersionReader;
  readonly createEngine: ModelEngineFactory;
  /** Decrypts `model.onnx.enc` in memory; absent when no key is configured. */
  readonly decrypt?: ((encrypted: Buffer, model: string) => Buffer) | undefined;
  readonly onEvent?: ((event: ModelEvent) => void) | undefined;
  readonly log?:
    ((level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void) | undefined;
}

/** A hold on a ready version: its engine is not closed until every lease is released. */
export interface ModelLease {
  readonly version: ReadyVersion;
  release(): void;
}

/** The set of models and their versions' states. */
export interface ModelRegistry {
  /** Scans the repository and loads every version found. */
  loadAll(): Promise<void>;
  /** The repository folder this registry reads. */
  readonly repository: string;
  /** (Re)loads one model from disk. Ready versions keep serving until their replacement is ready. */
  load(model: string): Promise<readonly VersionState[]>;
  /**
   * Loads the listed versions of `model` that are not known yet or failed, each verified like
   * {@link ModelRegistry.load}; versions that are ready, loading or unloaded are left alone, as
   * are the model's other versions and versions no longer on disk. For the repository poller.
   *
   * @throws BastionError INVALID_MODEL_NAME, or MODEL_NOT_FOUND when the model folder is gone.
   */
  loadVersions(model: string, versions: readonly number[]): Promise<readonly VersionState[]>;
  /** Stops serving a model; its engines close once in-flight requests finish. */
  unload(model: string): Promise<void>;
  /**
   * Takes a lease on `model` at `version` (undefined: the highest ready version).
   *
   * @throws BastionError MODEL_NOT_FOUND, VERSION_NOT_FOUND or MODEL_NOT_READY.
   */
  acquire(model: string, version?: number): ModelLease;
  /** Every version and its state. */
  list(): readonly VersionState[];
  /** The rows of `POST /v2/repository/index`. */
  index(): readonly IndexEntry[];
  /** True when `model` is a name this registry knows (bounds metric labels). */
  has(model: string): boolean;
  /** The tuning of the version an unversioned request would get, if any is ready. */
  tuningOf(model: string): ModelTuning | undefined;
  /** True once `loadAll` has finished. */
  readonly started: boolean;
  /** Closes every engine, after in-flight work. */
  close(): Promise<void>;
}

/** Creates the model registry. Nothing is read until {@link ModelRegistry.loadAll}. */
export function createModelRegistry(options: ModelRegistryOptions): ModelRegistry {
  const models = new Map<string, Map<number, VersionState>>();
  const locks = new Map<string, Promise<unknown>>();
  const log = options.log ?? (() => undefined);
  const leases = createEngineLeases(log);
  let started = false;

  function emit(event: ModelEvent): void {
    try {
      options.onEvent?.(event);
    } catch (error) {
      log('error', 'model event listener failed', { err: error });
    }
  }

  const retire = (engine: ModelEngine): void => {
    leases.retire(engine);
  };

  async function loadVersion(
    model: string,
    version: number,
    modelDir: string,
  ): Promise<VersionState> {
    const label = `${model}/${version}`;
    try {
      const { files, signedBy } = await options.readVersion(join(modelDir, String(version)), model);
      const tuning = await readModelTuning(modelDir, options.defaults);
      const { bytes, externalData } = selectVersionModel(files, model, {
        decrypt: options.decrypt,
        allowExternalData: tuning.allowExternalData,
      });
      const target = { model, version, label };
      const engine = await options.createEngine(bytes, tuning, target, externalData);
      try {
        const parser = createInferRequestParser(engine.signature, {
          maxElements: tuning.maxElements,
        });
        // The policy is part of the signed folder: verified with the model, compiled against it.
        const policy = loadModelPolicy(files.get(policyFileName), engine.signature);
        const ready: ReadyVersion = {
          state: 'ready',
          model,
          version,
          engine,
          signature: engine.signature,
          parser,
          tuning,
          modelSha256: createHash('sha256').update(bytes).digest('hex'),
          signedBy,
          loadedAt: new Date(),
          labels: labelsOf(files),
          ...(policy === undefined ? {} : { policy }),
        };
        leases.track(engine);
        emit({ type: 'load', model, version, signedBy, modelSha256: ready.modelSha256 });
        log('info', 'model version ready', { model, version, signedBy });
        return ready;
      } catch (error) {
        await engine.close();
        throw error;
      }
    } catch (error) {
      const reason = describeFailure(error, options.repository);
      emit({ type: 'refused', model, version, reason, code: refusalCodeOf(error) });
      log('warn', 'model version refused', { model, version, reason });
      return { state: 'failed', model, version, reason };
    }
  }

  /** Loads `versions` into `current`; a ready version keeps serving until its replacement is. */
  async function loadInto(
    model: string,
    modelDir: string,
    current: Map<number, VersionState>,
    versions: readonly number[],
  ): Promise<VersionState[]> {
    for (const version of versions) {
      if (current.get(version)?.state !== 'ready')
        current.set(version, { state: 'loading', model, version });
    }
    const results: VersionState[] = [];
    for (const version of versions) {
      const next = await loadVersion(model, version, modelDir);
      const previous = current.get(version);
      if (next.state === 'ready' || previous?.state !== 'ready') {
        current.set(version, next);
        if (previous?.state === 'ready') retire(previous.engine);
      }
      // A failed reload keeps the previous ready version serving; the failure is still reported.
      results.push(next);
    }
    return results;
  }

  /** The version folders on disk, and the model's state map (created on first sight). */
  async function scanInto(
    model: string,
  ): Promise<{ versions: number[]; current: Map<number, VersionState> }> {
    let versions: number[];
    try {
      ({ versions } = await scanModel(options.repository, model));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Only absence is "not found"; an unreadable folder (EACCES, EIO…) is a server fault.
      if (code === undefined || code === 'ENOENT' || code === 'ENOTDIR') {
        throw new BastionError('MODEL_NOT_FOUND', `model "${model}" is not in the repository`);
      }
      throw new BastionError('INTERNAL', `model "${model}" cannot be read (${code})`, {
        cause: error,
      });
    }
    const current = models.get(model) ?? new Map<number, VersionState>();
    models.set(model, current);
    return { versions, current };
  }

  async function loadNewUnlocked(
    model: string,
    wanted: readonly number[],
  ): Promise<readonly VersionState[]> {
    const { versions, current } = await scanInto(model);
    const todo = versions.filter((v) => {
      const state = current.get(v)?.state;
      return wanted.includes(v) && (state === undefined || state === 'failed');
    });
    return loadInto(model, join(options.repository, model), current, todo);
  }

  async function loadModelUnlocked(model: string): Promise<readonly VersionState[]> {
    const { versions, current } = await scanInto(model);
    const results = await loadInto(model, join(options.repository, model), current, versions);
    for (const [version, state] of current) {
      if (!versions.includes(version)) {
        if (state.state === 'ready') retire(state.engine);
        current.delete(version);
        emit({ type: 'unload', model, version });
      }
    }
    return results;
  }

  function withLock<T>(model: string, work: () => Promise<T>): Promise<T> {
    const previous = locks.get(model) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    locks.set(model, settled);
    void settled.then(() => {
      if (locks.get(model) === settled) locks.delete(model);
    });
    return next;
  }

  const registry: ModelRegistry = {
    get started() {
      return started;
    },

    repository: options.repository,

    async loadAll() {
      const scan = await scanRepository(options.repository);
      for (const skip of scan.skipped) {
        log('warn', 'repository entry skipped', { path: skip.path, reason: skip.reason });
      }
      for (const model of scan.models) {
        await withLock(model.name, () => loadModelUnlocked(model.name));
      }
      started = true;
    },

    load(model) {
      if (!isModelName(model)) {
        return Promise.reject(
          new BastionError('INVALID_MODEL_NAME', `"${model}" is not a valid model name`),
        );
      }
      return withLock(model, () => loadModelUnlocked(model));
    },

    loadVersions(model, versions) {
      if (!isModelName(model)) {
        return Promise.reject(
          new BastionError('INVALID_MODEL_NAME', `"${model}" is not a valid model name`),
        );
      }
      return withLock(model, () => loadNewUnlocked(model, versions));
    },

    unload(model) {
      return withLock(model, () => {
        const current = models.get(model);
        if (current === undefined) {
          return Promise.reject(
            new BastionError('MODEL_NOT_FOUND', `model "${model}" is not loaded`),
          );
        }
        for (const [version, state] of current) {
          if (state.state === 'ready') retire(state.engine);
          current.set(version, { state: 'unloaded', model, version });
          emit({ type: 'unload', model, version });
        }
        return Promise.resolve();
      });
    },

    acquire(model, version) {
      const versions = models.get(model);
      if (versions === undefined) {
        // While the first scan runs, a model not reached yet may still appear: not ready, not 404.
        if (!started) {
          throw new BastionError('MODEL_NOT_READY', 'the gateway is still loading its models', {
            retryAfterSec: 5,
          });
        }
        throw new BastionError('MODEL_NOT_FOUND', `model "${model}" is not served here`);
      }
      let chosen: VersionState | undefined;
      if (version === undefined) {
        for (const state of versions.values()) {
          if (state.state === 'ready' && (chosen === undefined || state.version > chosen.version)) {
            chosen = state;
          }
        }
        if (chosen === undefined) {
          throw new BastionError('MODEL_NOT_READY', `model "${model}" has no ready version`, {
            retryAfterSec: 5,
          });
        }
      } else {
        chosen = versions.get(version);
        if (chosen === undefined) {
          throw new BastionError('VERSION_NOT_FOUND', `model "${model}" has no version ${version}`);
        }
        if (chosen.state !== 'ready') {
          throw new BastionError(
            'MODEL_NOT_READY',
            `model "${model}" version ${version} is not ready (${chosen.state})`,
            { retryAfterSec: 5 },
          );
        }
      }
      const ready = chosen as ReadyVersion;
      return { version: ready, release: leases.hold(ready.engine, `model "${model}"`) };
    },

    list() {
      return [...models.values()].flatMap((v) => [...v.values()]);
    },

    index() {
      return registry.list().map((s) => ({
        name: s.model,
        version: String(s.version),
        state:
          s.state === 'ready'
            ? 'READY'
            : s.state === 'loading'
              ? 'LOADING'
              : s.state === 'failed'
                ? 'UNAVAILABLE'
                : 'UNLOADED',
        reason: s.state === 'failed' ? s.reason : '',
        ...(s.state === 'ready' && isPlacedEngine(s.engine)
          ? { placement: s.engine.placement() }
          : {}),
      }));
    },

    has(model) {
      return models.has(model);
    },

    tuningOf(model) {
      let best: ReadyVersion | undefined;
      for (const state of models.get(model)?.values() ?? []) {
        if (state.state === 'ready' && (best === undefined || state.version > best.version)) {
          best = state;
        }
      }
      return best?.tuning;
    },

    async close() {
      for (const versions of models.values()) {
        for (const state of versions.values()) if (state.state === 'ready') retire(state.engine);
      }
      models.clear();
      await leases.drained();
    },
  };
  return registry;
}
