import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
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
 * present must verify, whatever `allowUnsigned` says.
 */
export function createSignedVersionReader(options: SignedVersionReaderOptions): VersionReader {
  return async (dir, model) => {
    const signed = await lstat(join(dir, 'model.sig')).then(
      () => true,
      () => false,
    );
    if (!signed) {
      if (options.allowUnsigned) return readUnsignedVersion(dir);
      throw new Error(
        'no signature (model.sig): sign the version with `npx bastion sign` and trust the publisher key in models.trustedKeys',
      );
    }
    const trust = options.trust.forModel(model);
    if (trust.names.length === 0) {
      throw new Error(`no trusted key, root or identity may sign model "${model}"`);
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
