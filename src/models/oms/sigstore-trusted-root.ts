import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { toTrustMaterial, type TrustMaterial } from '@sigstore/verify';

/** The Sigstore public-good trusted root shipped with Bastion (see config/sigstore/README.md). */
export const publicGoodTrustedRootPath = fileURLToPath(
  new URL('../../../config/sigstore/trusted_root.json', import.meta.url),
);

/** Refuse trusted-root files larger than this before parsing them. */
const maxTrustedRootBytes = 4 * 1024 * 1024;
const trustedRootMediaType = /^application\/vnd\.dev\.sigstore\.trustedroot(\.v\d+\.\d+)?\+json/;

/** A parsed `trusted_root.json`: the Fulcio CAs, Rekor and CT log keys and TSAs to check against. */
export interface SigstoreTrustedRoot {
  /** The file it came from (for messages). */
  readonly source: string;
  /** The form `@sigstore/verify` takes. */
  readonly material: TrustMaterial;
}

/**
 * Parses the bytes of a Sigstore `trusted_root.json`. Nothing is fetched: the file is the whole
 * trust, and it must name at least one certificate authority and one transparency log.
 * @throws Error naming `source` and what is wrong.
 */
export function parseSigstoreTrustedRoot(bytes: Buffer, source: string): SigstoreTrustedRoot {
  const fail = (why: string, cause?: unknown): Error =>
    new Error(`${source} is not a Sigstore trusted_root.json: ${why}`, { cause });
  if (bytes.length > maxTrustedRootBytes) throw fail('the file is too large');
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw fail('not valid JSON', error);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw fail('the top level is not an object');
  }
  const { mediaType } = json as { mediaType?: unknown };
  if (typeof mediaType !== 'string' || !trustedRootMediaType.test(mediaType)) {
    throw fail('mediaType is not application/vnd.dev.sigstore.trustedroot+json');
  }
  let material: TrustMaterial;
  try {
    material = toTrustMaterial(TrustedRoot.fromJSON(json));
  } catch (error) {
    throw fail(error instanceof Error ? error.message : String(error), error);
  }
  if (material.certificateAuthorities.length === 0)
    throw fail('it lists no certificateAuthorities');
  if (material.tlogs.length === 0) throw fail('it lists no tlogs (Rekor log keys)');
  return { source, material };
}

/**
 * Reads and parses a `trusted_root.json` (for `models.sigstoreTrustedRoot` and `--trusted-root`).
 * @throws Error naming the file.
 */
export async function loadSigstoreTrustedRoot(path: string): Promise<SigstoreTrustedRoot> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(`cannot read Sigstore trusted root ${path}`, { cause: error });
  }
  return parseSigstoreTrustedRoot(bytes, path);
}

let publicGood: SigstoreTrustedRoot | undefined;

/** The shipped public-good root, read once per process (never refreshed over the network). */
export function publicGoodTrustedRoot(): SigstoreTrustedRoot {
  publicGood ??= parseSigstoreTrustedRoot(
    readFileSync(publicGoodTrustedRootPath),
    'the shipped public-good trusted root',
  );
  return publicGood;
}
