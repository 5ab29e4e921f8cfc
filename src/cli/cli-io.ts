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

/**
 * Parses a command's arguments strictly. On a malformed command line it says why on stderr,
 * followed by the usage line, and returns {@link exitCodes}.usage for the command to return.
 */
export function parseCommandArgs<T extends CommandArgsConfig>(
  argv: readonly string[],
  config: T,
  usage: string,
  io: CliIo,
): ReturnType<typeof parseArgs<T & { args: string[]; strict: true }>> | typeof exitCodes.usage {
  try {
    return parseArgs({ ...config, args: [...argv], strict: true });
  } catch (error) {
    io.stderr(`${error instanceof Error ? error.message : String(error)}; ${usage}`);
    return exitCodes.usage;
  }
}
