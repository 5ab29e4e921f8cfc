import { OmsVerificationError } from './oms-verification-error.js';

function list(names: readonly string[]): string {
  const shown = names.slice(0, 3).map((n) => JSON.stringify(n));
  return names.length > 3 ? `${shown.join(', ')} and ${names.length - 3} more` : shown.join(', ');
}

/**
 * Compares the signed name → digest map with what is on disk: none missing, none extra, none
 * different. Checks in that order, so the reason names the most useful problem first.
 * @throws OmsVerificationError `file-missing`, `file-extra` or `digest-mismatch`.
 */
export function assertSameDigests(
  signed: ReadonlyMap<string, string>,
  actual: ReadonlyMap<string, string>,
  what: 'file' | 'shard' = 'file',
): void {
  const missing = [...signed.keys()].filter((name) => !actual.has(name));
  if (missing.length > 0) {
    throw new OmsVerificationError(
      'file-missing',
      `signed ${what} missing from the model: ${list(missing)}`,
    );
  }
  const extra = [...actual.keys()].filter((name) => !signed.has(name));
  if (extra.length > 0) {
    throw new OmsVerificationError('file-extra', `model has unsigned ${what}s: ${list(extra)}`);
  }
  const changed = [...signed]
    .filter(([name, digest]) => actual.get(name) !== digest)
    .map(([n]) => n);
  if (changed.length > 0) {
    throw new OmsVerificationError(
      'digest-mismatch',
      `model ${what} content differs from the signature: ${list(changed)}`,
    );
  }
}
