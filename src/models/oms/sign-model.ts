import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { lstat, writeFile } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { createPae } from './dsse-pae.js';
import { walkModel } from './model-walk.js';
import { bundleMediaType, inTotoPayloadType } from './oms-bundle.js';
import { omsPredicateType, statementType } from './oms-statement.js';
import { OmsVerificationError } from './oms-verification-error.js';
import {
  createPathExclusion,
  defaultIgnorePaths,
  isInside,
  normalizeIgnorePath,
} from './path-exclusion.js';
import { assertResourceName } from './resource-name.js';
import { createKeyHint, hashForKey } from './signing-key.js';

/** Options for {@link signModelDirectory}. */
export interface SignModelOptions {
  /** The model: a folder (usual) or a single file. */
  readonly root: string;
  /** The signer's ECDSA P-256/384/521 private key, PEM (PKCS#8 or SEC1), or a `KeyObject`. */
  readonly privateKeyPem: string | KeyObject;
  /** Paths to leave unsigned, relative to the model root (recorded in the statement). */
  readonly ignorePaths?: readonly string[];
  /** Where to write the bundle; relative to the model folder. Default `model.sig`. */
  readonly signatureFile?: string;
}

/** A written signature. */
export interface SignedModel {
  readonly signaturePath: string;
  /** The bundle exactly as written (compact JSON, as the reference tool writes it). */
  readonly bundleJson: string;
  /** Signed resource names → digests, in statement order. */
  readonly digests: ReadonlyMap<string, string>;
}

function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Signs a model in OMS key mode, writing a bundle laid out like the reference `model_signing`
 * tool's (v1.1): `publicKey.hint`, DSSE with `keyid: ""`, an in-toto v1 statement with
 * `files` serialization and the recorded `ignore_paths`. Symlinks and special files are refused.
 * @throws OmsVerificationError `unsupported` (key type), `statement-invalid` (no files to sign),
 *   `resource-name`, `symlink`, `special-file`.
 */
export async function signModelDirectory(options: SignModelOptions): Promise<SignedModel> {
  const privateKey =
    typeof options.privateKeyPem === 'string'
      ? createPrivateKey(options.privateKeyPem)
      : options.privateKeyPem;
  const publicKey = createPublicKey(privateKey);
  const hash = hashForKey(publicKey);
  const root = resolve(options.root);
  const rootIsFolder = (await lstat(root)).isDirectory();
  const signaturePath = resolve(
    rootIsFolder ? root : dirname(root),
    options.signatureFile ?? 'model.sig',
  );
  const signatureRelative = relative(root, signaturePath).split(sep).join('/');
  const inside = rootIsFolder && isInside(signatureRelative);
  const ignorePaths = [
    ...new Set(
      [
        ...defaultIgnorePaths,
        ...(inside ? [signatureRelative] : []),
        ...(options.ignorePaths ?? []),
      ]
        .map(normalizeIgnorePath)
        .filter((p): p is string => p !== undefined),
    ),
  ];
  const walked = await walkModel(root, {
    exclusion: createPathExclusion(ignorePaths),
    keepBytes: false,
  });
  if (walked.length === 0) {
    throw new OmsVerificationError('statement-invalid', 'model has no files to sign');
  }
  walked.sort((a, b) => compareCodePoints(a.name, b.name));
  const subjectDigest = createHash('sha256');
  const resources = walked.map((file) => {
    assertResourceName(file.name);
    subjectDigest.update(Buffer.from(file.digest, 'hex'));
    return { algorithm: 'sha256', name: file.name, digest: file.digest };
  });
  const statement = {
    _type: statementType,
    subject: [{ name: basename(root), digest: { sha256: subjectDigest.digest('hex') } }],
    predicateType: omsPredicateType,
    predicate: {
      resources,
      serialization: {
        allow_symlinks: false,
        method: 'files',
        hash_type: 'sha256',
        ignore_paths: ignorePaths,
      },
    },
  };
  const payload = Buffer.from(JSON.stringify(statement, null, 2), 'utf8');
  const signature = sign(hash, createPae(inTotoPayloadType, payload), {
    key: privateKey,
    dsaEncoding: 'der',
  });
  const bundle = {
    mediaType: bundleMediaType,
    verificationMaterial: { publicKey: { hint: createKeyHint(publicKey) }, tlogEntries: [] },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: inTotoPayloadType,
      signatures: [{ sig: signature.toString('base64'), keyid: '' }],
    },
  };
  const bundleJson = JSON.stringify(bundle);
  await writeFile(signaturePath, bundleJson, { encoding: 'utf8' });
  return { signaturePath, bundleJson, digests: new Map(walked.map((f) => [f.name, f.digest])) };
}
