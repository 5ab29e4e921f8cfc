/**
 * `bastion audit verify FILE… [--key F] [--checkpoint F] [--anchor HASH]` and
 * `bastion audit tail [FILE] [-n N] [--sub S] [--model M] [--outcome O] [--since ISO] [--until ISO]`.
 */
import { isAbsolute, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { parseAuditCheckpoint } from '../audit/audit-checkpoint.js';
import { canonicalJson, readHmacKeyFile } from '../audit/audit-hash.js';
import { readAuditRecords, type ReadAuditOptions } from '../audit/audit-read.js';
import type { AuditOutcome } from '../audit/audit-record.js';
import { verifyAuditFiles, type VerifyAuditOptions } from '../audit/audit-verify.js';
import { exitCodes, parseCommandLine, UsageError, type CliCommand, type CliIo } from './cli-io.js';

/** Options for {@link createAuditCommand}. */
export interface AuditCommandOptions {
  /** The audit file `tail` reads when none is named (the configured `audit.path`). */
  readonly defaultPath?: string;
}

const usage = [
  'usage: bastion audit verify FILE... [--key FILE] [--checkpoint FILE] [--anchor HASH]',
  '         --key: the audit HMAC key file (--hmac-key-file is the same)',
  '         --checkpoint: the head checkpoint (under <stateDir>/audit-checkpoints/) or a witness log line',
  '       bastion audit tail [FILE] [-n N] [--sub S] [--model M] [--outcome allowed|denied|error] [--since ISO] [--until ISO]',
];

interface ParsedArgs {
  readonly positional: readonly string[];
  /** Each flag given, by its name as typed (`--key`, `-n`). */
  readonly flags: ReadonlyMap<string, string>;
}

/**
 * Parses a subcommand's arguments (node:util parseArgs): `--name value`, `--name=value` and
 * `-n value`; every flag here takes a value, and none may be given twice.
 *
 * @throws UsageError for an unknown flag, a missing value or a repeated flag.
 */
function parseFlags(argv: readonly string[], names: readonly string[]): ParsedArgs {
  const options = Object.fromEntries(
    names.map((name) => [
      name,
      { type: 'string' as const, multiple: true, ...(name.length === 1 ? { short: name } : {}) },
    ]),
  );
  const { values, positionals } = parseCommandLine(argv, { options, allowPositionals: true });
  const flags = new Map<string, string>();
  for (const [name, given] of Object.entries(values)) {
    const flag = name.length === 1 ? `-${name}` : `--${name}`;
    if (!Array.isArray(given) || given.length === 0) continue;
    if (given.length > 1) throw new UsageError(`${flag} given twice`);
    flags.set(flag, String(given[0]));
  }
  return { positional: positionals, flags };
}

function parseTime(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t)) {
    throw new UsageError(`${flag} must be an ISO 8601 time, got "${value}"`);
  }
  return new Date(t);
}

async function verify(
  argv: readonly string[],
  io: CliIo,
  at: (p: string) => string,
): Promise<number> {
  const { positional, flags } = parseFlags(argv, ['hmac-key-file', 'key', 'checkpoint', 'anchor']);
  if (positional.length === 0) throw new UsageError('audit verify needs at least one FILE');
  const options: { -readonly [K in keyof VerifyAuditOptions]: VerifyAuditOptions[K] } = {};
  const anchor = flags.get('--anchor');
  if (anchor !== undefined) {
    if (!/^[0-9a-f]{64}$/.test(anchor))
      throw new UsageError('--anchor must be 64 lowercase hex digits');
    options.anchorHash = anchor;
  }
  if (flags.has('--key') && flags.has('--hmac-key-file')) {
    throw new UsageError('give --key or --hmac-key-file, not both');
  }
  const keyFile = flags.get('--key') ?? flags.get('--hmac-key-file');
  if (keyFile !== undefined) {
    try {
      options.hmacKey = await readHmacKeyFile(at(keyFile));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const checkpointFile = flags.get('--checkpoint');
  if (checkpointFile !== undefined) {
    let text: string;
    try {
      text = await readFile(at(checkpointFile), 'utf8');
    } catch (error) {
      throw new UsageError(
        `cannot read checkpoint ${checkpointFile}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      );
    }
    const checkpoint = parseAuditCheckpoint(text.trim(), options.hmacKey);
    if (typeof checkpoint === 'string') {
      const hint = options.hmacKey === undefined ? ' (give the audit key with --key)' : '';
      io.stderr(`audit verify: FAILED: checkpoint ${checkpointFile} ${checkpoint}${hint}`);
      return exitCodes.verificationFailed;
    }
    options.checkpoint = checkpoint;
  }
  const result = await verifyAuditFiles(positional.map(at), options);
  if (result.ok) {
    io.stdout(`audit verify: ${result.message}`);
    return exitCodes.ok;
  }
  io.stderr(`audit verify: FAILED: ${result.message}`);
  return exitCodes.verificationFailed;
}

async function tail(
  argv: readonly string[],
  io: CliIo,
  at: (p: string) => string,
  defaultPath: string | undefined,
): Promise<number> {
  const { positional, flags } = parseFlags(argv, [
    'n',
    'sub',
    'model',
    'outcome',
    'since',
    'until',
  ]);
  if (positional.length > 1) throw new UsageError('audit tail takes at most one FILE');
  const file = positional[0] ?? defaultPath;
  if (file === undefined)
    throw new UsageError('audit tail needs a FILE (no audit.path configured)');
  const n = flags.get('-n') ?? '10';
  if (!/^[1-9]\d{0,8}$/.test(n)) throw new UsageError(`-n must be a positive integer, got "${n}"`);
  const outcome = flags.get('--outcome');
  if (outcome !== undefined && !['allowed', 'denied', 'error'].includes(outcome)) {
    throw new UsageError('--outcome must be allowed, denied or error');
  }
  const options: { -readonly [K in keyof ReadAuditOptions]: ReadAuditOptions[K] } = {
    limit: Number(n),
  };
  const sub = flags.get('--sub');
  const model = flags.get('--model');
  const since = parseTime('--since', flags.get('--since'));
  const until = parseTime('--until', flags.get('--until'));
  if (sub !== undefined) options.sub = sub;
  if (model !== undefined) options.model = model;
  if (outcome !== undefined) options.outcome = outcome as AuditOutcome;
  if (since !== undefined) options.since = since;
  if (until !== undefined) options.until = until;
  let records;
  try {
    records = await readAuditRecords([at(file)], options);
  } catch (error) {
    io.stderr(
      `audit tail: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
    return exitCodes.verificationFailed;
  }
  for (const record of records) io.stdout(canonicalJson(record));
  return exitCodes.ok;
}

/**
 * Creates the `audit` command. `argv` starts after `audit` (e.g. `['verify', 'audit.log']`).
 * Exit codes: 0 intact / records printed, 1 verification failed (naming the first bad seq in one
 * line on stderr) or file unreadable for `tail`, 2 bad usage.
 */
export function createAuditCommand(options: AuditCommandOptions = {}): CliCommand {
  return async (argv, io) => {
    const at = (p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));
    const [sub, ...rest] = argv;
    try {
      switch (sub) {
        case 'verify':
          return await verify(rest, io, at);
        case 'tail':
          return await tail(rest, io, at, options.defaultPath);
        case '-h':
        case '--help':
          for (const line of usage) io.stdout(line);
          return exitCodes.ok;
        case undefined:
          throw new UsageError('missing subcommand');
        default:
          throw new UsageError(`unknown subcommand "${sub}"`);
      }
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      io.stderr(`audit: ${error.message} (see "bastion audit --help")`);
      return exitCodes.usage;
    }
  };
}

/** The `audit` command with no configured default file. */
export const auditCommand: CliCommand = createAuditCommand();
