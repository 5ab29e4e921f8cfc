/**
 * The file-system helpers every domain shares: telling "not there" from every other failure,
 * and replacing a file atomically.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** True for a file-system error that means "no such file or folder" (ENOENT) and nothing else. */
export function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null | undefined)?.code === 'ENOENT';
}

/**
 * What `operation` resolves to, or `undefined` when what it reads does not exist (ENOENT); any
 * other failure (EACCES, EISDIR, EIO…) is thrown.
 */
export async function unlessMissing<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** True when something (even a dangling symlink) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  return (await unlessMissing(lstat(path))) !== undefined;
}

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Permission bits of the new file (the umask still applies). */
  readonly mode: number;
  /** Replace an existing file; otherwise fail with `EEXIST`, even if it appears mid-write. */
  readonly overwrite: boolean;
  /**
   * fsync the file before it is moved into place and the folder after, so the new file survives
   * a power loss. Without it the move still survives a crash of the process. Default false.
   */
  readonly durable?: boolean;
}

/**
 * Writes `data` to a temporary file beside `path`, then moves it into place, so readers see the
 * old file or the whole new one, never a partial write. Without `overwrite` the move is a hard
 * link, which fails with `EEXIST` instead of replacing a file. The temporary file never outlives
 * the call.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions,
): Promise<void> {
  const temp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  try {
    const handle = await open(temp, 'wx', options.mode);
    try {
      await handle.writeFile(data);
      if (options.durable === true) await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.overwrite) await rename(temp, path);
    else await linkNoReplace(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
  if (options.durable === true) await syncFolder(dirname(path));
}

async function linkNoReplace(temp: string, path: string): Promise<void> {
  try {
    await link(temp, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Some file systems have no hard links; fall back to check-then-rename there.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
    if (await exists(path)) throw Object.assign(new Error(`${path} exists`), { code: 'EEXIST' });
    await rename(temp, path);
  }
}

/** fsyncs a folder (its entries); a file system that refuses it is left as it is. */
async function syncFolder(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself has happened.
  } finally {
    await dir.close();
  }
}
