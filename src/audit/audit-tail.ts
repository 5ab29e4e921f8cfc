/**
 * Where an audit chain left off: the last record of the current file (or, when that is empty or
 * missing, of the newest rotated file), checked before the log appends to it.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { computeAuditHash } from './audit-hash.js';
import { unlessMissing } from '../fs-files.js';
import { readLastLines } from './audit-lines.js';
import { parseAuditRecord, type AuditRecord } from './audit-record.js';

/** The state of a chain's end. */
export type AuditTail =
  | { readonly state: 'empty' }
  | { readonly state: 'ok'; readonly file: string; readonly seq: number; readonly hash: string }
  | {
      readonly state: 'broken';
      readonly file: string;
      /** What is wrong, in one line. */
      readonly detail: string;
      /** The highest seq that could be read near the end, 0 when none. */
      readonly lastSeq: number;
    };

const rotatedSuffix = /^\.\d{12}$/;

/** The name a file gets when rotated away after the record `lastSeq`: `<path>.<12-digit seq>`. */
export function rotatedAuditPath(path: string, lastSeq: number): string {
  return `${path}.${String(lastSeq).padStart(12, '0')}`;
}

/** Rotated files of `path` (`<path>.<12 digits>`), oldest first. */
export async function listRotatedAuditFiles(path: string): Promise<string[]> {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.startsWith(base) && rotatedSuffix.test(name.slice(base.length)))
    .sort()
    .map((name) => join(dir, name));
}

async function sizeOf(path: string): Promise<number | undefined> {
  return (await unlessMissing(stat(path)))?.size;
}

function parseLine(line: string, hmacKey: Uint8Array | undefined): AuditRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'is not valid JSON';
  }
  const record = parseAuditRecord(value);
  if (typeof record === 'string') return record;
  if (computeAuditHash(record, hmacKey) !== record.hash) {
    return `(seq ${record.seq}) does not match its hash: the record was modified, or it was written with another HMAC key`;
  }
  return record;
}

function seqOf(line: string): number {
  const match = /"seq":(\d+)/.exec(line);
  return match?.[1] === undefined ? 0 : Number(match[1]);
}

async function inspectFile(file: string, hmacKey: Uint8Array | undefined): Promise<AuditTail> {
  const tail = await readLastLines(file, 2);
  const lastSeq = Math.max(0, ...tail.lines.map(seqOf));
  const broken = (detail: string): AuditTail => ({ state: 'broken', file, detail, lastSeq });
  if (tail.partial !== '') {
    return broken(
      `the last line is incomplete (${tail.partial.length} bytes after the last newline)`,
    );
  }
  const lastLine = tail.lines.at(-1);
  if (lastLine === undefined) return { state: 'empty' };
  const last = parseLine(lastLine, hmacKey);
  if (typeof last === 'string') return broken(`the last record ${last}`);
  const prevLine = tail.lines.length > 1 ? tail.lines[0] : undefined;
  if (prevLine !== undefined) {
    const prev = parseLine(prevLine, hmacKey);
    if (typeof prev === 'string') return broken(`the record before the last ${prev}`);
    if (prev.hash !== last.prevHash || prev.seq + 1 !== last.seq) {
      return broken(`the last record (seq ${last.seq}) does not follow the one before it`);
    }
  }
  return { state: 'ok', file, seq: last.seq, hash: last.hash };
}

/**
 * Reads and checks the end of the chain written at `path`: the last two records of the file
 * (read backwards, so the cost does not grow with the file), or of the newest rotated file when
 * `path` is missing or empty.
 */
export async function inspectAuditTail(
  path: string,
  hmacKey: Uint8Array | undefined,
): Promise<AuditTail> {
  const size = await sizeOf(path);
  if (size !== undefined && size > 0) return inspectFile(path, hmacKey);
  const newestRotated = (await listRotatedAuditFiles(path)).at(-1);
  return newestRotated === undefined ? { state: 'empty' } : inspectFile(newestRotated, hmacKey);
}
