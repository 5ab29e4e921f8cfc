import { readFile } from 'node:fs/promises';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { isOmsVerificationError } from '../models/oms/oms-verification-error.js';
import { signModelDirectory } from '../models/oms/sign-model.js';
import { exitCodes, parseCommandArgs, type CliCommand } from './cli-io.js';
import { resolveIgnorePaths } from './model-path-args.js';

const usage =
  'usage: bastion sign MODEL_VERSION_DIR --key PRIVATE.pem [--signature FILE] [--ignore-paths PATH]...';

/**
 * `bastion sign DIR --key PRIVATE.pem`: writes an OMS key-mode signature (`DIR/model.sig`
 * unless `--signature` names another file, relative to the working directory) covering every
 * file in DIR but the ignored ones. Exit 0; 1 when the model cannot be signed (a symlink,
 * a special file, nothing to sign); 2 on bad usage or an unreadable key.
 */
export const signCommand: CliCommand = async (argv, io) => {
  const parsed = parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        key: { type: 'string' },
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
  if (positionals.length !== 1 || dir === undefined || values.key === undefined) {
    io.stderr(`one model folder and --key are required; ${usage}`);
    return exitCodes.usage;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(await readFile(resolve(io.cwd, values.key), 'utf8'));
  } catch (error) {
    io.stderr(`cannot read private key ${values.key}: ${(error as Error).message}`);
    return exitCodes.usage;
  }
  try {
    const signed = await signModelDirectory({
      root: resolve(io.cwd, dir),
      privateKeyPem: privateKey,
      ignorePaths: resolveIgnorePaths(io.cwd, dir, values['ignore-paths'] ?? []),
      ...(values.signature === undefined
        ? {}
        : { signatureFile: resolve(io.cwd, values.signature) }),
    });
    io.stdout(`signed ${signed.digests.size} file(s) in ${dir}: ${signed.signaturePath}`);
    return exitCodes.ok;
  } catch (error) {
    if (isOmsVerificationError(error)) {
      io.stderr(`cannot sign ${dir} (${error.reason}): ${error.message}`);
      return exitCodes.verificationFailed;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES') {
      io.stderr(`cannot sign ${dir}: ${(error as Error).message}`);
      return exitCodes.usage;
    }
    throw error;
  }
};
