/**
 * The gateway's one error vocabulary (jose's way: every error has a stable `error.code`), in
 * three closed tables that together make {@link BastionCode}:
 * - {@link errorStatus}: what a client can see, each code with its one HTTP status (the
 *   `satisfies` clause makes a new code without a status fail to compile);
 * - {@link refusalCodes}: why a model version was refused (the index, the log, the audit log and
 *   `bastion_model_refusals_total` carry them; a client sees only MODEL_NOT_READY);
 * - {@link auditLogErrorCodes}: why the audit log cannot be opened or written.
 * Every error class derives from {@link CodedError}, its code from one of these tables.
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

/**
 * Why a model version was refused, by the step that refused it. Stable: alerts and audit queries
 * match on them. A refusal's one-line reason starts with its code (`digest-mismatch: …`), except
 * the `version` group's, which read as plain sentences (`the version folder has no model.onnx`).
 */
export const refusalCodes = {
  /** The OMS signature or the files it covers (`models/oms/`). */
  signature: [
    'bundle-malformed',
    'media-type',
    'payload-type',
    'signature-count',
    'untrusted-key',
    'untrusted-identity',
    'bad-signature',
    'certificate-invalid',
    'certificate-expired',
    'tlog-invalid',
    'timestamp-invalid',
    'statement-invalid',
    'predicate-type',
    'subject-digest',
    'resource-name',
    'symlink',
    'special-file',
    'file-missing',
    'file-extra',
    'digest-mismatch',
    'unsupported',
  ],
  /**
   * An encrypted model (`model.onnx.enc`) or its key: `format` (not Bastion's format, or its size
   * disagrees with its header), `version` (a format this build does not read), `wrong-key`,
   * `tampered` (authentication failed), `key-length` (not 32 bytes), `key-format` (neither 64 hex
   * characters nor base64 of 32 bytes).
   */
  encryption: ['format', 'version', 'wrong-key', 'tampered', 'key-length', 'key-format'],
  /** The model's bytes: external data not allowed, not an ONNX protobuf, a file unreadable. */
  content: ['external-data', 'model-malformed', 'unreadable'],
  /** The signed `policy.yaml`. */
  policy: ['policy-invalid'],
  /** The version folder and its tuning. */
  version: [
    'unsigned',
    'no-trusted-signer',
    'model-missing',
    'model-ambiguous',
    'model-key-missing',
    'tuning-invalid',
    'labels-invalid',
  ],
} as const;

/** One of {@link refusalCodes}. */
export type RefusalCode = (typeof refusalCodes)[keyof typeof refusalCodes][number];

/** The refusal codes of one step. */
export type RefusalCodeOf<K extends keyof typeof refusalCodes> = (typeof refusalCodes)[K][number];

/** Every refusal code, for bounded metric labels. */
export const allRefusalCodes: ReadonlySet<string> = new Set<string>(
  Object.values(refusalCodes).flat(),
);

/** Why the audit log failed. */
export const auditLogErrorCodes = [
  'AUDIT_BROKEN_TAIL',
  'AUDIT_CHECKPOINT_MISMATCH',
  'AUDIT_WRITE_FAILED',
  'AUDIT_CLOSED',
] as const;

/** One of {@link auditLogErrorCodes}. */
export type AuditLogErrorCode = (typeof auditLogErrorCodes)[number];

/** Every stable code a Bastion error can carry. */
export type BastionCode = ErrorCode | RefusalCode | AuditLogErrorCode;

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

/** The base of every Bastion error: a stable `code` and, for logs only, a `cause`. */
export class CodedError<C extends BastionCode = BastionCode> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CodedError';
    this.code = code;
  }
}

/**
 * Why a model version was refused. `message` is one line for an operator (it may name a file
 * relative to the model root, never a secret).
 */
export class RefusalError<C extends RefusalCode = RefusalCode> extends CodedError<C> {
  constructor(code: C, message: string, options?: { readonly cause?: unknown }) {
    super(code, message, options);
    this.name = 'RefusalError';
  }

  /** The same as `code`: the name the refusal errors gave it first. */
  get reason(): C {
    return this.code;
  }
}

/** True when `value` is a {@link RefusalError} (of any step). */
export function isRefusalError(value: unknown): value is RefusalError {
  return value instanceof RefusalError;
}

/**
 * An error a client may see, with a code from {@link errorStatus}. Its `message` is safe to send
 * to a client: it must name what is wrong in the user's terms and never contain a stack trace,
 * file path or secret.
 */
export class BastionError extends CodedError<ErrorCode> {
  readonly retryAfterSec: number | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly body: Readonly<Record<string, string | number | boolean>> | undefined;

  constructor(code: ErrorCode, message: string, options: BastionErrorOptions = {}) {
    super(code, message, options);
    this.name = 'BastionError';
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
