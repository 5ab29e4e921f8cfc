import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RefusalError } from '../errors.js';

/** The files of one version folder, read once into memory. */
export interface VersionFiles {
  /** Relative POSIX path → the exact bytes that were read (and, when signed, hashed). */
  readonly files: ReadonlyMap<string, Buffer>;
  /** Who signed it (key or root fingerprint), or undefined when loaded unsigned. */
  readonly signedBy: string | undefined;
}

/** Produces a version's files, verified or not. */
export type VersionReader = (dir: string, model: string) => Promise<VersionFiles>;

/** Files that never belong to a model's content. */
const signatureFile = 'model.sig';

/**
 * Reads every regular file under `dir` without verifying anything: the `allowUnsigned` path.
 * Symlinks and special files are refused all the same.
 *
 * @throws RefusalError `symlink` or `special-file` naming the offending entry.
 */
export async function readUnsignedVersion(dir: string): Promise<VersionFiles> {
  const files = new Map<string, Buffer>();
  async function walk(rel: string): Promise<void> {
    for (const entry of await readdir(join(dir, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const stat = await lstat(join(dir, path));
      if (stat.isSymbolicLink()) {
        throw new RefusalError('symlink', `"${path}" is a symbolic link`);
      }
      if (stat.isDirectory()) await walk(path);
      else if (stat.isFile()) {
        if (path !== signatureFile) files.set(path, await readFile(join(dir, path)));
      } else throw new RefusalError('special-file', `"${path}" is not a regular file`);
    }
  }
  await walk('');
  return { files, signedBy: undefined };
}
