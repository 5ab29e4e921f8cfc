import type { ModelTuning } from '../config/config-schema.js';
import type { ModelEngine, ModelSignature } from '../inference/engine.js';
import type { InferRequestParser } from '../inference/input-schema.js';
import type { ModelPolicy } from '../policy/model-policy.js';

/** A version that serves. */
export interface ReadyVersion {
  readonly state: 'ready';
  readonly model: string;
  readonly version: number;
  readonly engine: ModelEngine;
  readonly signature: ModelSignature;
  readonly parser: InferRequestParser;
  readonly tuning: ModelTuning;
  /** SHA-256 of the model bytes handed to ONNX Runtime. */
  readonly modelSha256: string;
  readonly signedBy: string | undefined;
  readonly loadedAt: Date;
  /** Class labels from the signed folder's `labels.txt` (classification extension), if any. */
  readonly labels?: readonly string[] | undefined;
  /** The signed `policy.yaml`, compiled; absent when the version has none. */
  readonly policy?: ModelPolicy;
}

/** The state of one model version (STYLE.md: a union, not booleans). */
export type VersionState =
  | { readonly state: 'loading'; readonly model: string; readonly version: number }
  | ReadyVersion
  | {
      readonly state: 'failed';
      readonly model: string;
      readonly version: number;
      readonly reason: string;
    }
  | { readonly state: 'unloaded'; readonly model: string; readonly version: number };

/** One row of the repository index (Triton's model repository extension). */
export interface IndexEntry {
  readonly name: string;
  readonly version: string;
  readonly state: 'LOADING' | 'READY' | 'UNAVAILABLE' | 'UNLOADED';
  readonly reason: string;
  /** Where a ready version runs (`poolSize: auto` decides at load; see `placement.ts`). */
  readonly placement?: 'inline' | 'pool';
}
