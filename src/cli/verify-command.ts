import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isOmsVerificationError } from '../models/oms/oms-verification-error.js';
import { parseCertificatesPem } from '../models/oms/certificate-chain.js';
import { parsePublicKeyPem } from '../models/oms/signing-key.js';
import { verifyModelSignature } from '../models/oms/verify-model.js';
import { exitCodes, parseCommandArgs, type CliCommand } from './cli-io.js';
import { resolveIgnorePaths } from './model-path-args.js';

const usage =
  'usage: bastion verify DIR (--key PUBLIC.pem | --certificate-chain CA.pem) [--signature FILE] [--ignore-paths PATH]...';

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
 * `bastion verify DIR (--key PUB | --certificate-chain CA)`: checks an OMS signature and that
 * every file in DIR has exactly the signed digest, streaming files without keeping them.
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
  if ((keyFiles.length === 0) === (caFiles.length === 0)) {
    io.stderr(`give either --key or --certificate-chain; ${usage}`);
    return exitCodes.usage;
  }
  const root = resolve(io.cwd, dir);
  let keys: string[];
  let roots: string[];
  try {
    await stat(root);
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
      trust: { keys, roots },
      ignorePaths: resolveIgnorePaths(io.cwd, dir, values['ignore-paths'] ?? []),
      ...(values.signature === undefined
        ? {}
        : { signatureFile: resolve(io.cwd, values.signature) }),
    });
    const by =
      result.signer.method === 'key'
        ? `key ${keyFiles[result.signer.keyIndex] ?? ''}`
        : `certificate "${result.signer.leafSubject}" chaining to root ${result.signer.rootFingerprint}`;
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
