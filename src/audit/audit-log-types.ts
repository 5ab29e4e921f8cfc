/** The types of the audit log writer (`createAuditLog` in audit-log.ts). */
import type { AuditCheckpoint } from './audit-checkpoint.js';
import type { AuditEntry, AuditRecord } from './audit-record.js';

/** When records are flushed to stable storage; see the module comment. */
export type AuditFsyncPolicy = 'always' | { readonly intervalMs: number };

/** Options for {@link createAuditLog}. */
export interface AuditLogOptions {
  /** The audit file (JSON lines). Its folder is created (mode 0700) if missing. */
  readonly path: string;
  /** HMAC-SHA-256 key for the chain (see `readHmacKeyFile`); plain SHA-256 when absent. */
  readonly hmacKey?: Uint8Array;
  /** Durability policy; default `'always'`. */
  readonly fsync?: AuditFsyncPolicy;
  /**
   * Rotate when the file would grow past this many bytes: it is renamed to `<path>.<last seq,
   * 12 digits>` and the chain continues in a new file. Rotation happens between batches, so a
   * file may exceed the limit by up to one batch. Default: no rotation.
   */
  readonly maxBytes?: number;
  /**
   * Open over a broken tail (a torn or modified last record) instead of refusing: the broken
   * file is renamed to `<path>.broken-<time>` (kept for forensics) and a new chain segment starts
   * with an `audit.segment` record whose `reason` records the break. Default false.
   */
  readonly acceptBrokenTail?: boolean;
  /**
   * The head checkpoint file (kept apart from the log, e.g. under `stateDir`). When set, opening
   * refuses (`AUDIT_CHECKPOINT_MISMATCH`) a log that is missing, shorter than the checkpoint, or
   * whose head differs, and a log with records but no checkpoint; every fsynced batch then
   * replaces the checkpoint (coalesced, off the response path), and `close` writes it durably.
   */
  readonly checkpointPath?: string;
  /**
   * Deliberate recovery: open over any finding (broken tail, checkpoint mismatch) by starting a
   * new chain segment whose `audit.segment` record says what was found. Default false.
   */
  readonly recover?: boolean;
  /** Called when the checkpoint could not be written (the log itself is unaffected). */
  readonly onCheckpointError?: (error: Error) => void;
  /** Called once per failed write with the error and the number of records it failed. */
  readonly onError?: (error: Error, failedRecords: number) => void;
  /** Mode of a newly created audit file; default 0o600. */
  readonly fileMode?: number;
  /** Clock for `ts`; default `() => new Date()`. */
  readonly now?: () => Date;
}

/** An open audit log. */
export interface AuditLog {
  /** The file being written. */
  readonly path: string;
  /** False after a write failed, true again after the next successful write. */
  readonly healthy: boolean;
  /** Appends that were rejected because their record could not be written. */
  readonly writeFailures: number;
  /** `seq` of the last record written (0 when none). */
  readonly lastSeq: number;
  /** `hash` of the last record written (the genesis hash when none): an anchor for verify. */
  readonly lastHash: string;
  /**
   * Queues a record; resolves with it once durable per the fsync policy.
   *
   * @throws TypeError (as a rejection) for a field that is not allowed or has the wrong type;
   *   {@link AuditLogError} `AUDIT_WRITE_FAILED` when it could not be written, `AUDIT_CLOSED`
   *   after {@link AuditLog.close}.
   */
  append(entry: AuditEntry): Promise<AuditRecord>;
  /** The current head as a keyed checkpoint (the external witness logs it); undefined when empty. */
  checkpoint(): AuditCheckpoint | undefined;
  /** Records written and `fdatasync` calls made since open: records per fsync = records / syncs. */
  stats(): AuditLogStats;
  /** Resolves when every record appended so far is written and fsynced. */
  flush(): Promise<void>;
  /** Flushes every queued record, fsyncs and closes the file. Idempotent. */
  close(): Promise<void>;
}

/** Counters of {@link AuditLog.stats}. */
export interface AuditLogStats {
  readonly records: number;
  readonly syncs: number;
  readonly writes: number;
}
