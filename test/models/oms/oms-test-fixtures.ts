// Shared helpers for the OMS tests: temp model folders, run-time keys, hand-made bundles.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPae } from '../../../src/models/oms/dsse-pae.js';
import { createKeyHint } from '../../../src/models/oms/signing-key.js';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The shared OMS vectors; `BASTION_OMS_VECTORS` names them when tests run from a copy (Stryker). */
export const vectorsRoot =
  process.env.BASTION_OMS_VECTORS ?? resolve(projectRoot, '../shared/vectors/oms');

export interface TestKeys {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly privatePem: string;
  readonly publicPem: string;
}

export function createTestKeys(namedCurve = 'prime256v1'): TestKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
  return {
    privateKey,
    publicKey,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

/** A fresh temp folder holding `files` (relative POSIX path → content). */
export async function createTempModel(
  files: Record<string, string | Buffer>,
): Promise<{ readonly root: string; readonly cleanup: () => Promise<void> }> {
  const base = await mkdtemp(join(tmpdir(), 'bastion-oms-'));
  const root = join(base, 'model');
  await mkdir(root);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, name)), { recursive: true });
    await writeFile(join(root, name), content);
  }
  return { root, cleanup: () => rm(base, { recursive: true, force: true }) };
}

/** Signs an arbitrary statement (any JSON) as a key-mode bundle — for malformed-statement tests. */
export function createKeyBundle(
  statement: unknown,
  keys: TestKeys,
  overrides: { readonly payloadType?: string; readonly mediaType?: string } = {},
): string {
  const payloadType = overrides.payloadType ?? 'application/vnd.in-toto+json';
  const payload = Buffer.from(JSON.stringify(statement, null, 2));
  const sig = sign('sha256', createPae(payloadType, payload), {
    key: keys.privateKey,
    dsaEncoding: 'der',
  });
  return JSON.stringify({
    mediaType: overrides.mediaType ?? 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: createKeyHint(keys.publicKey) }, tlogEntries: [] },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    },
  });
}
