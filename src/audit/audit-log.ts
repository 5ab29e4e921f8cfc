/**
 * The audit log writer: an append-only, hash-chained JSON lines file, separate from the
 * application log.
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
 */
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createCheckpointKeeper, type AuditHead } from './audit-checkpoint.js';
import type { AuditLog, AuditLogOptions } from './audit-log-types.js';
import { serializeAuditRecord } from './audit-hash.js';
import { openAuditChain } from './audit-open.js';
import { normalizeAuditEntry, type AuditRecord, type AuditRecordBody } from './audit-record.js';
import { AuditLogError } from './audit-log-error.js';
import { rotatedAuditPath } from './audit-tail.js';

export type {
  AuditFsyncPolicy,
  AuditLog,
  AuditLogOptions,
  AuditLogStats,
} from './audit-log-types.js';

interface PendingRecord {
  readonly kind: 'record';
  readonly ts: string;
  readonly body: AuditRecordBody;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: Error) => void;
}

interface PendingSync {
  readonly kind: 'sync';
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** Most records in one write: bounds memory and how far a batch may overshoot `maxBytes`. */
const maxBatchRecords = 4096;

async function fsyncDir(path: string): Promise<void> {
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself has happened.
  } finally {
    await dir.close();
  }
}

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
  const { path, hmacKey, maxBytes, onError } = options;
  const policy = options.fsync ?? 'always';
  const fileMode = options.fileMode ?? 0o600;
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
  let lastSeq = opened.lastSeq;
  let lastHash = opened.lastHash;
  const segmentReason = opened.segmentReason;
  const stats = { records: 0, syncs: 0, writes: 0 };
  const keeper = createCheckpointKeeper(options.checkpointPath, hmacKey, now, (error) => {
    try {
      options.onCheckpointError?.(error);
    } catch {
      // A throwing listener must not stop the writer.
    }
  });
  /** The head written but (in interval mode) not yet fsynced. */
  let writtenHead: AuditHead | undefined;

  let handle: FileHandle | undefined;
  let size = 0;
  let healthy = true;
  let writeFailures = 0;
  let repairTo: number | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  let draining = false;
  let syncTimer: NodeJS.Timeout | undefined;
  let dirty = false;
  const queue: (PendingRecord | PendingSync)[] = [];

  async function ensureOpen(): Promise<FileHandle> {
    if (handle !== undefined) return handle;
    const created = await stat(path).then(
      () => false,
      () => true,
    );
    const h = await open(path, 'a', fileMode);
    try {
      size = (await h.stat()).size;
    } catch (error) {
      await h.close();
      throw error;
    }
    handle = h;
    if (created) await fsyncDir(path);
    return h;
  }

  async function rotate(h: FileHandle): Promise<void> {
    await h.datasync();
    stats.syncs++;
    await h.close();
    handle = undefined;
    await rename(path, rotatedAuditPath(path, lastSeq));
    await fsyncDir(path);
  }

  async function writeAll(h: FileHandle, data: Buffer): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await h.write(data, offset, data.length - offset);
      offset += bytesWritten;
      size += bytesWritten;
      if (bytesWritten > 0) repairTo ??= size - offset;
    }
  }

  /** Cuts a partly written batch off the file so the chain on disk stays whole. */
  async function repair(): Promise<void> {
    if (repairTo === undefined || handle === undefined) return;
    await handle.truncate(repairTo);
    size = repairTo;
    repairTo = undefined;
  }

  function fail(error: unknown, rejects: readonly ((error: Error) => void)[]): void {
    healthy = false;
    writeFailures += rejects.length;
    const failure = new AuditLogError(
      'AUDIT_WRITE_FAILED',
      `audit log ${path}: write failed (${(error as Error).message})`,
      { cause: error },
    );
    for (const reject of rejects) reject(failure);
    try {
      onError?.(failure, rejects.length);
    } catch {
      // A throwing listener must not stop the writer.
    }
  }

  function scheduleSync(): void {
    if (typeof policy === 'string' || syncTimer !== undefined) return;
    syncTimer = setTimeout(() => {
      syncTimer = undefined;
      queue.push({ kind: 'sync', resolve: () => undefined, reject: () => undefined });
      kick();
    }, policy.intervalMs);
    syncTimer.unref();
  }

  async function writeBatch(batch: readonly PendingRecord[]): Promise<void> {
    let seq = lastSeq;
    let prevHash = lastHash;
    const records: AuditRecord[] = [];
    let text = '';
    for (const item of batch) {
      // One object per record: `hash` is not part of what is hashed, so it is filled in after.
      const record: { -readonly [K in keyof AuditRecord]: AuditRecord[K] } = {
        ...item.body,
        seq: ++seq,
        ts: item.ts,
        prevHash,
        hash: '',
      };
      const { hash, line } = serializeAuditRecord(record, hmacKey);
      record.hash = hash;
      records.push(record);
      text += `${line}\n`;
      prevHash = hash;
    }
    const data = Buffer.from(text, 'utf8');
    try {
      await repair();
      let h = await ensureOpen();
      if (maxBytes !== undefined && size > 0 && size + data.length > maxBytes) {
        await rotate(h);
        h = await ensureOpen();
      }
      await writeAll(h, data);
      stats.writes++;
      if (policy === 'always') {
        await h.datasync();
        stats.syncs++;
      }
    } catch (error) {
      await repair().catch(() => undefined);
      fail(
        error,
        batch.map((item) => item.reject),
      );
      return;
    }
    repairTo = undefined;
    lastSeq = seq;
    lastHash = prevHash;
    healthy = true;
    stats.records += batch.length;
    writtenHead = { log: path, file: path, offset: size, seq, hash: prevHash };
    if (policy === 'always') keeper.update(writtenHead);
    else {
      dirty = true;
      scheduleSync();
    }
    batch.forEach((item, i) => {
      item.resolve(records[i] as AuditRecord);
    });
  }

  async function sync(items: readonly PendingSync[]): Promise<void> {
    try {
      const head = writtenHead;
      if (dirty && handle !== undefined) {
        await handle.datasync();
        stats.syncs++;
        if (head !== undefined) keeper.update(head);
      }
      dirty = false;
      for (const item of items) item.resolve();
    } catch (error) {
      healthy = false;
      const failure = new AuditLogError(
        'AUDIT_WRITE_FAILED',
        `audit log ${path}: fsync failed (${(error as Error).message})`,
        { cause: error },
      );
      for (const item of items) item.reject(failure);
      try {
        onError?.(failure, 0);
      } catch {
        // A throwing listener must not stop the writer.
      }
    }
  }

  async function drain(): Promise<void> {
    draining = true;
    try {
      while (queue.length > 0) {
        if (queue[0]?.kind === 'record') {
          let n = 0;
          while (n < queue.length && n < maxBatchRecords && queue[n]?.kind === 'record') n++;
          await writeBatch(queue.splice(0, n) as PendingRecord[]);
        } else {
          let n = 0;
          while (n < queue.length && queue[n]?.kind === 'sync') n++;
          await sync(queue.splice(0, n) as PendingSync[]);
        }
      }
    } finally {
      draining = false;
    }
  }

  let kicked = false;
  /**
   * Starts the writer after the current event-loop turn, so every record appended in that turn
   * (many requests answered together) shares one write and one fdatasync; while a write is in
   * flight, new records queue for the next one.
   */
  function kick(): void {
    if (draining || kicked) return;
    kicked = true;
    setImmediate(() => {
      kicked = false;
      if (!draining) void drain();
    });
  }

  function flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      queue.push({ kind: 'sync', resolve, reject });
      kick();
    });
  }

  async function closeOnce(): Promise<void> {
    try {
      await flush();
    } finally {
      if (syncTimer !== undefined) clearTimeout(syncTimer);
      syncTimer = undefined;
      const h = handle;
      handle = undefined;
      await h?.close();
      await keeper.close().catch((error: unknown) => {
        options.onCheckpointError?.(error instanceof Error ? error : new Error(String(error)));
      });
    }
  }

  const log: AuditLog = {
    path,
    get healthy() {
      return healthy;
    },
    get writeFailures() {
      return writeFailures;
    },
    get lastSeq() {
      return lastSeq;
    },
    get lastHash() {
      return lastHash;
    },
    append(entry) {
      if (closed) {
        return Promise.reject(new AuditLogError('AUDIT_CLOSED', `audit log ${path} is closed`));
      }
      let body: AuditRecordBody;
      try {
        body = normalizeAuditEntry(entry);
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
      }
      const ts = now().toISOString();
      return new Promise<AuditRecord>((resolve, reject) => {
        queue.push({ kind: 'record', ts, body, resolve, reject });
        kick();
      });
    },
    checkpoint: () => keeper.current(),
    stats: () => ({ ...stats }),
    flush,
    close() {
      closed = true;
      closing ??= closeOnce();
      return closing;
    },
  };

  if (segmentReason !== undefined) {
    await log.append({ event: 'audit.segment', outcome: 'error', reason: segmentReason });
    await log.flush();
  } else {
    await ensureOpen();
  }
  return log;
}
