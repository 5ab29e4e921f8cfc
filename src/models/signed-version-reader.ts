import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { RefusalError } from '../errors.js';
import { isNotFound } from '../fs-files.js';
import { ModelContentError } from './external-data.js';
import { verifyModelDirectory } from './oms/verify-model.js';
import type { TrustPolicy } from './trust-policy.js';
import { readUnsignedVersion, type VersionReader } from './version-files.js';

/** Options of {@link createSignedVersionReader}. */
export interface SignedVersionReaderOptions {
  readonly trust: TrustPolicy;
  /** Serve versions that carry no `model.sig` (never in production). */
  readonly allowUnsigned: boolean;
  /** Extra paths inside a version folder that signatures do not cover. */
  readonly ignorePaths: readonly string[];
}

/**
 * Reads a version folder for loading: every file is read once into memory, hashed, and checked
 * against `model.sig` with the keys and roots allowed for the model; the caller gets those very
 * bytes. A folder without `model.sig` is refused unless `allowUnsigned` — and a signature that is
 * present must verify, whatever `allowUnsigned` says. Only a `model.sig` that does not exist
 * counts as "unsigned": one that cannot be looked up for any other reason refuses the version.
 */
export function createSignedVersionReader(options: SignedVersionReaderOptions): VersionReader {
  return async (dir, model) => {
    if (!(await hasSignatureFile(dir))) {
      if (options.allowUnsigned) return readUnsignedVersion(dir);
      throw new RefusalError(
        'unsigned',
        'no signature (model.sig): sign the version with `npx bastion sign` and trust the publisher key in models.trustedKeys',
      );
    }
    const trust = options.trust.forModel(model);
    if (trust.names.length === 0) {
      throw new RefusalError(
        'no-trusted-signer',
        `no trusted key, root or identity may sign model "${model}"`,
      );
    }
    const verified = await verifyModelDirectory({
      root: dir,
      trust,
      ignorePaths: options.ignorePaths,
    });
    const signer = verified.signer;
    const name =
      signer.method === 'key'
        ? trust.keyName(signer.keyIndex)
        : signer.method === 'keyless'
          ? trust.identityName(signer.identityIndex)
          : trust.rootName(signer.rootIndex);
    return { files: verified.files, signedBy: name ?? signer.method };
  };
}

/**
 * Whether the version folder has a `model.sig` entry (of any type: verification refuses links
 * and special files). Absent means ENOENT and nothing else.
 *
 * @throws ModelContentError `unreadable` for any other error (EACCES, ENOTDIR, ELOOP, EIO…), so
 *   that such a version is refused, never downgraded to "unsigned".
 */
export async function hasSignatureFile(dir: string): Promise<boolean> {
  try {
    await lstat(join(dir, 'model.sig'));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (isNotFound(error)) return false;
    throw new ModelContentError(
      'unreadable',
      `the signature file model.sig cannot be looked up (${code ?? String(error)}); fix the version folder's permissions`,
      { cause: error },
    );
  }
}
