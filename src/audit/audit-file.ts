/**
 * The audit file as the writer holds it: the open handle, the size written so far and, while a
 * batch is being written, the offset to cut the file back to if the batch fails part way. Every
 * method is called by one writer at a time (the queue in audit-writer.ts), never concurrently.
 */
import { constants } from 'node:fs';
import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { rotatedAuditPath } from './audit-tail.js';

/** fsyncs the folder holding `path`, so a file created or renamed in it survives a power loss. */
export async function fsyncDir(path: string): Promise<void> {
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
 * How the file is opened for appending. With `durableWrites` every write is synchronised as
 * fdatasync would (O_DSYNC): one thread-pool job per batch instead of a write and an fdatasync,
 * each of which costs a thread wake-up and a completion (measured in this file's commit message).
 */
const appendFlags = (durableWrites: boolean): number =>
  constants.O_WRONLY |
  constants.O_APPEND |
  constants.O_CREAT |
  (durableWrites ? constants.O_DSYNC : 0);

export class AuditFile {
  #handle: FileHandle | undefined;
  #size = 0;
  /** Where the file ended before the batch being written; set once its first byte is written. */
  #repairTo: number | undefined;
  readonly #fileMode: number;
  readonly #durableWrites: boolean;
  /**
   * Durable flushes made, rotations' included: fdatasync calls, or with `durableWrites`, batches
   * written (each write returned only once its data was on disk).
   */
  syncs = 0;

  /**
   * @param durableWrites open with O_DSYNC, for `fsync: always`: a batch is durable when
   *   {@link write} resolves, and {@link datasync} only counts it.
   */
  constructor(
    readonly path: string,
    fileMode: number,
    durableWrites = false,
  ) {
    this.#fileMode = fileMode;
    this.#durableWrites = durableWrites;
  }

  /** Bytes in the file, as this writer has written it. */
  get size(): number {
    return this.#size;
  }

  /** Opens the file for appending (creating it, and fsyncing its folder, if it is new). */
  async open(): Promise<FileHandle> {
    if (this.#handle !== undefined) return this.#handle;
    const created = await stat(this.path).then(
      () => false,
      () => true,
    );
    const h = await open(this.path, appendFlags(this.#durableWrites), this.#fileMode);
    try {
      this.#size = (await h.stat()).size;
    } catch (error) {
      await h.close();
      throw error;
    }
    this.#handle = h;
    if (created) await fsyncDir(this.path);
    return h;
  }

  /**
   * Writes one batch: first cuts off what a failed batch left, then rotates when the batch would
   * take a non-empty file past `maxBytes` (renaming it after `lastSeq`, its last record), then
   * writes every byte. After a failure, {@link repair} restores the file's last whole record.
   */
  async write(data: Buffer, maxBytes: number | undefined, lastSeq: number): Promise<void> {
    await this.repair();
    let h = await this.open();
    if (maxBytes !== undefined && this.#size > 0 && this.#size + data.length > maxBytes) {
      await this.#rotate(h, lastSeq);
      h = await this.open();
    }
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await h.write(data, offset, data.length - offset);
      offset += bytesWritten;
      this.#size += bytesWritten;
      if (bytesWritten > 0) this.#repairTo ??= this.#size - offset;
    }
  }

  /** The batch written is whole: nothing to cut back any more. */
  commit(): void {
    this.#repairTo = undefined;
  }

  /** Cuts a partly written batch off the file so the chain on disk stays whole. */
  async repair(): Promise<void> {
    if (this.#repairTo === undefined || this.#handle === undefined) return;
    await this.#handle.truncate(this.#repairTo);
    this.#size = this.#repairTo;
    this.#repairTo = undefined;
  }

  /**
   * fdatasync of the open file; false (and nothing done) when it is not open. With
   * `durableWrites` the data written is already synchronised: only counted, no system call.
   */
  async datasync(): Promise<boolean> {
    if (this.#handle === undefined) return false;
    if (!this.#durableWrites) await this.#handle.datasync();
    this.syncs++;
    return true;
  }

  async close(): Promise<void> {
    const h = this.#handle;
    this.#handle = undefined;
    await h?.close();
  }

  async #rotate(h: FileHandle, lastSeq: number): Promise<void> {
    await h.datasync();
    this.syncs++;
    await h.close();
    this.#handle = undefined;
    await rename(this.path, rotatedAuditPath(this.path, lastSeq));
    await fsyncDir(this.path);
  }
}
