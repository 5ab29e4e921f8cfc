import type { CliIo } from '../../src/cli/cli-io.js';

/** A CliIo that records what a command prints, with an empty environment. */
export function captureIo(
  cwd: string,
  env: Readonly<Record<string, string | undefined>> = {},
): CliIo & { readonly out: string[]; readonly err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    env,
    cwd,
  };
}
