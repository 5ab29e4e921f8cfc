import type { ModelTuning } from '../config/config-schema.js';
import { BastionError } from '../errors.js';
import { createEngineLeases } from './engine-leases.js';
import { createKeyedLock } from './keyed-lock.js';
import { isModelName, scanModel, scanRepository } from './model-repository.js';
import {
  type IndexEntry,
  indexEntryOf,
  type ModelEvent,
  type ModelLog,
  type ReadyVersion,
  type VersionState,
} from './model-state.js';
import { chooseVersion, highestReady } from './version-choice.js';
import type { VersionReader } from './version-files.js';
import { createVersionLoader } from './version-loader.js';
import type { VersionParts, VersionPreparer } from './version-preparer.js';
import { dropVanished, loadInto, unloadAll, type VersionTable } from './version-swap.js';

/** Dependencies of {@link createModelRegistry}. */
export interface ModelRegistryOptions<P extends VersionParts> {
  readonly repository: string;
  readonly defaults: ModelTuning;
  /** Reads (and verifies) a version folder. */
  readonly readVersion: VersionReader;
  /** Builds what each verified version serves with (`src/serving/` injects engine and parser). */
  readonly preparer: VersionPreparer<P>;
  /** Decrypts `model.onnx.enc` in memory; absent when no key is configured. */
  readonly decrypt?: ((encrypted: Buffer, model: string) => Buffer) | undefined;
  readonly onEvent?: ((event: ModelEvent) => void) | undefined;
  readonly log?: ModelLog | undefined;
}

/** A hold on a ready version: its engine is not closed until every lease is released. */
export interface ModelLease<P extends VersionParts = VersionParts> {
  readonly version: ReadyVersion<P>;
  release(): void;
}

/** The set of models and their versions' states. */
export interface ModelRegistry<P extends VersionParts = VersionParts> {
  /** Scans the repository and loads every version found. */
  loadAll(): Promise<void>;
  /** The repository folder this registry reads. */
  readonly repository: string;
  /** (Re)loads one model from disk. Ready versions keep serving until their replacement is ready. */
  load(model: string): Promise<readonly VersionState<P>[]>;
  /**
   * Loads the listed versions of `model` that are not known yet or failed, each verified like
   * {@link ModelRegistry.load}; versions that are ready, loading or unloaded are left alone, as
   * are the model's other versions and versions no longer on disk. For the repository poller.
   *
   * @throws BastionError INVALID_MODEL_NAME, or MODEL_NOT_FOUND when the model folder is gone.
   */
  loadVersions(model: string, versions: readonly number[]): Promise<readonly VersionState<P>[]>;
  /** Stops serving a model; its engines close once in-flight requests finish. */
  unload(model: string): Promise<void>;
  /**
   * Takes a lease on `model` at `version` (undefined: the highest ready version).
   *
   * @throws BastionError MODEL_NOT_FOUND, VERSION_NOT_FOUND or MODEL_NOT_READY.
   */
  acquire(model: string, version?: number): ModelLease<P>;
  /** Every version and its state. */
  list(): readonly VersionState<P>[];
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

/**
 * Creates the model registry. Nothing is read until {@link ModelRegistry.loadAll}. Work on one
 * model (load, reload, unload) runs under that model's lock; different models do not wait for
 * each other.
 */
export function createModelRegistry<P extends VersionParts>(
  options: ModelRegistryOptions<P>,
): ModelRegistry<P> {
  const models = new Map<string, VersionTable<P>>();
  const lock = createKeyedLock();
  const log = options.log ?? (() => undefined);
  const leases = createEngineLeases(log);
  const emit = guardEvents(options.onEvent, log);
  const loadVersion = createVersionLoader({ ...options, emit, log });
  let started = false;

  /** The versions on disk, and the model's table (created on first sight). */
  async function scanInto(model: string): Promise<{ onDisk: number[]; table: VersionTable<P> }> {
    const onDisk = await versionsOnDisk(options.repository, model);
    const table = models.get(model) ?? new Map<number, VersionState<P>>();
    models.set(model, table);
    return { onDisk, table };
  }

  async function reloadModel(model: string): Promise<readonly VersionState<P>[]> {
    const { onDisk, table } = await scanInto(model);
    const results = await loadInto(table, model, onDisk, loadVersion, leases);
    dropVanished(table, model, onDisk, leases, emit);
    return results;
  }

  async function loadNew(model: string, wanted: readonly number[]) {
    const { onDisk, table } = await scanInto(model);
    const todo = onDisk.filter((v) => {
      const state = table.get(v)?.state;
      return wanted.includes(v) && (state === undefined || state === 'failed');
    });
    return loadInto(table, model, todo, loadVersion, leases);
  }

  const registry: ModelRegistry<P> = {
    get started() {
      return started;
    },
    repository: options.repository,
    async loadAll() {
      const scan = await scanRepository(options.repository);
      for (const skip of scan.skipped) {
        log('warn', 'repository entry skipped', { path: skip.path, reason: skip.reason });
      }
      for (const model of scan.models) await lock.run(model.name, () => reloadModel(model.name));
      started = true;
    },
    load: (model) =>
      isModelName(model) ? lock.run(model, () => reloadModel(model)) : invalidName(model),
    loadVersions: (model, versions) =>
      isModelName(model) ? lock.run(model, () => loadNew(model, versions)) : invalidName(model),
    unload: (model) =>
      lock.run(model, () => {
        const table = models.get(model);
        if (table === undefined) {
          return Promise.reject(
            new BastionError('MODEL_NOT_FOUND', `model "${model}" is not loaded`),
          );
        }
        unloadAll(table, model, leases, emit);
        return Promise.resolve();
      }),
    acquire(model, version) {
      const ready = chooseVersion(models.get(model), model, version, started);
      return { version: ready, release: leases.hold(ready.engine, `model "${model}"`) };
    },
    list: () => [...models.values()].flatMap((v) => [...v.values()]),
    index: () => registry.list().map(indexEntryOf),
    has: (model) => models.has(model),
    tuningOf: (model) => highestReady(models.get(model)?.values() ?? [])?.tuning,
    async close() {
      for (const table of models.values()) {
        for (const state of table.values())
          if (state.state === 'ready') leases.retire(state.engine);
      }
      models.clear();
      await leases.drained();
    },
  };
  return registry;
}

/** The listener, guarded: a throwing listener is logged and never fails a load. */
function guardEvents(
  onEvent: ((event: ModelEvent) => void) | undefined,
  log: ModelLog,
): (event: ModelEvent) => void {
  return (event) => {
    try {
      onEvent?.(event);
    } catch (error) {
      log('error', 'model event listener failed', { err: error });
    }
  };
}

function invalidName(model: string): Promise<never> {
  return Promise.reject(
    new BastionError('INVALID_MODEL_NAME', `"${model}" is not a valid model name`),
  );
}

/**
 * The version folders of `model`.
 *
 * @throws BastionError MODEL_NOT_FOUND when the folder is absent, INTERNAL when it cannot be read.
 */
async function versionsOnDisk(repository: string, model: string): Promise<number[]> {
  try {
    return (await scanModel(repository, model)).versions;
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
}
