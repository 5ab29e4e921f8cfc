import type { ModelTuning } from '../config/config-schema.js';
import type { RefusalCode } from '../errors.js';
import type { VersionParts } from './version-preparer.js';

/** What the registry itself knows of a version that serves. */
export interface ReadyFacts {
  readonly state: 'ready';
  readonly model: string;
  readonly version: number;
  readonly tuning: ModelTuning;
  /** SHA-256 of the model bytes handed to ONNX Runtime. */
  readonly modelSha256: string;
  readonly signedBy: string | undefined;
  readonly loadedAt: Date;
}

/**
 * A version that serves: the registry's facts and the parts its preparer built (for the gateway,
 * `ServingParts` in `src/serving/`: engine, signature, request parser, labels, policy).
 */
export type ReadyVersion<P extends VersionParts = VersionParts> = ReadyFacts & P;

/** The state of one model version (STYLE.md: a union, not booleans). */
export type VersionState<P extends VersionParts = VersionParts> =
  | { readonly state: 'loading'; readonly model: string; readonly version: number }
  | ReadyVersion<P>
  | FailedVersion
  | { readonly state: 'unloaded'; readonly model: string; readonly version: number };

/** A version that was refused, with the one-line reason shown in the index and audit log. */
export interface FailedVersion {
  readonly state: 'failed';
  readonly model: string;
  readonly version: number;
  readonly reason: string;
}

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

/** The registry's operational log (one line per load, refusal, skipped entry, engine fault). */
export type ModelLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: object) => void;

/** One row of the repository index (Triton's model repository extension). */
export interface IndexEntry {
  readonly name: string;
  readonly version: string;
  readonly state: 'LOADING' | 'READY' | 'UNAVAILABLE' | 'UNLOADED';
  readonly reason: string;
  /** Where a ready version runs (`poolSize: auto` decides at load; see `placement.ts`). */
  readonly placement?: 'inline' | 'pool';
}

const indexStates = {
  ready: 'READY',
  loading: 'LOADING',
  failed: 'UNAVAILABLE',
  unloaded: 'UNLOADED',
} as const satisfies Record<VersionState['state'], IndexEntry['state']>;

/** The index row of one version; a ready one shows where it runs when its engine says. */
export function indexEntryOf(s: VersionState): IndexEntry {
  const placement = s.state === 'ready' ? s.engine.placement?.() : undefined;
  return {
    name: s.model,
    version: String(s.version),
    state: indexStates[s.state],
    reason: s.state === 'failed' ? s.reason : '',
    ...(placement === undefined ? {} : { placement }),
  };
}

/** The state of every listed version, by model and version number. */
export function statesByModel(
  states: readonly VersionState[],
): Map<string, Map<number, VersionState['state']>> {
  const byModel = new Map<string, Map<number, VersionState['state']>>();
  for (const s of states) {
    byModel.set(
      s.model,
      (byModel.get(s.model) ?? new Map<number, VersionState['state']>()).set(s.version, s.state),
    );
  }
  return byModel;
}

/** True when the operator unloaded the model: it is known and every version is unloaded. */
export function isUnloadedModel(
  versions: ReadonlyMap<number, VersionState['state']> | undefined,
): boolean {
  return versions !== undefined && [...versions.values()].every((s) => s === 'unloaded');
}
