import type { ModelSignature } from '../inference/engine.js';
import type { BoundInferRequest } from '../inference/input-schema.js';
import type { ErrorCode } from '../errors.js';
import type { PolicyPrecheck } from '../policy/policy-precheck.js';
import type { PolicySpec } from '../policy/policy-schema.js';

/** One infer body to parse and bind off the event loop. */
export interface ParseJob {
  readonly id: number;
  /** The raw JSON bytes (transferred to the worker): the body, or a binary body's JSON header. */
  readonly bytes: Uint8Array;
  /**
   * A binary tensor extension body's data after its header (transferred to the worker); its
   * digest was taken as it arrived, so the worker takes none.
   */
  readonly binary?: Uint8Array | undefined;
  /** Cache key of the model version's parser and policy: one per load of a version. */
  readonly key: string;
  readonly signature: ModelSignature;
  /** The version's signed policy: its input checks run on the worker too. */
  readonly policy?: PolicySpec | undefined;
  readonly maxElements: number;
  /** What a top-level `model_name` / `model_version` must say. */
  readonly model: string;
  readonly version: number;
}

/**
 * The worker's answer: the bound request (typed arrays transferred back) or a client error, and
 * the SHA-256 of the JSON body (undefined for a binary body).
 */
export type ParseResult =
  | {
      readonly id: number;
      readonly ok: true;
      readonly request: BoundInferRequest;
      /** The policy's input checks, score and hash (`policy-precheck.ts`), when it has a policy. */
      readonly prechecked?: PolicyPrecheck | undefined;
      readonly sha256: string | undefined;
    }
  | {
      readonly id: number;
      readonly ok: false;
      readonly code: ErrorCode;
      readonly message: string;
      readonly sha256: string | undefined;
    };
