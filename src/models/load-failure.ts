import { isRefusalError, type RefusalCode, refusalCodes } from '../errors.js';

const plainSentences: ReadonlySet<string> = new Set<string>(refusalCodes.version);

/** The stable code of a load failure; undefined for an error without one (ONNX Runtime's own). */
export function refusalCodeOf(error: unknown): RefusalCode | undefined {
  return isRefusalError(error) ? error.code : undefined;
}

/**
 * A one-line reason fit for the index, the log and the audit log (no stack). A refusal starts with
 * its stable code (`digest-mismatch: …`, `external-data: …`), which alerts and audit queries can
 * match on; the version folder's own refusals (`refusalCodes.version`) read as plain sentences. A
 * `refusalCode` port (the version preparer's) may name the code of an error that is no refusal.
 */
export function describeFailure(
  error: unknown,
  repository: string,
  refusalCode?: (error: unknown) => string | undefined,
): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = refusalCodeOf(error) ?? refusalCode?.(error);
  const prefix = code === undefined || plainSentences.has(code) ? '' : `${code}: `;
  const line = (prefix + (message.split('\n')[0] ?? 'unknown error'))
    .replaceAll(`${repository}/`, '')
    // Absolute paths outside the repository (say, in an fs error) are not for clients.
    .replace(/(^|[\s'"(])\/[^\s'"):]+/g, '$1<path>');
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}
