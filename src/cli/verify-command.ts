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
import { exitCodes, parseCommandArgs, type CliCommand } from './cli-io.js';
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
  const parsed = parseCommandArgs(
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
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [dir] = positionals;
  const keyFiles = values.key ?? [];
  const caFiles = values['certificate-chain'] ?? [];
  if (positionals.length !== 1 || dir === undefined) {
    io.stderr(`exactly one model folder is required; ${usage}`);
    return exitCodes.usage;
  }
  const once = (name: 'identity' | 'identity-provider' | 'trusted-root') => {
    const given = values[name] ?? [];
    return given.length > 1 ? null : given[0];
  };
  const identity = once('identity');
  const issuer = once('identity-provider');
  const rootFile = once('trusted-root');
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
  const root = resolve(io.cwd, dir);
  let keys: string[];
  let roots: string[];
  let sigstoreRoot: SigstoreTrustedRoot | undefined;
  try {
    await stat(root);
    if (rootFile !== undefined)
      sigstoreRoot = await loadSigstoreTrustedRoot(resolve(io.cwd, rootFile));
    keys = await readTrust(io.cwd, keyFiles, (text) => void parsePublicKeyPem(text));
    roots = await readTrust(io.cwd, caFiles, (text) => {
      if (parseCertificatesPem(text).length === 0) throw new Error('no PEM certificate found');
    });
  } catch (error) {
    io.stderr(`${(error as Error).message}; ${usage}`);
    return exitCodes.usage;
  }
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
    const by = describeSigner(result.signer, keyFiles);
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
};
