import { auditCommand } from './audit-command.js';
import { type CliCommand, type CliIo, exitCodes } from './cli-io.js';
import { decryptCommand } from './decrypt-command.js';
import { doctorCommand } from './doctor-command.js';
import { encryptCommand } from './encrypt-command.js';
import { commandHelp, wantsHelp } from './help.js';
import { keygenCommand } from './keygen-command.js';
import { policyCommand } from './policy-command.js';
import { serveCommand } from './serve-command.js';
import { signCommand } from './sign-command.js';
import { tokenCommand } from './token-command.js';
import { verifyCommand } from './verify-command.js';
import { bastionVersion } from '../version.js';

const commands: Readonly<Record<string, CliCommand>> = {
  serve: serveCommand,
  token: tokenCommand,
  keygen: keygenCommand,
  sign: signCommand,
  verify: verifyCommand,
  encrypt: encryptCommand,
  decrypt: decryptCommand,
  audit: auditCommand,
  policy: policyCommand,
  doctor: doctorCommand,
};

const usage = `usage: bastion <command> [options]

commands:
  serve [--config FILE]                      start the gateway (default: config/default.yaml or $BASTION_CONFIG)
  token --sub S --scope "infer:* ..." [--ttl 15m] [--state-dir DIR | --config FILE] [--init]
                                             print a token from the gateway's development issuer
  keygen --out PREFIX                        new ECDSA P-256 key pair for signing models
  sign DIR --key PRIVATE.pem                 sign a model version folder (writes DIR/model.sig)
  verify DIR (--key PUB.pem | --certificate-chain CA.pem) [--signature F] [--ignore-paths P]...
                                             verify a signed model folder
  encrypt MODEL.onnx --key-file K [--out F]  encrypt a model for storage (AES-256-GCM)
  encrypt --generate-key FILE                create a new encryption key
  decrypt MODEL.onnx.enc --key-file K --out F
  audit verify FILE... [--key F] [--checkpoint F] [--anchor HASH]
                                             check the audit log's hash chain
  audit tail [FILE] [-n N] [--sub S] [--model M] [--outcome O] [--since T] [--until T]
  policy fit --data ROWS.csv|.npy --input NAME [--bounds]
                                             fit a policy's out-of-distribution reference
  policy check FILE                          validate a policy.yaml
  doctor [--config FILE] [--fail-on high|medium|low] [--json]
                                             check a configuration and its files before serving

  --version                                  print the version

\`bastion <command> --help\` shows a command's options.
exit status: 0 success, 1 a verification (or doctor finding) that failed, 2 bad usage`;

/** Runs one `bastion` command line; resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(usage);
    return name === undefined ? exitCodes.usage : exitCodes.ok;
  }
  if (name === '--version' || name === '-V') {
    io.stdout(`bastion ${bastionVersion}`);
    return exitCodes.ok;
  }
  const command = commands[name];
  if (command === undefined) {
    io.stderr(`bastion: unknown command "${name}" (see bastion --help)`);
    return exitCodes.usage;
  }
  const help = wantsHelp(rest) ? commandHelp(name) : undefined;
  if (help !== undefined) {
    io.stdout(help);
    return exitCodes.ok;
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
