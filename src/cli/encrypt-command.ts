import { open, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { exists, writeFileAtomic } from '../fs-files.js';
import { isModelEncryptionError } from '../models/model-encryption-error.js';
import {
  encryptModelBytes,
  encryptionKeyId,
  generateEncryptionKey,
  isEncryptedModel,
  parseEncryptionKey,
} from '../models/model-encryption.js';
import { exitCodes, parseCommandArgs, type CliCommand, type CliIo } from './cli-io.js';

const usage =
  'usage: bastion encrypt MODEL.onnx (--key-file KEY | --key-env NAME) [--out FILE] [--force]' +
  ' | bastion encrypt --generate-key KEY';

// A key file is a line of text; anything much longer is the wrong file (say, the model).
const maxKeyFileBytes = 4096;

/** Where `--key-file` / `--key-env` point; both commands take exactly one of them. */
export interface KeySourceArgs {
  readonly 'key-file'?: string | undefined;
  readonly 'key-env'?: string | undefined;
}

/** The `parseArgs` options shared by `bastion encrypt` and `bastion decrypt`. */
export const keySourceOptions = {
  'key-file': { type: 'string' },
  'key-env': { type: 'string' },
} as const;

/**
 * Loads the 32-byte key named by `--key-file` (relative to the working directory) or
 * `--key-env` (read from the CLI's environment). Resolves with the key, or with a one-line
 * message for stderr (exit 2) that never contains key material.
 */
export async function loadEncryptionKey(
  args: KeySourceArgs,
  io: CliIo,
): Promise<{ readonly key: Buffer } | { readonly error: string }> {
  const file = args['key-file'];
  const envName = args['key-env'];
  if ((file === undefined) === (envName === undefined)) {
    return { error: 'exactly one of --key-file and --key-env is required' };
  }
  let text: Buffer | string;
  let source: string;
  if (file !== undefined) {
    source = `key file ${file}`;
    try {
      text = await readSmallFile(resolve(io.cwd, file), maxKeyFileBytes);
    } catch (error) {
      return { error: `cannot read ${source}: ${(error as Error).message}` };
    }
  } else {
    source = `environment variable ${envName}`;
    const value = io.env[envName ?? ''];
    if (value === undefined || value.trim() === '') return { error: `${source} is not set` };
    text = value;
  }
  try {
    return { key: parseEncryptionKey(text) };
  } catch (error) {
    if (isModelEncryptionError(error)) return { error: `bad ${source}: ${error.message}` };
    throw error;
  }
}

async function readSmallFile(path: string, limit: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(limit + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > limit) throw new Error(`larger than ${limit} bytes; is it really a key?`);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** True for a file-system error that is the user's to fix (exit 2), not a bug. */
export function isFileProblem(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return (
    code === 'ENOENT' ||
    code === 'ENOTDIR' ||
    code === 'EISDIR' ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EEXIST' ||
    code === 'ENOSPC' ||
    code === 'EROFS' ||
    code === 'ERR_FS_FILE_TOO_LARGE'
  );
}

/** Writes a new hex key with mode 0600, never replacing an existing file. */
async function generateKeyFile(file: string, io: CliIo): Promise<number> {
  const key = generateEncryptionKey();
  try {
    await writeFileAtomic(resolve(io.cwd, file), `${key.toString('hex')}\n`, {
      mode: 0o600,
      overwrite: false,
      durable: true,
    });
  } catch (error) {
    if (!isFileProblem(error)) throw error;
    io.stderr(
      (error as NodeJS.ErrnoException).code === 'EEXIST'
        ? `refusing to overwrite an existing key file ${file}`
        : `cannot write key file ${file}: ${(error as Error).message}`,
    );
    return exitCodes.usage;
  }
  io.stdout(`wrote encryption key ${file} (key id ${encryptionKeyId(key)}; keep it secret)`);
  return exitCodes.ok;
}

/** What {@link prepareOutputAndKey} checks. */
export interface OutputAndKeyArgs {
  readonly input: string;
  readonly outName: string;
  readonly force: boolean;
  /** How the input is named in messages ("model file", "encrypted file"). */
  readonly inputKind: string;
  readonly usage: string;
}

/**
 * The checks `encrypt` and `decrypt` share before touching any data: the output differs from the
 * input, it is not overwritten without `--force`, and the key loads. Resolves with the output
 * path and key, or with the exit code after saying why on stderr.
 */
export async function prepareOutputAndKey(
  args: OutputAndKeyArgs,
  keyArgs: KeySourceArgs,
  io: CliIo,
): Promise<{ output: string; overwrite: boolean; key: { readonly key: Buffer } } | number> {
  const output = resolve(io.cwd, args.outName);
  if (output === args.input) {
    io.stderr(`--out must differ from the ${args.inputKind}; ${args.usage}`);
    return exitCodes.usage;
  }
  if (!args.force && (await exists(output))) {
    io.stderr(`refusing to overwrite ${args.outName}; pass --force to replace it`);
    return exitCodes.usage;
  }
  const loaded = await loadEncryptionKey(keyArgs, io);
  if ('error' in loaded) {
    io.stderr(`${loaded.error}; ${args.usage}`);
    return exitCodes.usage;
  }
  return { output, overwrite: args.force, key: loaded };
}

/**
 * `bastion encrypt MODEL.onnx (--key-file KEY | --key-env NAME) [--out FILE] [--force]`:
 * encrypts a model for storage at rest (AES-256-GCM, see `model-encryption.ts`), by default to
 * `MODEL.onnx.enc` beside it, written atomically with mode 0644 and never over an existing file
 * unless `--force`. `bastion encrypt --generate-key KEY` writes a new random key (64 hex
 * characters) with mode 0600 and never overwrites. Exit 0; 2 on bad usage, an unusable key, an
 * unreadable model or an output in the way.
 */
export const encryptCommand: CliCommand = async (argv, io) => {
  const parsed = parseCommandArgs(
    argv,
    {
      allowPositionals: true,
      options: {
        ...keySourceOptions,
        out: { type: 'string' },
        force: { type: 'boolean' },
        'generate-key': { type: 'string' },
      },
    },
    usage,
    io,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const generateKey = values['generate-key'];
  if (generateKey !== undefined) {
    const others = positionals.length > 0 || Object.keys(values).length > 1;
    if (others || generateKey.trim() === '') {
      io.stderr(`--generate-key takes one file and no other argument; ${usage}`);
      return exitCodes.usage;
    }
    return generateKeyFile(generateKey, io);
  }
  const [model] = positionals;
  if (positionals.length !== 1 || model === undefined) {
    io.stderr(`exactly one model file is required; ${usage}`);
    return exitCodes.usage;
  }
  const input = resolve(io.cwd, model);
  const outName = values.out ?? `${model}.enc`;
  const prepared = await prepareOutputAndKey(
    { input, outName, force: values.force === true, inputKind: 'model file', usage },
    values,
    io,
  );
  if (typeof prepared === 'number') return prepared;
  const { output, overwrite, key: loaded } = prepared;
  try {
    const plaintext = await readFile(input);
    if (isEncryptedModel(plaintext)) {
      io.stderr(`${model} is already an encrypted model; refusing to encrypt it twice`);
      return exitCodes.usage;
    }
    const encrypted = encryptModelBytes(plaintext, loaded.key);
    await writeFileAtomic(output, encrypted, { mode: 0o644, overwrite, durable: true });
    io.stdout(
      `encrypted ${model} -> ${outName} (${plaintext.length} bytes, key id ${encryptionKeyId(loaded.key)})`,
    );
    return exitCodes.ok;
  } catch (error) {
    if (!isFileProblem(error)) throw error;
    io.stderr(
      (error as NodeJS.ErrnoException).code === 'EEXIST'
        ? `refusing to overwrite ${outName}; pass --force to replace it`
        : `cannot encrypt ${model}: ${(error as Error).message}`,
    );
    return exitCodes.usage;
  }
};
