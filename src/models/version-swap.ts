/**
 * How a model's version table changes on a load, a reload and an unload. The rule throughout: a
 * ready version keeps serving until its replacement is ready, and an engine is retired (closed
 * once no lease holds it) the moment its version leaves the table.
 */
import type { ModelEvent, VersionState } from './model-state.js';
import type { VersionLoader } from './version-loader.js';
import type { VersionEngine, VersionParts } from './version-preparer.js';

/** One model's versions by number. */
export type VersionTable<P extends VersionParts> = Map<number, VersionState<P>>;

/** What the table changes do with engines (the registry's lease table). */
export interface SwapEngines {
  /** A new ready engine enters the table (leases may now be taken on it). */
  track(engine: VersionEngine): void;
  /** An engine leaves the table. */
  retire(engine: VersionEngine): void;
}

/**
 * Loads `versions` of `model` into `table`, one after the other. Each is first marked `loading`
 * unless it is ready; a ready result then replaces what was there (retiring a replaced ready
 * engine), a failed one replaces anything but a ready version. Resolves with every result, in
 * order, the failures included.
 */
export async function loadInto<P extends VersionParts>(
  table: VersionTable<P>,
  model: string,
  versions: readonly number[],
  load: VersionLoader<P>,
  engines: SwapEngines,
): Promise<VersionState<P>[]> {
  for (const version of versions) {
    if (table.get(version)?.state !== 'ready')
      table.set(version, { state: 'loading', model, version });
  }
  const results: VersionState<P>[] = [];
  for (const version of versions) {
    const next = await load(model, version);
    const previous = table.get(version);
    if (next.state === 'ready') engines.track(next.engine);
    if (next.state === 'ready' || previous?.state !== 'ready') {
      table.set(version, next);
      if (previous?.state === 'ready') engines.retire(previous.engine);
    }
    // A failed reload keeps the previous ready version serving; the failure is still reported.
    results.push(next);
  }
  return results;
}

/** Removes the versions of `table` that are not in `onDisk`: ready ones are retired first. */
export function dropVanished<P extends VersionParts>(
  table: VersionTable<P>,
  model: string,
  onDisk: readonly number[],
  engines: Pick<SwapEngines, 'retire'>,
  emit: (event: ModelEvent) => void,
): void {
  for (const [version, state] of table) {
    if (!onDisk.includes(version)) {
      if (state.state === 'ready') engines.retire(state.engine);
      table.delete(version);
      emit({ type: 'unload', model, version });
    }
  }
}

/** Marks every version of `table` unloaded, retiring the ready ones. */
export function unloadAll<P extends VersionParts>(
  table: VersionTable<P>,
  model: string,
  engines: Pick<SwapEngines, 'retire'>,
  emit: (event: ModelEvent) => void,
): void {
  for (const [version, state] of table) {
    if (state.state === 'ready') engines.retire(state.engine);
    table.set(version, { state: 'unloaded', model, version });
    emit({ type: 'unload', model, version });
  }
}
