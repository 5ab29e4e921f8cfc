import { type CliCommand, type CliIo, exitCodes } from './cli-io.js';
import { serveCommand } from './serve-command.js';

const commands: Readonly<Record<string, CliCommand>> = {
  serve: serveCommand,
};

const usage = `usage: bastion <command> [options]

commands:
  serve [--config FILE]     start the gateway (default config: config/default.yaml or $BASTION_CONFIG)`;

/** Runs one `bastion` command line; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(usage);
    return name === undefined ? exitCodes.usage : exitCodes.ok;
  }
  const command = commands[name];
  if (command === undefined) {
    io.stderr(`bastion: unknown command "${name}" (see bastion --help)`);
    return exitCodes.usage;
  }
  return command(rest, io);
}

const io: CliIo = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
  cwd: process.cwd(),
};

process.exitCode = await runCli(process.argv.slice(2), io);
