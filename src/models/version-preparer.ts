/**
 * The port through which the registry gets what a version serves with. `src/models/` verifies a
 * version and keeps its lifecycle (load, swap, lease, retire); what runs it — the engine, the
 * request parser, the signed policy — is built by the preparer it is given (`src/serving/`
 * injects one over `src/inference/` and `src/policy/`). So this folder imports neither.
 */
import type { ModelTuning } from '../config/config-schema.js';
import type { ExternalDataFile } from './external-data.js';

/** What the registry needs of a version's engine. */
export interface VersionEngine {
  /** Called once the version is retired and no lease holds it. */
  close(): Promise<void>;
  /** Where it runs now, shown in the repository index; absent when the engine does not say. */
  placement?(): 'inline' | 'pool';
}

/** What a ready version serves with: at the least the engine the registry retires. */
export interface VersionParts {
  readonly engine: VersionEngine;
}

/** A version that passed verification, ready to be prepared. */
export interface VerifiedVersion {
  readonly model: string;
  readonly version: number;
  /** `model/version`, for logs. */
  readonly label: string;
  /** Every file of the version folder, verified with the model (`labels.txt`, `policy.yaml`…). */
  readonly files: ReadonlyMap<string, Buffer>;
  /** The model bytes the engine gets (decrypted when the folder holds `model.onnx.enc`). */
  readonly bytes: Buffer;
  /** The verified external-data files the model names (empty for a self-contained model). */
  readonly externalData: readonly ExternalDataFile[];
  readonly tuning: ModelTuning;
}

/** Builds the parts a verified version serves with. */
export interface VersionPreparer<P extends VersionParts> {
  /**
   * Prepares one version. Whatever it throws refuses the version with the error's first line;
   * it closes what it opened before throwing.
   */
  prepare(version: VerifiedVersion): Promise<P>;
  /**
   * The stable code of an error {@link VersionPreparer.prepare} threw (`policy-invalid`), which
   * starts the refusal reason; undefined for any other error.
   */
  refusalCode?(error: unknown): string | undefined;
}
