/**
 * The head checkpoint: where the audit chain ended when the gateway last wrote it (`seq`, `hash`,
 * the file and byte offset of that record, the time), keyed with the audit HMAC key and kept
 * apart from the log (under `stateDir`), replaced atomically. A start compares the log with it, so
 * records cut from the end, a deleted log or a replaced head are found even though each remaining
 * record still verifies. The same object, logged periodically, is the external witness.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { unlessMissing, writeFileAtomic } from '../fs-files.js';
import { canonicalJson } from './audit-hash.js';

/** A head checkpoint as stored (JSON) and as logged by the witness. */
export interface AuditCheckpoint {
  /** Format version. */
  readonly v: 1;
  /** The live audit file (`audit.path`), absolute. */
  readonly log: string;
  /** Name (in the log's folder) of the file holding the head record when this was written. */
  readonly file: string;
  /** Bytes of that file up to and including the head record's newline. */
  readonly offset: number;
  readonly seq: number;
  readonly hash: string;
  /** When the checkpoint was written (ISO 8601 UTC). */
  readonly ts: string;
  /** HMAC-SHA-256 (SHA-256 without a key) over the canonical form of the other fields. */
  readonly mac: string;
}

/** The head a checkpoint records, before it is stamped and keyed. */
export type AuditHead = Pick<AuditCheckpoint, 'log' | 'file' | 'offset' | 'seq' | 'hash'>;

/** Domain separation: a checkpoint MAC can never be mistaken for a record hash. */
const macPrefix = 'bastion audit checkpoint v1\n';

function macOf(fields: Omit<AuditCheckpoint, 'mac'>, key: Uint8Array | undefined): string {
  const h = key === undefined ? createHash('sha256') : createHmac('sha256', key);
  return h.update(macPrefix + canonicalJson({ ...fields }), 'utf8').digest('hex');
}

/** Stamps and keys a head. */
export function makeAuditCheckpoint(
  head: AuditHead,
  key: Uint8Array | undefined,
  now: Date,
): AuditCheckpoint {
  const fields = { v: 1 as const, ...head, file: basename(head.file), ts: now.toISOString() };
  return { ...fields, mac: macOf(fields, key) };
}

const hex64 = /^[0-9a-f]{64}$/;

/**
 * Parses a checkpoint (the file's JSON, or a witness line from the application log that carries
 * it as `auditHead`) and checks its MAC with `key`.
 *
 * @returns the checkpoint, or a one-line reason it is unusable.
 */
export function parseAuditCheckpoint(
  text: string,
  key: Uint8Array | undefined,
): AuditCheckpoint | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'is not valid JSON';
  }
  if (typeof value === 'object' && value !== null && 'auditHead' in value) {
    value = value.auditHead;
  }
  if (typeof value !== 'object' || value === null) return 'is not a JSON object';
  const c = value as Record<string, unknown>;
  const keys = Object.keys(c).sort().join(',');
  if (keys !== 'file,hash,log,mac,offset,seq,ts,v' || c['v'] !== 1) {
    return 'is not a Bastion audit checkpoint (v1)';
  }
  const { log, file, offset, seq, hash, ts, mac } = c;
  if (
    typeof log !== 'string' ||
    typeof file !== 'string' ||
    file.includes('/') ||
    typeof ts !== 'string' ||
    typeof offset !== 'number' ||
    !Number.isSafeInteger(offset) ||
    offset < 0 ||
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq) ||
    seq < 0 ||
    typeof hash !== 'string' ||
    !hex64.test(hash) ||
    typeof mac !== 'string'
  ) {
    return 'has a field of the wrong type';
  }
  const checkpoint = { v: 1 as const, log, file, offset, seq, hash, ts, mac };
  const { mac: _mac, ...fields } = checkpoint;
  if (macOf(fields, key) !== mac) {
    return 'does not verify with the audit key: it was modified, or written with another key';
  }
  return checkpoint;
}

/**
 * Reads the checkpoint at `path`.
 *
 * @returns undefined when there is none; a one-line reason when it is unusable.
 * @throws the file system error for anything but absence.
 */
export async function readAuditCheckpoint(
  path: string,
  key: Uint8Array | undefined,
): Promise<AuditCheckpoint | string | undefined> {
  const text = await unlessMissing(readFile(path, 'utf8'));
  return text === undefined ? undefined : parseAuditCheckpoint(text, key);
}

/**
 * Replaces the checkpoint at `path` atomically (a temporary file renamed over it, mode 0600).
 * With `durable`, the file and its folder are fsynced too (at shutdown); otherwise the rename
 * survives a crash of the process but maybe not a power loss, which leaves an older checkpoint:
 * a start accepts a log that runs past its checkpoint when the chain from it verifies.
 */
export async function writeAuditCheckpoint(
  path: string,
  checkpoint: AuditCheckpoint,
  durable: boolean,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(checkpoint)}\n`, {
    mode: 0o600,
    overwrite: true,
    durable,
  });
}

/** Keeps the checkpoint file in step with the log's durable head; see {@link createCheckpointKeeper}. */
export interface CheckpointKeeper {
  /** A new durable head: the file is replaced soon (one write in flight, the latest wins). */
  update(head: AuditHead): void;
  /** The latest head as a keyed checkpoint; undefined before the first record. */
  current(): AuditCheckpoint | undefined;
  /** Waits for the write in flight and writes the latest head durably (fsync). */
  close(): Promise<void>;
}

/**
 * Least time between two checkpoint writes while records flow. A write costs several file system
 * calls (mkdir, open, write, close, rename); at one fsynced batch per millisecond, writing each
 * head would cost more than the records themselves. The checkpoint may lag the log by this much
 * after a crash (a start accepts a log that runs past its checkpoint when the chain from it
 * verifies); a clean close always writes the final head, durably.
 */
export const checkpointIntervalMs = 200;

/**
 * Creates the keeper of the checkpoint at `path` (undefined: none is kept, `current` still
 * works). Writes run beside the log writer, never in a response's path, at most one per
 * `intervalMs` (the first head at once, then the latest head when the interval has passed); a
 * failed write is reported to `onError` and retried with the next head.
 */
export function createCheckpointKeeper(
  path: string | undefined,
  key: Uint8Array | undefined,
  now: () => Date,
  onError: (error: Error) => void,
  intervalMs = checkpointIntervalMs,
): CheckpointKeeper {
  let head: AuditHead | undefined;
  let written: AuditHead | undefined;
  let writing: Promise<void> | undefined;
  let lastStart = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  let closing = false;

  function pump(): void {
    if (path === undefined || closing || writing !== undefined || timer !== undefined) return;
    if (head === undefined || head === written) return;
    const wait = lastStart + intervalMs - performance.now();
    if (wait > 0) {
      timer = setTimeout(() => {
        timer = undefined;
        pump();
      }, wait);
      timer.unref();
      return;
    }
    const next = head;
    lastStart = performance.now();
    writing = writeAuditCheckpoint(path, makeAuditCheckpoint(next, key, now()), false).then(
      () => {
        written = next;
      },
      (error: unknown) => {
        onError(error instanceof Error ? error : new Error(String(error)));
      },
    );
    void writing.finally(() => {
      writing = undefined;
      pump();
    });
  }

  return {
    update(next) {
      head = next;
      pump();
    },
    current: () => (head === undefined ? undefined : makeAuditCheckpoint(head, key, now())),
    async close() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      closing = true; // no further timed writes: the durable one below is the last
      while (writing !== undefined) await writing.catch(() => undefined);
      if (path === undefined || head === undefined) return;
      await writeAuditCheckpoint(path, makeAuditCheckpoint(head, key, now()), true);
      written = head;
    },
  };
}
