/** Errors of the audit log writer. */

/** Why the audit log failed. */
export type AuditLogErrorCode =
  'AUDIT_BROKEN_TAIL' | 'AUDIT_CHECKPOINT_MISMATCH' | 'AUDIT_WRITE_FAILED' | 'AUDIT_CLOSED';

/** An audit log failure with a stable code; the message names the file and what to do. */
export class AuditLogError extends Error {
  readonly code: AuditLogErrorCode;

  constructor(code: AuditLogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditLogError';
    this.code = code;
  }
}
