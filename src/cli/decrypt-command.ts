import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isModelEncryptionError } from '../models/model-encryption-error.js';
import { decryptModelBytes } from '../models/model-encryption.js';
import { exitCodes, parseCommandArgs, type CliCommand } from './cli-io.js';
import { writeFileAtomic } from '../fs-files.js';
import { isFileProblem, keySourceOptions, prepareOutputAndKey } from './encrypt-command.js';

const usage =
  'usage: bastion decrypt MODEL.onnx.enc (--key-file KEY | --key-env NAME) --out FILE [--force]';

/**
 * `bastion decrypt MODEL.onnx.enc (--key-file KEY | --key-env NAME) --out FILE [--force]`:
 * authenticates and decrypts an encrypted model. The plaintext goes only where `--out` says
 * (there is no default, so it never lands beside the ciphertext by accident), written atomically
 * with mode 0600 and never over an existing file unless `--force`. Exit 0; 1 when the file does
 * not decrypt (`format`, `version`, `wrong-key`, `tampered`), with the reason on one stderr
 * line; 2 on bad usage, an unusable key, an unreadable input or an output in the way.
 */
export const decryptCommand: CliCommand = async (argv, io) => {
  const parsed = parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: { ...keySourceOptions, out: { type: 'string' }, force: { type: 'boolean' } },
    },
    usage,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const [encryptedName] = positionals;
  if (positionals.length !== 1 || encryptedName === undefined) {
    io.stderr(`exactly one encrypted model file is required; ${usage}`);
    return exitCodes.usage;
  }
  const outName = values.out;
  if (outName === undefined || outName.trim() === '') {
    io.stderr(`--out is required: plaintext is written only where asked; ${usage}`);
    return exitCodes.usage;
  }
  const input = resolve(io.cwd, encryptedName);
  const prepared = await prepareOutputAndKey(
    { input, outName, force: values.force === true, inputKind: 'encrypted file', usage },
    values,
    io,
  );
  if (typeof prepared === 'number') return prepared;
  const { output, overwrite, key: loaded } = prepared;
  try {
    const plaintext = decryptModelBytes(await readFile(input), loaded.key);
    await writeFileAtomic(output, plaintext, { mode: 0o600, overwrite, durable: true });
    io.stdout(`decrypted ${encryptedName} -> ${outName} (${plaintext.length} bytes)`);
    return exitCodes.ok;
  } catch (error) {
    if (isModelEncryptionError(error)) {
      io.stderr(`cannot decrypt ${encryptedName} (${error.reason}): ${error.message}`);
      return exitCodes.verificationFailed;
    }
    if (!isFileProblem(error)) throw error;
    io.stderr(
      (error as NodeJS.ErrnoException).code === 'EEXIST'
        ? `refusing to overwrite ${outName}; pass --force to replace it`
        : `cannot decrypt ${encryptedName}: ${(error as Error).message}`,
    );
    return exitCodes.usage;
  }
};
