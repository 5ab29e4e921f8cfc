import { parseArgs, type ParseArgsConfig } from 'node:util';

/** What a CLI command may touch: its arguments, output streams and environment. */
export interface CliIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** Exit codes of every `bastion` command (CONTRACT "CLI"). */
export const exitCodes = {
  ok: 0,
  verificationFailed: 1,
  usage: 2,
} as const;

/** A CLI command: parses its own arguments and returns the process exit code. */
export type CliCommand = (argv: readonly string[], io: CliIo) => Promise<number>;

/** The options of {@link parseCommandArgs}: `node:util` parseArgs' own, without `args`. */
export type CommandArgsConfig = Omit<ParseArgsConfig, 'args'> & {
  readonly options: NonNullable<ParseArgsConfig['options']>;
};

/** A malformed command line; its message is one line, ready for stderr. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Parses a command's arguments strictly with `node:util` parseArgs (the one argument parser of
 * every command).
 *
 * @throws UsageError with parseArgs' explanation in one line (its first, without a final period).
 */
export function parseCommandLine<T extends CommandArgsConfig>(
  argv: readonly string[],
  config: T,
): ReturnType<typeof parseArgs<T & { args: string[]; strict: true }>> {
  try {
    return parseArgs({ ...config, args: [...argv], strict: true });
  } catch (error) {
    const [first = 'bad arguments'] = (error instanceof Error ? error.message : String(error))
      .split('\n')
      .map((line) => line.trim());
    throw new UsageError(first.replace(/\.$/, ''));
  }
}

/**
 * Parses a command's arguments strictly ({@link parseCommandLine}). On a malformed command line it
 * says why on stderr in one line — `<prefix><why>; <usage>` (no usage when it is empty) — and
 * returns {@link exitCodes}.usage for the command to return.
 */
export function parseCommandArgs<T extends CommandArgsConfig>(
  argv: readonly string[],
  config: T,
  usage: string,
  io: CliIo,
  prefix = '',
): ReturnType<typeof parseArgs<T & { args: string[]; strict: true }>> | typeof exitCodes.usage {
  try {
    return parseCommandLine(argv, config);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`${prefix}${error.message}${usage === '' ? '' : `; ${usage}`}`);
    return exitCodes.usage;
  }
}
