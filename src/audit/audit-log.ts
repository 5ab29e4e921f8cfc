/**
 * The audit log: an append-only, hash-chained JSON lines file, separate from the application log.
 *
 * Durability ({@link AuditFsyncPolicy}):
 * - `'always'` (default): `append` resolves only after the `fdatasync` that covers its record, so
 *   a resolved record survives a power loss. Concurrent appends are group-committed: every record
 *   queued while a write is in flight goes out in the next single `write` + `fdatasync`.
 * - `{ intervalMs }`: `append` resolves once its record is written to the kernel (it survives a
 *   crash of the process, not of the machine); `fdatasync` runs at most `intervalMs` after the
 *   first unsynced write, so at most about `intervalMs` of records are at risk on power loss.
 *
 * In both modes `append` rejects when its record could not be written; the file is cut back to
 * the last whole record so the chain stays intact. Refusing to answer a request whose record was
 * not written (fail closed) is the caller's decision; {@link AuditLog.healthy}, `onError` and
 * {@link AuditLog.writeFailures} report the failures.
 *
 * This module opens the chain; the writer is audit-writer.ts and the file it writes audit-file.ts.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createCheckpointKeeper } from './audit-checkpoint.js';
import type { AuditFsyncPolicy, AuditLog, AuditLogOptions } from './audit-log-types.js';
import { openAuditChain } from './audit-open.js';
import { AuditWriter, tell } from './audit-writer.js';

export type {
  AuditFsyncPolicy,
  AuditLog,
  AuditLogOptions,
  AuditLogStats,
} from './audit-log-types.js';

/**
 * Opens (or creates) the audit log at `options.path`, checking the end of the existing chain so
 * that `seq` and the hash chain continue across restarts.
 *
 * @throws AuditLogError `AUDIT_BROKEN_TAIL` when the last record is torn or does not verify and
 *   neither `acceptBrokenTail` nor `recover` is set; `AUDIT_CHECKPOINT_MISMATCH` when the log does
 *   not match its checkpoint (see `checkpointPath`); a file system error when the file cannot be
 *   opened.
 */
export async function createAuditLog(options: AuditLogOptions): Promise<AuditLog> {
  const { path, hmacKey, onCheckpointError } = options;
  const policy: AuditFsyncPolicy = options.fsync ?? 'always';
  const now = options.now ?? ((): Date => new Date());
  if (typeof policy !== 'string' && !(policy.intervalMs > 0)) {
    throw new RangeError('audit fsync intervalMs must be > 0');
  }

  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const opened = await openAuditChain({
    path,
    hmacKey,
    checkpointPath: options.checkpointPath,
    acceptBrokenTail: options.acceptBrokenTail === true,
    recover: options.recover === true,
    now,
  });
  const keeper = createCheckpointKeeper(options.checkpointPath, hmacKey, now, (error) => {
    tell(onCheckpointError, error);
  });
  const log = new AuditWriter({
    path,
    hmacKey,
    maxBytes: options.maxBytes,
    policy,
    fileMode: options.fileMode ?? 0o600,
    now,
    keeper,
    lastSeq: opened.lastSeq,
    lastHash: opened.lastHash,
    onError: options.onError,
    onCheckpointError,
  });
  if (opened.segmentReason !== undefined) {
    await log.append({ event: 'audit.segment', outcome: 'error', reason: opened.segmentReason });
    await log.flush();
  } else {
    await log.open();
  }
  return log;
}
