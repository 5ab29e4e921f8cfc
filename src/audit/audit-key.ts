/**
 * The audit chain's HMAC key in development: created on first start under `stateDir` (like the
 * development token issuer's key), reused after. Production names its own key file
 * (`audit.hmacKeyFile`); see docs/operations.md "Audit log".
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isNotFound, writeFileAtomic } from '../fs-files.js';
import { readHmacKeyFile } from './audit-hash.js';

/**
 * Reads the key at `path`, or creates it: 32 random bytes written as 64 hex characters, mode 0600,
 * via a temporary file linked into place, so a reader never sees a partial key and two processes
 * starting together end up with the same one. A key file whose mode lets others read it is
 * tightened to 0600.
 *
 * @throws Error when the file exists but cannot be read or is shorter than 32 bytes.
 */
export async function loadOrCreateAuditKey(path: string): Promise<Uint8Array> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) await chmod(path, 0o600);
    return await readHmacKeyFile(path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  try {
    const key = `${randomBytes(32).toString('hex')}\n`;
    await writeFileAtomic(path, key, { mode: 0o600, overwrite: false });
  } catch (error) {
    // EEXIST when another process won the race: use its key.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return readHmacKeyFile(path);
}
