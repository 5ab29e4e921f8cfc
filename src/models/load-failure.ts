import { ModelContentError } from './external-data.js';
import { ModelEncryptionError } from './model-encryption-error.js';
import { OmsVerificationError } from './oms/oms-verification-error.js';
import { PolicyError } from '../policy/policy-schema.js';

/**
 * A one-line reason fit for the index, the log and the audit log (no stack). Signature,
 * decryption, content and policy failures start with their stable code (`digest-mismatch: …`,
 * `external-data: …`), which alerts and audit queries can match on.
 */
export function describeFailure(error: unknown, repository: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const code =
    error instanceof OmsVerificationError ||
    error instanceof ModelEncryptionError ||
    error instanceof ModelContentError ||
    error instanceof PolicyError
      ? `${error.reason}: `
      : '';
  const line = (code + (message.split('\n')[0] ?? 'unknown error'))
    .replaceAll(`${repository}/`, '')
    // Absolute paths outside the repository (say, in an fs error) are not for clients.
    .replace(/(^|[\s'"(])\/[^\s'"):]+/g, '$1<path>');
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}
