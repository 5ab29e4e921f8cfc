import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isOmsVerificationError } from '../models/oms/oms-verification-error.js';
import { parseCertificatesPem } from '../models/oms/certificate-chain.js';
import { parsePublicKeyPem } from '../models/oms/signing-key.js';
import {
  loadSigstoreTrustedRoot,
  type SigstoreTrustedRoot,
} from '../models/oms/sigstore-trusted-root.js';
import type { OmsSigner } from '../models/oms/verify-envelope.js';
import { verifyModelSignature } from '../models/oms/verify-model.js';
import { exitCodes, parseCommandArgs, type CliCommand, type CliIo } from './cli-io.js';
import { resolveIgnorePaths } from './model-path-args.js';

const usage =
  'usage: bastion verify DIR (--key PUBLIC.pem | --certificate-chain CA.pem | --identity I --identity-provider URL [--trusted-root FILE]) [--signature FILE] [--ignore-paths PATH]...';

function describeSigner(signer: OmsSigner, keyFiles: readonly string[]): string {
  switch (signer.method) {
    case 'key':
      return `key ${keyFiles[signer.keyIndex] ?? ''}`;
    case 'certificate':
      return `certificate "${signer.leafSubject}" chaining to root ${signer.rootFingerprint}`;
    case 'keyless': {
      const logged =
        signer.integratedTime === undefined
          ? ''
          : `, logged in Rekor at ${signer.integratedTime.toISOString()} (index ${signer.logIndex ?? '?'})`;
      return `${signer.identity} (issuer ${signer.issuer ?? '?'})${logged}`;
    }
  }
}

async function readTrust(
  cwd: string,
  files: readonly string[],
  check: (text: string) => void,
): Promise<string[]> {
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(resolve(cwd, file), 'utf8');
      check(text);
      return text;
    }),
  );
}

/**
 * `bastion verify DIR (--key PUB | --certificate-chain CA | --identity I --identity-provider URL
 * [--trusted-root FILE])`: checks an OMS signature and that every file in DIR has exactly the
 * signed digest, streaming files without keeping them. Keyless bundles are checked offline
 * against the shipped Sigstore public-good root unless `--trusted-root` names another.
 * `--signature` defaults to `DIR/model.sig` (a given path is relative to the working directory);
 * `--key`, `--certificate-chain` and `--ignore-paths` may repeat. Exit 0 verified; 1 not
 * verified, with the reason on one stderr line; 2 on bad usage or unreadable trust files.
 */
export const verifyCommand: CliCommand = async (argv, io) => {
  const parsed = parseVerifyArgs(argv, io);
  if (typeof parsed === 'number') return parsed;
  const request = verifyRequest(parsed, io);
  if (typeof request === 'number') return request;
  const trust = await loadTrust(request, io);
  if (typeof trust === 'number') return trust;
  return verify(request, trust, io);
};

/** Parses `verify`'s options strictly; on a malformed line, says why and returns the usage code. */
function parseVerifyArgs(argv: readonly string[], io: CliIo) {
  return parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        key: { type: 'string', multiple: true },
        'certificate-chain': { type: 'string', multiple: true },
        identity: { type: 'string', multiple: true },
        'identity-provider': { type: 'string', multiple: true },
        'trusted-root': { type: 'string', multiple: true },
        signature: { type: 'string' },
        'ignore-paths': { type: 'string', multiple: true },
      },
    },
    usage,
    io,
  );
}

type VerifyArgs = Exclude<ReturnType<typeof parseVerifyArgs>, typeof exitCodes.usage>;

/** What to verify and against which trust files: a command line that passed {@link verifyRequest}. */
interface VerifyRequest {
  readonly dir: string;
  readonly keyFiles: readonly string[];
  readonly caFiles: readonly string[];
  readonly identity: string | undefined;
  readonly issuer: string | undefined;
  readonly rootFile: string | undefined;
  readonly values: VerifyArgs['values'];
}

/** The one value of an option given at most once: undefined when absent, null when repeated. */
function once(
  values: VerifyArgs['values'],
  name: 'identity' | 'identity-provider' | 'trusted-root',
): string | null | undefined {
  const given = values[name] ?? [];
  return given.length > 1 ? null : given[0];
}

/** Checks the options go together (one trust method, each at most once); else says why. */
function verifyRequest(
  { values, positionals }: VerifyArgs,
  io: CliIo,
): VerifyRequest | typeof exitCodes.usage {
  const [dir] = positionals;
  const keyFiles = values.key ?? [];
  const caFiles = values['certificate-chain'] ?? [];
  if (positionals.length !== 1 || dir === undefined) {
    io.stderr(`exactly one model folder is required; ${usage}`);
    return exitCodes.usage;
  }
  const identity = once(values, 'identity');
  const issuer = once(values, 'identity-provider');
  const rootFile = once(values, 'trusted-root');
  if (identity === null || issuer === null || rootFile === null) {
    io.stderr(`--identity, --identity-provider and --trusted-root are given once; ${usage}`);
    return exitCodes.usage;
  }
  const methods = [keyFiles.length > 0, caFiles.length > 0, identity !== undefined];
  if (methods.filter(Boolean).length !== 1) {
    io.stderr(`give one of --key, --certificate-chain or --identity; ${usage}`);
    return exitCodes.usage;
  }
  if ((identity === undefined) !== (issuer === undefined) || identity === '' || issuer === '') {
    io.stderr(`--identity and --identity-provider go together; ${usage}`);
    return exitCodes.usage;
  }
  if (rootFile !== undefined && identity === undefined) {
    io.stderr(`--trusted-root is for keyless verification (--identity); ${usage}`);
    return exitCodes.usage;
  }
  return { dir, keyFiles, caFiles, identity, issuer, rootFile, values };
}

/** The model folder and the trust files' contents, each checked to parse. */
interface LoadedTrust {
  readonly root: string;
  readonly keys: string[];
  readonly roots: string[];
  readonly sigstoreRoot: SigstoreTrustedRoot | undefined;
}

/** Reads the trust files (and checks the folder exists); an unreadable one is a usage error. */
async function loadTrust(
  request: VerifyRequest,
  io: CliIo,
): Promise<LoadedTrust | typeof exitCodes.usage> {
  const root = resolve(io.cwd, request.dir);
  try {
    await stat(root);
    const sigstoreRoot =
      request.rootFile === undefined
        ? undefined
        : await loadSigstoreTrustedRoot(resolve(io.cwd, request.rootFile));
    const keys = await readTrust(io.cwd, request.keyFiles, (text) => void parsePublicKeyPem(text));
    const roots = await readTrust(io.cwd, request.caFiles, (text) => {
      if (parseCertificatesPem(text).length === 0) throw new Error('no PEM certificate found');
    });
    return { root, keys, roots, sigstoreRoot };
  } catch (error) {
    io.stderr(`${(error as Error).message}; ${usage}`);
    return exitCodes.usage;
  }
}

/** Verifies the signature and every file's digest; says who signed, or why it did not verify. */
async function verify(request: VerifyRequest, trust: LoadedTrust, io: CliIo): Promise<number> {
  const { dir, identity, issuer, values } = request;
  const { root, keys, roots, sigstoreRoot } = trust;
  try {
    const result = await verifyModelSignature({
      root,
      trust: {
        keys,
        roots,
        identities: identity === undefined ? [] : [{ identity, issuer }],
        ...(sigstoreRoot === undefined ? {} : { sigstoreRoot }),
      },
      ignorePaths: resolveIgnorePaths(io.cwd, dir, values['ignore-paths'] ?? []),
      ...(values.signature === undefined
        ? {}
        : { signatureFile: resolve(io.cwd, values.signature) }),
    });
    const by = describeSigner(result.signer, request.keyFiles);
    io.stdout(`verified ${dir}: ${result.digests.size} file(s) signed by ${by}`);
    return exitCodes.ok;
  } catch (error) {
    if (!isOmsVerificationError(error)) {
      io.stderr(`verification failed: ${(error as Error).message.split('\n')[0] ?? ''}`);
      return exitCodes.verificationFailed;
    }
    io.stderr(`verification failed (${error.reason}): ${error.message}`);
    return exitCodes.verificationFailed;
  }
}
