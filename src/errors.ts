/**
 * One error base class for the whole gateway. Every error a user can see carries a stable `code`
 * from {@link ErrorCode}; {@link httpStatusFor} maps each code to one HTTP status, and the
 * `satisfies` clause makes a new code without a status fail to compile.
 */
export const errorStatus = {
  // 400: the request itself is wrong
  BAD_REQUEST: 400,
  MALFORMED_JSON: 400,
  INVALID_REQUEST: 400,
  UNKNOWN_INPUT: 400,
  MISSING_INPUT: 400,
  DUPLICATE_INPUT: 400,
  UNKNOWN_OUTPUT: 400,
  DATATYPE_MISMATCH: 400,
  SHAPE_MISMATCH: 400,
  DATA_LENGTH_MISMATCH: 400,
  INVALID_DATA: 400,
  NON_FINITE_VALUE: 400,
  VALUE_OUT_OF_RANGE: 400,
  TOO_MANY_ELEMENTS: 400,
  UNSUPPORTED_DATATYPE: 400,
  INVALID_BINARY_DATA: 400,
  INVALID_MODEL_NAME: 400,
  INVALID_VERSION: 400,
  /** The input passed validation but ONNX Runtime refused it (e.g. inconsistent batch sizes). */
  INPUT_REJECTED_BY_MODEL: 400,
  /** A value outside the bounds of the model's signed policy (policy.yaml `inputs`). */
  VALUE_OUT_OF_POLICY: 400,
  // 401/403: who is asking
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  // 404/405
  MODEL_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  /** The request head or body did not arrive within the server's timeouts. */
  REQUEST_TIMEOUT: 408,
  // 413/415/422/429/431
  BODY_TOO_LARGE: 413,
  /** The answer would be larger than the server encodes as JSON (`limits.maxJsonOutputElements`). */
  OUTPUT_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  POLICY_VIOLATION: 422,
  /** The input is out of the distribution the model was trained on (policy `ood`, `reject`). */
  OUT_OF_DISTRIBUTION: 422,
  RATE_LIMITED: 429,
  /** The subject's query quota on this model (policy `quota`) is used up for the window. */
  QUOTA_EXCEEDED: 429,
  HEADERS_TOO_LARGE: 431,
  /** The client went away before the answer (nginx's 499); only the audit log sees it. */
  CLIENT_CLOSED_REQUEST: 499,
  // 5xx
  INTERNAL: 500,
  INFERENCE_FAILED: 500,
  MODEL_NOT_READY: 503,
  OVERLOADED: 503,
  SHUTTING_DOWN: 503,
  /** The audit record could not be written and `audit.failClosed` is on. */
  AUDIT_UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
} as const satisfies Record<string, number>;

/** A stable, documented error code. Changing one breaks clients. */
export type ErrorCode = keyof typeof errorStatus;

/** The HTTP status for an error code. */
export function httpStatusFor(code: ErrorCode): number {
  return errorStatus[code];
}

/** Options for {@link BastionError}. */
export interface BastionErrorOptions {
  /** The underlying error, for logs only; never sent to a client. */
  readonly cause?: unknown;
  /** Seconds a client should wait before retrying (429/503). */
  readonly retryAfterSec?: number;
  /** Extra response headers (e.g. `RateLimit-*` on a quota refusal); never secrets. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Extra fields of the answer's body, before `error` and `code` (the model ready route's
   * `name` and `ready`); never secrets.
   */
  readonly body?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * An error with a stable code. Its `message` is safe to send to a client: it must name what is
 * wrong in the user's terms and never contain a stack trace, file path or secret.
 */
export class BastionError extends Error {
  readonly code: ErrorCode;
  readonly retryAfterSec: number | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly body: Readonly<Record<string, string | number | boolean>> | undefined;

  constructor(code: ErrorCode, message: string, options: BastionErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BastionError';
    this.code = code;
    this.retryAfterSec = options.retryAfterSec;
    this.headers = options.headers;
    this.body = options.body;
  }

  /** The HTTP status this error maps to. */
  get status(): number {
    return httpStatusFor(this.code);
  }
}

/** True when `value` is a {@link BastionError}. */
export function isBastionError(value: unknown): value is BastionError {
  return value instanceof BastionError;
}
