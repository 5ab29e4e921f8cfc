/**
 * Reads audit records with filters, for `bastion audit tail`. It does not verify the chain (that
 * is `verifyAuditFiles`); lines that are not records are skipped.
 */
import { readAuditLines } from './audit-lines.js';
import { parseAuditRecord, type AuditOutcome, type AuditRecord } from './audit-record.js';

/** Filters for {@link readAuditRecords}; every given filter must match. */
export interface ReadAuditOptions {
  readonly sub?: string;
  readonly model?: string;
  readonly outcome?: AuditOutcome;
  /** Only records at or after this time. */
  readonly since?: Date;
  /** Only records at or before this time. */
  readonly until?: Date;
  /** Keep only the last `limit` matching records (a positive integer); default all. */
  readonly limit?: number;
}

/** True when `record` passes every filter in `options`. */
export function matchesAuditFilter(record: AuditRecord, options: ReadAuditOptions): boolean {
  if (options.sub !== undefined && record.sub !== options.sub) return false;
  if (options.model !== undefined && record.model !== options.model) return false;
  if (options.outcome !== undefined && record.outcome !== options.outcome) return false;
  if (options.since !== undefined || options.until !== undefined) {
    const t = Date.parse(record.ts);
    if (options.since !== undefined && t < options.since.getTime()) return false;
    if (options.until !== undefined && t > options.until.getTime()) return false;
  }
  return true;
}

/**
 * Streams `paths` in order and returns the matching records, oldest first; with `limit`, only
 * the last `limit` of them (memory bounded by twice `limit`).
 *
 * @throws the file system error when a file cannot be read.
 */
export async function readAuditRecords(
  paths: readonly string[],
  options: ReadAuditOptions = {},
): Promise<AuditRecord[]> {
  const limit = options.limit ?? Infinity;
  const out: AuditRecord[] = [];
  if (limit <= 0) return out;
  for (const path of paths) {
    for await (const line of readAuditLines(path)) {
      let value: unknown;
      try {
        value = JSON.parse(line.text);
      } catch {
        continue;
      }
      const record = parseAuditRecord(value);
      if (typeof record === 'string' || !matchesAuditFilter(record, options)) continue;
      out.push(record);
      // Trimming in halves keeps this linear however large `limit` is.
      if (out.length >= 2 * limit) out.splice(0, out.length - limit);
    }
  }
  return out.length > limit ? out.slice(out.length - limit) : out;
}
