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
import { basename, dirname } from 'node:path';
import { computeAuditHash, canonicalJson } from './audit-hash.js';
import {
  genesisHash,
  normalizeAuditEntry,
  type AuditEntry,
  type AuditRecord,
  type AuditRecordBody,
} from './audit-record.js';
import { AuditLogError } from './audit-log-error.js';
import { inspectAuditTail, rotatedAuditPath } from './audit-tail.js';

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
  /** `hash` of the last record written ({@link genesisHash} when none): an anchor for verify. */
  readonly lastHash: string;
  /**
   * Queues a record; resolves with it once durable per the fsync policy.
   *
   * @throws TypeError (as a rejection) for a field that is not allowed or has the wrong type;
   *   {@link AuditLogError} `AUDIT_WRITE_FAILED` when it could not be written, `AUDIT_CLOSED`
   *   after {@link AuditLog.close}.
   */
  append(entry: AuditEntry): Promise<AuditRecord>;
  /** Resolves when every record appended so far is written and fsynced. */
  flush(): Promise<void>;
  /** Flushes every queued record, fsyncs and closes the file. Idempotent. */
  close(): Promise<void>;
}

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

function compactTime(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('.', '');
}

/**
 * Opens (or creates) the audit log at `options.path`, checking the end of the existing chain so
 * that `seq` and the hash chain continue across restarts.
 *
 * @throws AuditLogError `AUDIT_BROKEN_TAIL` when the last record is torn or does not verify and
 *   `acceptBrokenTail` is not set; a file system error when the file cannot be opened.
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
  const tail = await inspectAuditTail(path, hmacKey);
  let lastSeq = 0;
  let lastHash = genesisHash;
  let segmentReason: string | undefined;
  if (tail.state === 'ok') {
    lastSeq = tail.seq;
    lastHash = tail.hash;
  } else if (tail.state === 'broken') {
    if (options.acceptBrokenTail !== true) {
      throw new AuditLogError(
        'AUDIT_BROKEN_TAIL',
        `audit log ${tail.file} has a broken tail: ${tail.detail}. Check it with "bastion audit verify"; to start a new chain segment instead, set acceptBrokenTail`,
      );
    }
    let where = basename(tail.file);
    if (tail.file === path) {
      const aside = `${path}.broken-${compactTime(now())}`;
      await rename(path, aside);
      where = `${basename(path)} (moved to ${basename(aside)})`;
    }
    lastSeq = tail.lastSeq;
    segmentReason = `broken tail in ${where}: ${tail.detail}; new chain segment after seq ${tail.lastSeq}`;
  }

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
    const lines: string[] = [];
    for (const item of batch) {
      const unsigned = { ...item.body, seq: ++seq, ts: item.ts, prevHash };
      const record = { ...unsigned, hash: computeAuditHash(unsigned, hmacKey) } as AuditRecord;
      records.push(record);
      lines.push(canonicalJson(record as unknown as Record<string, unknown>));
      prevHash = record.hash;
    }
    const data = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
    try {
      await repair();
      let h = await ensureOpen();
      if (maxBytes !== undefined && size > 0 && size + data.length > maxBytes) {
        await rotate(h);
        h = await ensureOpen();
      }
      await writeAll(h, data);
      if (policy === 'always') await h.datasync();
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
    if (policy !== 'always') {
      dirty = true;
      scheduleSync();
    }
    batch.forEach((item, i) => {
      item.resolve(records[i] as AuditRecord);
    });
  }

  async function sync(items: readonly PendingSync[]): Promise<void> {
    try {
      if (dirty && handle !== undefined) await handle.datasync();
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

  function kick(): void {
    if (!draining) void drain();
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
