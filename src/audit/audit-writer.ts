/**
 * The audit log's writer (see audit-log.ts for the durability policies): one queue of records
 * and sync requests, drained after the event-loop turn that filled it, so every record appended
 * in a turn shares one write and, with `fsync: 'always'`, one fdatasync. While a write is in
 * flight new records queue for the next one. The chain's head (`lastSeq`, `lastHash`) moves only
 * when a batch is written whole.
 */
import type { CheckpointKeeper, AuditHead } from './audit-checkpoint.js';
import { AuditFile } from './audit-file.js';
import { serializeAuditRecord } from './audit-hash.js';
import { AuditLogError } from './audit-log-error.js';
import type { AuditFsyncPolicy, AuditLog, AuditLogStats } from './audit-log-types.js';
import {
  normalizeAuditEntry,
  type AuditEntry,
  type AuditRecord,
  type AuditRecordBody,
} from './audit-record.js';

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

type MutableRecord = { -readonly [K in keyof AuditRecord]: AuditRecord[K] };

/** Most records in one write: bounds memory and how far a batch may overshoot `maxBytes`. */
export const maxBatchRecords = 4096;

/** What the writer is given once the chain is open. */
export interface AuditWriterSettings {
  readonly path: string;
  readonly hmacKey: Uint8Array | undefined;
  readonly maxBytes: number | undefined;
  readonly policy: AuditFsyncPolicy;
  readonly fileMode: number;
  readonly now: () => Date;
  readonly keeper: CheckpointKeeper;
  /** The head of the chain as opened: the next record is `lastSeq + 1`, linked to `lastHash`. */
  readonly lastSeq: number;
  readonly lastHash: string;
  readonly onError: ((error: Error, failedRecords: number) => void) | undefined;
  readonly onCheckpointError: ((error: Error) => void) | undefined;
}

/** Calls a listener, which must not stop the writer by throwing. */
export function tell<A extends unknown[]>(
  listener: ((...args: A) => void) | undefined,
  ...args: A
): void {
  try {
    listener?.(...args);
  } catch {
    // A throwing listener must not stop the writer.
  }
}

function failure(path: string, what: string, error: unknown): AuditLogError {
  return new AuditLogError(
    'AUDIT_WRITE_FAILED',
    `audit log ${path}: ${what} failed (${(error as Error).message})`,
    { cause: error },
  );
}

/** An open audit log: {@link AuditLog} over one {@link AuditFile}. */
export class AuditWriter implements AuditLog {
  readonly path: string;
  readonly #settings: AuditWriterSettings;
  readonly #file: AuditFile;
  readonly #queue: (PendingRecord | PendingSync)[] = [];
  #lastSeq: number;
  #lastHash: string;
  #healthy = true;
  #writeFailures = 0;
  #records = 0;
  #writes = 0;
  /** The head written but (in interval mode) not yet fsynced. */
  #writtenHead: AuditHead | undefined;
  #dirty = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #draining = false;
  #kicked = false;
  #syncTimer: NodeJS.Timeout | undefined;
  /** Made once: the callback of the `setImmediate` that starts a drain. */
  readonly #startDrain = (): void => {
    this.#kicked = false;
    if (!this.#draining) void this.#drain();
  };

  constructor(settings: AuditWriterSettings) {
    this.#settings = settings;
    this.path = settings.path;
    this.#file = new AuditFile(settings.path, settings.fileMode, settings.policy === 'always');
    this.#lastSeq = settings.lastSeq;
    this.#lastHash = settings.lastHash;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  get writeFailures(): number {
    return this.#writeFailures;
  }

  get lastSeq(): number {
    return this.#lastSeq;
  }

  get lastHash(): string {
    return this.#lastHash;
  }

  /** Opens (or creates) the file before the first record needs it. */
  async open(): Promise<void> {
    await this.#file.open();
  }

  append(entry: AuditEntry): Promise<AuditRecord> {
    if (this.#closed) {
      return Promise.reject(new AuditLogError('AUDIT_CLOSED', `audit log ${this.path} is closed`));
    }
    let body: AuditRecordBody;
    try {
      body = normalizeAuditEntry(entry);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new TypeError(String(error)));
    }
    const ts = this.#settings.now().toISOString();
    return new Promise<AuditRecord>((resolve, reject) => {
      this.#queue.push({ kind: 'record', ts, body, resolve, reject });
      this.#kick();
    });
  }

  checkpoint(): ReturnType<AuditLog['checkpoint']> {
    return this.#settings.keeper.current();
  }

  stats(): AuditLogStats {
    return { records: this.#records, syncs: this.#file.syncs, writes: this.#writes };
  }

  flush(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ kind: 'sync', resolve, reject });
      this.#kick();
    });
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#closeOnce();
    return this.#closing;
  }

  async #closeOnce(): Promise<void> {
    try {
      await this.flush();
    } finally {
      if (this.#syncTimer !== undefined) clearTimeout(this.#syncTimer);
      this.#syncTimer = undefined;
      await this.#file.close();
      await this.#settings.keeper.close().catch((error: unknown) => {
        tell(
          this.#settings.onCheckpointError,
          error instanceof Error ? error : new Error(String(error)),
        );
      });
    }
  }

  /**
   * Starts the writer after the current event-loop turn, so every record appended in that turn
   * (many requests answered together) shares one write and one fdatasync; while a write is in
   * flight, new records queue for the next one.
   */
  #kick(): void {
    if (this.#draining || this.#kicked) return;
    this.#kicked = true;
    setImmediate(this.#startDrain);
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0) {
        if (this.#queue[0]?.kind === 'record') {
          await this.#writeBatch(this.#takeRun('record', maxBatchRecords) as PendingRecord[]);
        } else {
          await this.#sync(this.#takeRun('sync', Infinity) as PendingSync[]);
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Takes the queue's leading items of one kind, at most `max` of them. */
  #takeRun(kind: 'record' | 'sync', max: number): (PendingRecord | PendingSync)[] {
    const queue = this.#queue;
    let n = 0;
    while (n < queue.length && n < max && queue[n]?.kind === kind) n++;
    return queue.splice(0, n);
  }

  /** Chains, serializes and writes one batch; resolves its appends, or rejects them all. */
  async #writeBatch(batch: readonly PendingRecord[]): Promise<void> {
    const { hmacKey, maxBytes, policy, keeper } = this.#settings;
    let seq = this.#lastSeq;
    let prevHash = this.#lastHash;
    const records: AuditRecord[] = [];
    let text = '';
    for (const item of batch) {
      // One object per record: `hash` is not part of what is hashed, so it is filled in after.
      // Object.assign, not a spread with the extra fields: V8 copies the body's fields in well
      // under a microsecond that way, against about 13 for `{ ...body, seq, ts, prevHash }`
      // (measured on Node 20; the spread was most of the writer's own time per record).
      const record = Object.assign({}, item.body) as MutableRecord;
      record.seq = ++seq;
      record.ts = item.ts;
      record.prevHash = prevHash;
      record.hash = '';
      const { hash, line } = serializeAuditRecord(record, hmacKey);
      record.hash = hash;
      records.push(record);
      text += `${line}\n`;
      prevHash = hash;
    }
    try {
      await this.#file.write(Buffer.from(text, 'utf8'), maxBytes, this.#lastSeq);
      this.#writes++;
      if (policy === 'always') await this.#file.datasync();
    } catch (error) {
      await this.#file.repair().catch(() => undefined);
      this.#fail(
        error,
        batch.map((item) => item.reject),
      );
      return;
    }
    this.#file.commit();
    this.#lastSeq = seq;
    this.#lastHash = prevHash;
    this.#healthy = true;
    this.#records += batch.length;
    this.#writtenHead = {
      log: this.path,
      file: this.path,
      offset: this.#file.size,
      seq,
      hash: prevHash,
    };
    if (policy === 'always') keeper.update(this.#writtenHead);
    else {
      this.#dirty = true;
      this.#scheduleSync(policy.intervalMs);
    }
    batch.forEach((item, i) => {
      item.resolve(records[i] as AuditRecord);
    });
  }

  #fail(error: unknown, rejects: readonly ((error: Error) => void)[]): void {
    this.#healthy = false;
    this.#writeFailures += rejects.length;
    const failed = failure(this.path, 'write', error);
    for (const reject of rejects) reject(failed);
    tell(this.#settings.onError, failed, rejects.length);
  }

  /** In interval mode: queues a sync `intervalMs` after the first unsynced write. */
  #scheduleSync(intervalMs: number): void {
    if (this.#syncTimer !== undefined) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      this.#queue.push({ kind: 'sync', resolve: () => undefined, reject: () => undefined });
      this.#kick();
    }, intervalMs);
    this.#syncTimer.unref();
  }

  async #sync(items: readonly PendingSync[]): Promise<void> {
    try {
      const head = this.#writtenHead;
      if (this.#dirty && (await this.#file.datasync()) && head !== undefined) {
        this.#settings.keeper.update(head);
      }
      this.#dirty = false;
      for (const item of items) item.resolve();
    } catch (error) {
      this.#healthy = false;
      const failed = failure(this.path, 'fsync', error);
      for (const item of items) item.reject(failed);
      tell(this.#settings.onError, failed, 0);
    }
  }
}
