/** Errors of the audit log writer. */
import { type AuditLogErrorCode, CodedError } from '../errors.js';

export type { AuditLogErrorCode } from '../errors.js';

/** An audit log failure with a stable code; the message names the file and what to do. */
export class AuditLogError extends CodedError<AuditLogErrorCode> {
  constructor(code: AuditLogErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'AuditLogError';
  }
}
