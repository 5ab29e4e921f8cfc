/**
 * Where an audit chain continues when the log is opened: its tail checked, and compared with the
 * head checkpoint when there is one. A finding refuses the start (`AuditLogError`) unless the
 * caller asked for recovery, which starts a new chain segment whose first record says what was
 * found.
 */
import { open, rename, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { unlessMissing } from '../fs-files.js';
import { readAuditCheckpoint, type AuditCheckpoint } from './audit-checkpoint.js';
import { AuditLogError } from './audit-log-error.js';
import { genesisHash, parseAuditRecord } from './audit-record.js';
import { inspectAuditTail, listRotatedAuditFiles } from './audit-tail.js';
import { verifyAuditFiles } from './audit-verify.js';

/** How to open: see `AuditLogOptions`. */
export interface OpenChainOptions {
  readonly path: string;
  readonly hmacKey: Uint8Array | undefined;
  readonly checkpointPath: string | undefined;
  readonly acceptBrokenTail: boolean;
  readonly recover: boolean;
  readonly now: () => Date;
}

/** Where the chain continues, and the reason for a new segment when one must start. */
export interface OpenedChain {
  readonly lastSeq: number;
  readonly lastHash: string;
  readonly segmentReason: string | undefined;
}

/** What the operator is told to do about a finding. */
export const recoveryHint =
  'check the log with "bastion audit verify FILE --checkpoint CHECKPOINT --key KEY"; after investigating, start once with "bastion serve --recover-audit" to begin a new chain segment that records this finding';

function compactTime(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace('.', '');
}

const rotatedSeq = (file: string): number => Number(file.slice(file.lastIndexOf('.') + 1));

/** The file that holds the checkpoint's head record now (rotation renames the live file). */
async function fileOfHead(path: string, checkpoint: AuditCheckpoint): Promise<string[]> {
  const rotated = await listRotatedAuditFiles(path);
  const named = join(dirname(path), checkpoint.file);
  let first = rotated.indexOf(named);
  if (checkpoint.file === basename(path)) {
    first = rotated.findIndex((file) => rotatedSeq(file) >= checkpoint.seq);
  }
  if (first === -1) return checkpoint.file === basename(path) ? [path] : [named];
  return [...rotated.slice(first), path];
}

async function lineEndingAt(file: string, offset: number): Promise<string | undefined> {
  const len = Math.min(offset, 64 * 1024);
  const buf = Buffer.alloc(len);
  const handle = await open(file, 'r');
  try {
    await handle.read(buf, 0, len, offset - len);
  } finally {
    await handle.close();
  }
  if (buf[len - 1] !== 0x0a) return undefined;
  const start = buf.lastIndexOf(0x0a, len - 2) + 1;
  return buf.toString('utf8', start, len - 1);
}

/** Compares the log at `path` with `checkpoint`; a one-line finding, or undefined when it holds. */
export async function checkAgainstCheckpoint(
  path: string,
  checkpoint: AuditCheckpoint,
  hmacKey: Uint8Array | undefined,
  forward = true,
): Promise<string | undefined> {
  const said = `the checkpoint (written ${checkpoint.ts}) records seq ${checkpoint.seq}, hash ${checkpoint.hash}, ending at byte ${checkpoint.offset} of ${checkpoint.file}`;
  if (checkpoint.log !== path) return `the checkpoint is for ${checkpoint.log}, not ${path}`;
  if (checkpoint.seq === 0) return undefined;
  const files = await fileOfHead(path, checkpoint);
  const [file] = files as [string];
  const size = (await unlessMissing(stat(file)))?.size;
  if (size === undefined) return `the audit log ${file} is missing; ${said}`;
  if (size < checkpoint.offset) {
    return `the audit log ${file} is shorter than the checkpoint (${size} bytes): records were cut; ${said}`;
  }
  const line = await lineEndingAt(file, checkpoint.offset);
  let record: ReturnType<typeof parseAuditRecord> = 'no record ends there';
  try {
    if (line !== undefined) record = parseAuditRecord(JSON.parse(line));
  } catch {
    record = 'not a JSON record';
  }
  if (
    typeof record === 'string' ||
    record.seq !== checkpoint.seq ||
    record.hash !== checkpoint.hash
  ) {
    const found =
      typeof record === 'string' ? record : `seq ${record.seq} with hash ${record.hash}`;
    return `the head of ${file} differs from the checkpoint: at byte ${checkpoint.offset} there is ${found}; ${said}`;
  }
  if (!forward) return undefined;
  const existing: string[] = [];
  for (const f of files) {
    if (
      await stat(f).then(
        () => true,
        () => false,
      )
    )
      existing.push(f);
  }
  const after = await verifyAuditFiles(existing, {
    ...(hmacKey === undefined ? {} : { hmacKey }),
    anchorHash: checkpoint.hash,
    anchorSeq: checkpoint.seq,
    startOffset: checkpoint.offset,
    allowEmpty: true,
  });
  return after.ok ? undefined : `the records after the checkpoint do not verify: ${after.message}`;
}

/**
 * Checks the end of the chain at `options.path` (and against the checkpoint, when one is kept)
 * and says where to continue.
 *
 * @throws AuditLogError `AUDIT_BROKEN_TAIL` for a torn or modified last record (unless
 *   `acceptBrokenTail` or `recover`), `AUDIT_CHECKPOINT_MISMATCH` when the log does not match the
 *   checkpoint or there is none for an existing log (unless `recover`).
 */
export async function openAuditChain(options: OpenChainOptions): Promise<OpenedChain> {
  const { path, hmacKey, checkpointPath, recover, now } = options;
  const tail = await inspectAuditTail(path, hmacKey);
  let finding: string | undefined;
  let checkpointSeq = 0;
  if (checkpointPath !== undefined) {
    const checkpoint = await readAuditCheckpoint(checkpointPath, hmacKey);
    if (typeof checkpoint === 'string') {
      finding = `the head checkpoint ${checkpointPath} ${checkpoint}`;
    } else if (checkpoint === undefined) {
      if (tail.state !== 'empty') {
        finding = `the audit log ${path} has records but there is no head checkpoint at ${checkpointPath} (deleted, or the first start of a version that keeps one)`;
      }
    } else {
      checkpointSeq = checkpoint.seq;
      // Over a broken tail only the head is looked for: the bytes after it are what is broken.
      finding = await checkAgainstCheckpoint(path, checkpoint, hmacKey, tail.state !== 'broken');
    }
  }
  if (tail.state === 'broken') {
    if (finding !== undefined && !recover) {
      throw new AuditLogError(
        'AUDIT_CHECKPOINT_MISMATCH',
        `audit log refused: ${tail.file} has a broken tail (${tail.detail}) and ${finding}. ${recoveryHint}`,
      );
    }
    if (!options.acceptBrokenTail && !recover) {
      throw new AuditLogError(
        'AUDIT_BROKEN_TAIL',
        `audit log ${tail.file} has a broken tail: ${tail.detail}. ${recoveryHint} (or set audit.acceptBrokenTail)`,
      );
    }
    let where = basename(tail.file);
    if (tail.file === path) {
      const aside = `${path}.broken-${compactTime(now())}`;
      await rename(path, aside);
      where = `${basename(path)} (moved to ${basename(aside)})`;
    }
    const lastSeq = Math.max(tail.lastSeq, checkpointSeq);
    const also = finding === undefined ? '' : `; also: ${finding}`;
    return {
      lastSeq,
      lastHash: genesisHash,
      segmentReason: `broken tail in ${where}: ${tail.detail}${also}; new chain segment after seq ${lastSeq}`,
    };
  }
  if (finding === undefined) {
    return tail.state === 'ok'
      ? { lastSeq: tail.seq, lastHash: tail.hash, segmentReason: undefined }
      : { lastSeq: 0, lastHash: genesisHash, segmentReason: undefined };
  }
  if (!recover) {
    throw new AuditLogError(
      'AUDIT_CHECKPOINT_MISMATCH',
      `audit log refused: ${finding}. ${recoveryHint}`,
    );
  }
  const lastSeq = Math.max(tail.state === 'ok' ? tail.seq : 0, checkpointSeq);
  return {
    lastSeq,
    lastHash: genesisHash,
    segmentReason: `recovery requested: ${finding}; new chain segment after seq ${lastSeq}`,
  };
}
