/**
 * Verifies audit files as one chain: every line whole and well-formed, every `hash` matching its
 * record, every `prevHash` the previous record's `hash` and every `seq` the previous one plus 1.
 *
 * What is caught: an edited, deleted, inserted or reordered record, and a torn (truncated) last
 * line. A cut head (records removed from the start) is caught when the files before it or an
 * `anchorHash` are given; otherwise the first record must be seq 1 with the genesis `prevHash`.
 * An `audit.segment` record with the genesis `prevHash` legitimately restarts the chain (the
 * writer opened over a broken tail); it is reported in `segments`. Without an HMAC key, someone
 * who can write the file can rebuild a whole chain; with one, they cannot. Whole records cut from
 * the end are only caught against an externally kept head (the last `seq`/`hash`).
 */
import { computeAuditHash } from './audit-hash.js';
import { readAuditLines } from './audit-lines.js';
import { genesisHash, parseAuditRecord } from './audit-record.js';

/** Options for {@link verifyAuditFiles}. */
export interface VerifyAuditOptions {
  /** The HMAC key the log was written with; required for an HMAC-keyed log. */
  readonly hmacKey?: Uint8Array;
  /** Expected `prevHash` of the first record (the hash of the last record before the files). */
  readonly anchorHash?: string;
}

/** A chain restart found while verifying. */
export interface AuditSegmentStart {
  readonly seq: number;
  readonly reason: string;
}

/** The verdict of {@link verifyAuditFiles}. */
export interface AuditVerifyResult {
  readonly ok: boolean;
  /** Records that verified before the first problem (all of them when `ok`). */
  readonly records: number;
  /** The first seq that is wrong or missing; absent when `ok`. */
  readonly firstBadSeq?: number;
  /** One line: the verdict, naming the file, line and seq of the first problem. */
  readonly message: string;
  /** Chain restarts (`audit.segment` records with the genesis prevHash). */
  readonly segments: readonly AuditSegmentStart[];
  /** The last record's seq and hash: an anchor for the next verification. */
  readonly lastSeq?: number;
  readonly lastHash?: string;
}

/**
 * Verifies `paths`, in order, as one chain (e.g. `[audit.log.000000001234, audit.log]`).
 * Reads each file as a stream; an unreadable file is reported, not thrown.
 */
export async function verifyAuditFiles(
  paths: readonly string[],
  options: VerifyAuditOptions = {},
): Promise<AuditVerifyResult> {
  const { hmacKey, anchorHash } = options;
  const segments: AuditSegmentStart[] = [];
  let records = 0;
  let firstSeq = 0;
  let prev: { seq: number; hash: string } | undefined;
  const keyHint = hmacKey === undefined ? ' (if the log is HMAC-keyed, give its key)' : '';
  const bad = (seq: number, where: string, what: string): AuditVerifyResult => ({
    ok: false,
    records,
    firstBadSeq: seq,
    message: `seq ${seq}: ${what} (${where})`,
    segments,
  });

  for (const path of paths) {
    let lineNo = 0;
    try {
      for await (const line of readAuditLines(path)) {
        lineNo++;
        const where = `${path}:${lineNo}`;
        const expectedSeq = prev === undefined ? 1 : prev.seq + 1;
        if (!line.terminated) return bad(expectedSeq, where, 'truncated last line');
        let value: unknown;
        try {
          value = JSON.parse(line.text);
        } catch {
          return bad(expectedSeq, where, 'line is not valid JSON');
        }
        const record = parseAuditRecord(value);
        if (typeof record === 'string')
          return bad(expectedSeq, where, `malformed record: ${record}`);
        if (computeAuditHash(record, hmacKey) !== record.hash) {
          return bad(record.seq, where, `hash does not match the record's contents${keyHint}`);
        }
        const restart = record.event === 'audit.segment' && record.prevHash === genesisHash;
        if (restart) {
          if (prev !== undefined && record.seq <= prev.seq) {
            return bad(expectedSeq, where, `segment record goes back to seq ${record.seq}`);
          }
          segments.push({ seq: record.seq, reason: record.reason ?? '' });
        } else if (prev === undefined) {
          if (anchorHash !== undefined) {
            if (record.prevHash !== anchorHash) {
              return bad(record.seq, where, 'prevHash does not match the anchor hash');
            }
          } else if (record.seq !== 1 || record.prevHash !== genesisHash) {
            return bad(
              1,
              where,
              `chain starts at seq ${record.seq}, not at seq 1 with the genesis prevHash: earlier records are missing (give the previous file first, or --anchor)`,
            );
          }
        } else if (record.seq !== expectedSeq) {
          return bad(
            Math.min(expectedSeq, record.seq),
            where,
            record.seq > expectedSeq
              ? `missing or out of order: the next record is seq ${record.seq}`
              : `out of order: found seq ${record.seq} after seq ${prev.seq}`,
          );
        } else if (record.prevHash !== prev.hash) {
          return bad(
            record.seq,
            where,
            'prevHash does not match the previous record (inserted or replaced)',
          );
        }
        if (prev === undefined) firstSeq = record.seq;
        prev = { seq: record.seq, hash: record.hash };
        records++;
      }
    } catch (error) {
      return bad(
        prev === undefined ? 1 : prev.seq + 1,
        path,
        `cannot read file: ${(error as Error).message}`,
      );
    }
  }
  if (prev === undefined) {
    return { ok: false, records: 0, message: 'no audit records found', segments };
  }
  const restarts = segments.length === 0 ? '' : `, ${segments.length} segment restart(s)`;
  return {
    ok: true,
    records,
    message: `intact: ${records} records, seq ${firstSeq}..${prev.seq}${restarts}, last hash ${prev.hash}`,
    segments,
    lastSeq: prev.seq,
    lastHash: prev.hash,
  };
}
