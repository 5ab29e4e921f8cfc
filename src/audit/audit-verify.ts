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
 * the end are only caught against a kept head: the gateway's checkpoint or a witness line
 * (`checkpoint`), which must then be found in the chain with the same hash.
 */
import { computeAuditHash } from './audit-hash.js';
import { readAuditLines } from './audit-lines.js';
import type { AuditCheckpoint } from './audit-checkpoint.js';
import { type AuditRecord, genesisHash, parseAuditRecord } from './audit-record.js';

/** Options for {@link verifyAuditFiles}. */
export interface VerifyAuditOptions {
  /** The HMAC key the log was written with; required for an HMAC-keyed log. */
  readonly hmacKey?: Uint8Array;
  /** Expected `prevHash` of the first record (the hash of the last record before the files). */
  readonly anchorHash?: string;
  /** With `anchorHash`: the seq of that record, so the first record must be the next one. */
  readonly anchorSeq?: number;
  /** Start reading the first file at this byte (just after the anchor record). Default 0. */
  readonly startOffset?: number;
  /** Zero records is intact (not "no audit records found"); for checking from an anchor. */
  readonly allowEmpty?: boolean;
  /**
   * A head checkpoint (already parsed and its MAC checked): its record must be in the chain with
   * its hash; a chain that ends before it was truncated.
   */
  readonly checkpoint?: AuditCheckpoint;
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

/** The first problem found: the seq it is about, and what is wrong. */
interface Problem {
  readonly seq: number;
  readonly what: string;
}

/** The last record verified. */
interface Link {
  readonly seq: number;
  readonly hash: string;
}

/**
 * Verifies `paths`, in order, as one chain (e.g. `[audit.log.000000001234, audit.log]`).
 * Reads each file as a stream; an unreadable file is reported, not thrown.
 */
export async function verifyAuditFiles(
  paths: readonly string[],
  options: VerifyAuditOptions = {},
): Promise<AuditVerifyResult> {
  const { checkpoint } = options;
  let checkpointSeen = false;
  const segments: AuditSegmentStart[] = [];
  let records = 0;
  let firstSeq = 0;
  let prev: Link | undefined;
  const bad = (problem: Problem, where: string): AuditVerifyResult => ({
    ok: false,
    records,
    firstBadSeq: problem.seq,
    message: `seq ${problem.seq}: ${problem.what} (${where})`,
    segments,
  });

  for (const [index, path] of paths.entries()) {
    let lineNo = 0;
    try {
      const start = index === 0 ? (options.startOffset ?? 0) : 0;
      for await (const line of readAuditLines(path, start)) {
        lineNo++;
        const where = `${path}:${lineNo}`;
        const expectedSeq = prev === undefined ? 1 : prev.seq + 1;
        const record = recordOf(line, expectedSeq, options.hmacKey);
        if (!('hash' in record)) return bad(record, where);
        const broken = linkProblem(record, prev, expectedSeq, options);
        if (broken !== undefined) return bad(broken, where);
        if (isSegmentStart(record)) segments.push({ seq: record.seq, reason: record.reason ?? '' });
        const unlike = checkpointProblem(record, prev === undefined, checkpoint);
        if (unlike !== undefined) return bad(unlike, where);
        if (prev === undefined) firstSeq = record.seq;
        if (checkpoint !== undefined && record.seq === checkpoint.seq) checkpointSeen = true;
        prev = { seq: record.seq, hash: record.hash };
        records++;
      }
    } catch (error) {
      const seq = prev === undefined ? 1 : prev.seq + 1;
      return bad({ seq, what: `cannot read file: ${(error as Error).message}` }, path);
    }
  }
  return verdictAtEnd({ records, firstSeq, prev, segments, checkpointSeen }, options);
}

/** A line's record, with its hash checked, or why it is not one. */
function recordOf(
  line: { readonly text: string; readonly terminated: boolean },
  expectedSeq: number,
  hmacKey: Uint8Array | undefined,
): AuditRecord | Problem {
  if (!line.terminated) return { seq: expectedSeq, what: 'truncated last line' };
  let value: unknown;
  try {
    value = JSON.parse(line.text);
  } catch {
    return { seq: expectedSeq, what: 'line is not valid JSON' };
  }
  const record = parseAuditRecord(value);
  if (typeof record === 'string') return { seq: expectedSeq, what: `malformed record: ${record}` };
  if (computeAuditHash(record, hmacKey) !== record.hash) {
    const keyHint = hmacKey === undefined ? ' (if the log is HMAC-keyed, give its key)' : '';
    return { seq: record.seq, what: `hash does not match the record's contents${keyHint}` };
  }
  return record;
}

/** An `audit.segment` record with the genesis `prevHash`: the chain legitimately restarts. */
function isSegmentStart(record: AuditRecord): boolean {
  return record.event === 'audit.segment' && record.prevHash === genesisHash;
}

/** Whether `record` follows `prev` (or, first, the anchor or the genesis). */
function linkProblem(
  record: AuditRecord,
  prev: Link | undefined,
  expectedSeq: number,
  options: VerifyAuditOptions,
): Problem | undefined {
  if (isSegmentStart(record)) {
    return prev !== undefined && record.seq <= prev.seq
      ? { seq: expectedSeq, what: `segment record goes back to seq ${record.seq}` }
      : undefined;
  }
  if (prev === undefined) return firstLinkProblem(record, options);
  if (record.seq !== expectedSeq) {
    return {
      seq: Math.min(expectedSeq, record.seq),
      what:
        record.seq > expectedSeq
          ? `missing or out of order: the next record is seq ${record.seq}`
          : `out of order: found seq ${record.seq} after seq ${prev.seq}`,
    };
  }
  if (record.prevHash !== prev.hash) {
    return {
      seq: record.seq,
      what: 'prevHash does not match the previous record (inserted or replaced)',
    };
  }
  return undefined;
}

/** Whether the first record given continues the anchor, or starts the chain. */
function firstLinkProblem(record: AuditRecord, options: VerifyAuditOptions): Problem | undefined {
  const { anchorHash, anchorSeq } = options;
  if (anchorHash === undefined) {
    return record.seq !== 1 || record.prevHash !== genesisHash
      ? {
          seq: 1,
          what: `chain starts at seq ${record.seq}, not at seq 1 with the genesis prevHash: earlier records are missing (give the previous file first, or --anchor)`,
        }
      : undefined;
  }
  if (record.prevHash !== anchorHash) {
    return { seq: record.seq, what: 'prevHash does not match the anchor hash' };
  }
  if (anchorSeq !== undefined && record.seq !== anchorSeq + 1) {
    return {
      seq: anchorSeq + 1,
      what: `the record after the anchor is seq ${record.seq}, not seq ${anchorSeq + 1}`,
    };
  }
  return undefined;
}

/** Whether `record` disagrees with the checkpoint (or, first, comes after its head). */
function checkpointProblem(
  record: AuditRecord,
  first: boolean,
  checkpoint: AuditCheckpoint | undefined,
): Problem | undefined {
  if (checkpoint === undefined) return undefined;
  if (first && checkpoint.seq < record.seq) {
    return {
      seq: checkpoint.seq,
      what: `the checkpoint's head (seq ${checkpoint.seq}) comes before the first record given (seq ${record.seq}); give the file that holds it`,
    };
  }
  if (record.seq === checkpoint.seq && record.hash !== checkpoint.hash) {
    return {
      seq: record.seq,
      what: `head differs from the checkpoint (written ${checkpoint.ts}): the checkpoint's record seq ${checkpoint.seq} has hash ${checkpoint.hash}, the log's has ${record.hash}`,
    };
  }
  return undefined;
}

/** What the chain read whole amounts to: empty, truncated against the checkpoint, or intact. */
function verdictAtEnd(
  read: {
    readonly records: number;
    readonly firstSeq: number;
    readonly prev: Link | undefined;
    readonly segments: readonly AuditSegmentStart[];
    readonly checkpointSeen: boolean;
  },
  options: VerifyAuditOptions,
): AuditVerifyResult {
  const { records, firstSeq, prev, segments } = read;
  const { checkpoint } = options;
  if (prev === undefined) {
    if (options.allowEmpty === true && checkpoint === undefined) {
      return { ok: true, records: 0, message: 'intact: no records after the anchor', segments };
    }
    const what = checkpoint === undefined ? '' : truncation(0, checkpoint);
    return { ok: false, records: 0, message: `no audit records found${what}`, segments };
  }
  if (checkpoint !== undefined && !read.checkpointSeen) {
    return {
      ok: false,
      records,
      firstBadSeq: Math.min(prev.seq + 1, checkpoint.seq),
      message:
        prev.seq < checkpoint.seq
          ? `seq ${prev.seq + 1}: TRUNCATED${truncation(prev.seq, checkpoint)}`
          : `seq ${checkpoint.seq}: the checkpoint's head record (hash ${checkpoint.hash}) is not in the chain (a segment restart skipped it)`,
      segments,
    };
  }
  const restarts = segments.length === 0 ? '' : `, ${segments.length} segment restart(s)`;
  const head =
    checkpoint === undefined
      ? ''
      : `, checkpoint seq ${checkpoint.seq} found${prev.seq > checkpoint.seq ? ` (${prev.seq - checkpoint.seq} records after it)` : ''}`;
  return {
    ok: true,
    records,
    message: `intact: ${records} records, seq ${firstSeq}..${prev.seq}${restarts}${head}, last hash ${prev.hash}`,
    segments,
    lastSeq: prev.seq,
    lastHash: prev.hash,
  };
}

function truncation(lastSeq: number, checkpoint: AuditCheckpoint): string {
  const missing = checkpoint.seq - lastSeq;
  return `: the log ends at seq ${lastSeq}, but the checkpoint written ${checkpoint.ts} records seq ${checkpoint.seq} (hash ${checkpoint.hash}): ${missing} record(s) cut from the end`;
}
