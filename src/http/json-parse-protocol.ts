import type { ModelSignature } from '../inference/engine.js';
import type { BoundInferRequest } from '../inference/input-schema.js';
import type { ErrorCode } from '../errors.js';

/** One infer body to parse and bind off the event loop. */
export interface ParseJob {
  readonly id: number;
  /** The raw JSON bytes (transferred to the worker). */
  readonly bytes: Uint8Array;
  /** Cache key of the model version's parser (`model@version`). */
  readonly key: string;
  readonly signature: ModelSignature;
  readonly maxElements: number;
  /** What a top-level `model_name` / `model_version` must say. */
  readonly model: string;
  readonly version: number;
}

/** The worker's answer: the bound request (typed arrays transferred back) or a client error. */
export type ParseResult =
  | {
      readonly id: number;
      readonly ok: true;
      readonly request: BoundInferRequest;
      readonly sha256: string;
    }
  | {
      readonly id: number;
      readonly ok: false;
      readonly code: ErrorCode;
      readonly message: string;
      readonly sha256: string;
    };
