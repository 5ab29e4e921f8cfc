/** Why an OMS signature or the model it covers was refused. Stable: logs and audit keep it. */
export type OmsFailureReason =
  | 'bundle-malformed'
  | 'media-type'
  | 'payload-type'
  | 'signature-count'
  | 'untrusted-key'
  | 'untrusted-identity'
  | 'bad-signature'
  | 'certificate-invalid'
  | 'certificate-expired'
  | 'tlog-invalid'
  | 'timestamp-invalid'
  | 'statement-invalid'
  | 'predicate-type'
  | 'subject-digest'
  | 'resource-name'
  | 'symlink'
  | 'special-file'
  | 'file-missing'
  | 'file-extra'
  | 'digest-mismatch'
  | 'unsupported';

/**
 * A model signature that does not verify. `reason` is a stable code; `message` is one line that
 * tells an operator what to fix (it may name a file relative to the model root, never a secret).
 */
export class OmsVerificationError extends Error {
  readonly reason: OmsFailureReason;

  constructor(reason: OmsFailureReason, message: string, options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OmsVerificationError';
    this.reason = reason;
  }
}

/** True when `value` is an {@link OmsVerificationError}. */
export function isOmsVerificationError(value: unknown): value is OmsVerificationError {
  return value instanceof OmsVerificationError;
}
