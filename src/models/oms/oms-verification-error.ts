import { RefusalError, type RefusalCodeOf } from '../../errors.js';

/** Why an OMS signature or the model it covers was refused (`refusalCodes.signature`). */
export type OmsFailureReason = RefusalCodeOf<'signature'>;

/**
 * A model signature that does not verify. `code` (also `reason`) is stable; `message` is one
 * line that tells an operator what to fix (it may name a file relative to the model root, never a
 * secret).
 */
export class OmsVerificationError extends RefusalError<OmsFailureReason> {
  constructor(reason: OmsFailureReason, message: string, options?: { readonly cause?: unknown }) {
    super(reason, message, options);
    this.name = 'OmsVerificationError';
  }
}

/** True when `value` is an {@link OmsVerificationError}. */
export function isOmsVerificationError(value: unknown): value is OmsVerificationError {
  return value instanceof OmsVerificationError;
}
