/**
 * Keeps metric label values bounded: no raw user input becomes a label (CONTRACT "Metrics").
 */

/** The label value for anything that is not known. */
export const unknownLabel = '_unknown';

/** A model that may appear as a label, with the versions that may (any well-formed when absent). */
export interface KnownModel {
  readonly name: string;
  readonly versions?: Iterable<string | number>;
}

/** Maps model names and versions to bounded label values. */
export interface ModelLabeler {
  /** `model` itself when known, `'_unknown'` otherwise (including absent). */
  model(model: string | undefined): string;
  /**
   * The version as a string when the model is known and the version is one of its versions (or,
   * when its versions were not listed, a positive integer of at most 6 digits); else `'_unknown'`.
   */
  version(model: string | undefined, version: string | number | undefined): string;
  /** Replaces the set of known models (call when the repository changes). */
  setKnownModels(models: Iterable<string | KnownModel>): void;
}

const wellFormedVersion = /^[1-9]\d{0,5}$/;

/** Creates a {@link ModelLabeler}, initially knowing `models`. */
export function createModelLabeler(models: Iterable<string | KnownModel> = []): ModelLabeler {
  let known = new Map<string, ReadonlySet<string> | undefined>();
  const labeler: ModelLabeler = {
    model(model) {
      return model !== undefined && known.has(model) ? model : unknownLabel;
    },
    version(model, version) {
      if (model === undefined || version === undefined || !known.has(model)) return unknownLabel;
      const v = String(version);
      const versions = known.get(model);
      if (versions === undefined) return wellFormedVersion.test(v) ? v : unknownLabel;
      return versions.has(v) ? v : unknownLabel;
    },
    setKnownModels(list) {
      const next = new Map<string, ReadonlySet<string> | undefined>();
      for (const item of list) {
        if (typeof item === 'string') next.set(item, undefined);
        else {
          next.set(
            item.name,
            item.versions === undefined ? undefined : new Set([...item.versions].map(String)),
          );
        }
      }
      known = next;
    },
  };
  labeler.setKnownModels(models);
  return labeler;
}

/** Options for {@link createLabelGuard}. */
export interface LabelGuardOptions {
  /** Values must match this; default `^[a-z0-9_.:-]{1,64}$`. */
  readonly pattern?: RegExp;
  /** At most this many distinct values are let through; later new ones map to the fallback. */
  readonly maxDistinct?: number;
  /** Default `'other'`. */
  readonly fallback?: string;
}

/**
 * A guard for a label whose values come from code but are not a closed list (e.g. an auth
 * failure reason): well-formed values pass until `maxDistinct` (default 32) have been seen.
 */
export function createLabelGuard(options: LabelGuardOptions = {}): (value: string) => string {
  const pattern = options.pattern ?? /^[a-z0-9_.:-]{1,64}$/;
  const maxDistinct = options.maxDistinct ?? 32;
  const fallback = options.fallback ?? 'other';
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (!pattern.test(value) || seen.size >= maxDistinct) return fallback;
    seen.add(value);
    return value;
  };
}

/** An HTTP status as a label: the 3-digit code, or `'_unknown'`. */
export function statusLabel(status: number | string): string {
  const s = String(status);
  return /^[1-5]\d\d$/.test(s) ? s : unknownLabel;
}
