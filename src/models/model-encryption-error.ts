import { RefusalError, type RefusalCodeOf } from '../errors.js';

/**
 * Why an encrypted model (`model.onnx.enc`) or an encryption key was refused
 * (`refusalCodes.encryption`, which says what each means). Stable: logs, audit records and
 * metrics keep it.
 */
export type ModelEncryptionFailureReason = RefusalCodeOf<'encryption'>;

/**
 * An encrypted model that cannot be decrypted, or a key that cannot be used. `code` (also
 * `reason`) is stable; `message` is one line for an operator and never contains key material.
 */
export class ModelEncryptionError extends RefusalError<ModelEncryptionFailureReason> {
  constructor(
    reason: ModelEncryptionFailureReason,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(reason, message, options);
    this.name = 'ModelEncryptionError';
  }
}

/** True when `value` is a {@link ModelEncryptionError}. */
export function isModelEncryptionError(value: unknown): value is ModelEncryptionError {
  return value instanceof ModelEncryptionError;
}
