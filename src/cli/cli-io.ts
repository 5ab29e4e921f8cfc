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
