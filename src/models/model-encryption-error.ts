/**
 * Why an encrypted model (`model.onnx.enc`) or an encryption key was refused. Stable: logs,
 * audit records and metrics keep it.
 *
 * - `format`: not a Bastion encrypted model, or truncated/extended (size disagrees with header)
 * - `version`: a format version this build does not read
 * - `wrong-key`: encrypted with another key (or its key id was altered)
 * - `tampered`: the header, ciphertext or tag was altered (authentication failed)
 * - `key-length`: a key that is not 32 bytes was passed to encrypt/decrypt
 * - `key-format`: key text that is neither 64 hex characters nor base64 of 32 bytes
 */
export type ModelEncryptionFailureReason =
  'format' | 'version' | 'wrong-key' | 'tampered' | 'key-length' | 'key-format';

/**
 * An encrypted model that cannot be decrypted, or a key that cannot be used. `reason` is a
 * stable code; `message` is one line for an operator and never contains key material.
 */
export class ModelEncryptionError extends Error {
  readonly reason: ModelEncryptionFailureReason;

  constructor(
    reason: ModelEncryptionFailureReason,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ModelEncryptionError';
    this.reason = reason;
  }
}

/** True when `value` is a {@link ModelEncryptionError}. */
export function isModelEncryptionError(value: unknown): value is ModelEncryptionError {
  return value instanceof ModelEncryptionError;
}
