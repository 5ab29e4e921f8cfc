import { ModelContentError } from './external-data.js';
import { ModelEncryptionError } from './model-encryption-error.js';
import { OmsVerificationError } from './oms/oms-verification-error.js';

/**
 * A one-line reason fit for the index, the log and the audit log (no stack). Signature,
 * decryption and content failures start with their stable code (`digest-mismatch: …`,
 * `external-data: …`), which alerts and audit queries can match on; so do the errors for which
 * `refusalCode` (the version preparer's: `policy-invalid`) names one.
 */
export function describeFailure(
  error: unknown,
  repository: string,
  refusalCode?: (error: unknown) => string | undefined,
): string {
  const message = error instanceof Error ? error.message : String(error);
  const stable =
    error instanceof OmsVerificationError ||
    error instanceof ModelEncryptionError ||
    error instanceof ModelContentError
      ? error.reason
      : refusalCode?.(error);
  const code = stable === undefined ? '' : `${stable}: `;
  const line = (code + (message.split('\n')[0] ?? 'unknown error'))
    .replaceAll(`${repository}/`, '')
    // Absolute paths outside the repository (say, in an fs error) are not for clients.
    .replace(/(^|[\s'"(])\/[^\s'"):]+/g, '$1<path>');
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}
