import { lstat, readFile } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { isNotFound } from '../../fs-files.js';
import { assertSameDigests } from './manifest-compare.js';
import { parseOmsBundle, maxBundleBytes } from './oms-bundle.js';
import { legacyPredicateType, parseOmsStatement, type OmsStatement } from './oms-statement.js';
import { OmsVerificationError } from './oms-verification-error.js';
import { createPathExclusion, defaultIgnorePaths, isInside } from './path-exclusion.js';
import { verifyOmsEnvelope, type OmsSigner, type OmsTrust } from './verify-envelope.js';
import { walkModel, type WalkedFile } from './model-walk.js';

/** Options for {@link verifyModelDirectory} and {@link verifyModelSignature}. */
export interface VerifyModelOptions {
  /** The model: a folder (usual) or a single file. */
  readonly root: string;
  /**
   * The signature file; relative paths resolve against the model folder (or, for a single-file
   * model, the file's folder). Default `model.sig`.
   */
  readonly signatureFile?: string;
  readonly trust: OmsTrust;
  /** Extra paths to leave out, relative to the model root (exact path or folder prefix). */
  readonly ignorePaths?: readonly string[];
  /** Verification time for certificate validity. Default: now. */
  readonly now?: Date;
}

/** The outcome of a successful verification, without file contents. */
export interface ModelVerification {
  readonly signer: OmsSigner;
  /** `files` or `shards` (v0.2 legacy signatures are reported as `files`). */
  readonly serialization: OmsStatement['method'];
  /** True for `model_signing` v0.2 signatures (predicate `Digests/v0.1`). */
  readonly legacyFormat: boolean;
  /** Relative POSIX path → hex SHA-256 of every verified file. */
  readonly digests: ReadonlyMap<string, string>;
  /** Absolute path of the signature file that was checked. */
  readonly signaturePath: string;
}

/** A verified model and the exact bytes that were hashed — hand these to the runtime. */
export interface VerifiedModel extends ModelVerification {
  /** Relative POSIX path → the bytes read once and hashed. Excluded files are absent. */
  readonly files: ReadonlyMap<string, Buffer>;
}

function signatureLocation(root: string, rootIsFolder: boolean, signatureFile: string): string {
  return resolve(rootIsFolder ? root : dirname(root), signatureFile);
}

async function readSignature(path: string): Promise<Buffer> {
  const stats = await lstat(path).catch((error: unknown) => {
    if (isNotFound(error)) {
      throw new OmsVerificationError(
        'bundle-malformed',
        `signature file ${basename(path)} not found; the model is unsigned`,
      );
    }
    throw error;
  });
  if (stats.isSymbolicLink())
    throw new OmsVerificationError('symlink', 'signature file is a symlink');
  if (!stats.isFile())
    throw new OmsVerificationError('special-file', 'signature file is not a regular file');
  if (stats.size > maxBundleBytes)
    throw new OmsVerificationError('bundle-malformed', 'signature file is too large');
  return readFile(path);
}

/** Maps the on-disk files to the names the signature uses ("." = the only file). */
function actualDigests(
  statement: OmsStatement,
  walked: readonly WalkedFile[],
): Map<string, string> {
  const names = [...statement.resources.keys()];
  const dotOnly =
    walked.length === 1 &&
    (statement.method === 'files'
      ? names.length === 1 && names[0] === '.'
      : names.every((n) => n.startsWith('.:')));
  const actual = new Map<string, string>();
  for (const file of walked) {
    if (statement.method === 'files') {
      actual.set(dotOnly ? '.' : file.name, file.digest);
      continue;
    }
    if (file.shards === undefined || file.shards.size === 0) {
      // Shard signatures cannot cover an empty file; refuse rather than load it unsigned.
      throw new OmsVerificationError(
        'file-extra',
        `model has an empty file ${JSON.stringify(file.name)} that shard signatures cannot cover`,
      );
    }
    for (const [shard, digest] of file.shards) {
      actual.set(dotOnly ? `.${shard.slice(file.name.length)}` : shard, digest);
    }
  }
  return actual;
}

async function verify(options: VerifyModelOptions, keepBytes: boolean) {
  const root = resolve(options.root);
  const rootStats = await lstat(root);
  if (rootStats.isSymbolicLink())
    throw new OmsVerificationError('symlink', 'model path is a symlink');
  const rootIsFolder = rootStats.isDirectory();
  const signaturePath = signatureLocation(root, rootIsFolder, options.signatureFile ?? 'model.sig');
  const bundle = parseOmsBundle(await readSignature(signaturePath));
  const envelope = verifyOmsEnvelope(bundle, options.trust, options.now ?? new Date());
  const statement = parseOmsStatement(envelope.payload);
  const legacyFormat = statement.predicateType === legacyPredicateType;
  if (envelope.legacyEncoding && !legacyFormat) {
    throw new OmsVerificationError(
      'bad-signature',
      'legacy signature encoding is only accepted for legacy statements',
    );
  }
  const signatureRelative = relative(root, signaturePath);
  const signatureInside = rootIsFolder && isInside(signatureRelative);
  const exclusion = createPathExclusion([
    ...defaultIgnorePaths,
    ...statement.ignorePaths,
    ...(options.ignorePaths ?? []),
    ...(signatureInside ? [signatureRelative.split(sep).join('/')] : []),
  ]);
  const walked = await walkModel(root, { exclusion, keepBytes, shardSize: statement.shardSize });
  assertSameDigests(
    statement.resources,
    actualDigests(statement, walked),
    statement.method === 'shards' ? 'shard' : 'file',
  );
  const verification: ModelVerification = {
    signer: envelope.signer,
    serialization: statement.method,
    legacyFormat,
    digests: new Map(walked.map((f) => [f.name, f.digest])),
    signaturePath,
  };
  return { verification, walked };
}

/**
 * Verifies an OMS-signed model and returns the bytes it hashed, read exactly once, so the caller
 * never re-opens a path after the check. Every file in the folder but the signature and the
 * excluded ones must be signed with exactly the digest on disk.
 * @throws OmsVerificationError with a stable `reason` when anything does not verify; file system
 *   errors (the model folder missing, permissions) pass through unchanged.
 */
export async function verifyModelDirectory(options: VerifyModelOptions): Promise<VerifiedModel> {
  const { verification, walked } = await verify(options, true);
  const files = new Map<string, Buffer>();
  for (const file of walked) if (file.bytes !== undefined) files.set(file.name, file.bytes);
  return { ...verification, files };
}

/**
 * Like {@link verifyModelDirectory} but streams each file through the hash without keeping its
 * bytes (for `bastion verify` on large models).
 */
export async function verifyModelSignature(
  options: VerifyModelOptions,
): Promise<ModelVerification> {
  return (await verify(options, false)).verification;
}
