import { ConfigError, loadConfig } from '../config/load-config.js';
import { type Finding, severities, type Severity, isAtLeast } from '../doctor/finding.js';
import { runDoctor } from '../doctor/run-doctor.js';
import { type CliCommand, exitCodes, parseCommandArgs } from './cli-io.js';

const usage =
  'usage: bastion doctor [--config FILE] [--fail-on high|medium|low] [--json]\n' +
  '  checks a configuration and the files it names before serving; exit 0 clean,\n' +
  '  1 a finding at or above --fail-on (default high), 2 bad usage or a config that does not parse';

function isSeverity(value: string): value is Severity {
  return (severities as readonly string[]).includes(value);
}

function describe(finding: Finding): string[] {
  return [
    `${finding.severity.toUpperCase().padEnd(6)} ${finding.key} [${finding.id}]`,
    `       ${finding.message}`,
    `       fix: ${finding.fix}`,
  ];
}

/**
 * `bastion doctor [--config FILE] [--fail-on SEVERITY] [--json]`: runs every check of
 * `runDoctor` (model versions verified as the loader would, without ONNX Runtime) and prints the
 * findings, worst first, each with its fix.
 */
export const doctorCommand: CliCommand = async (argv, io) => {
  const parsed = parseCommandArgs(
    argv,
    {
      options: {
        config: { type: 'string', short: 'c' },
        'fail-on': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    },
    usage,
    io,
  );
  if (parsed === exitCodes.usage) return parsed;
  if (parsed.values.help === true) {
    io.stdout(usage);
    return exitCodes.ok;
  }
  const failOn = parsed.values['fail-on'] ?? 'high';
  if (!isSeverity(failOn)) {
    io.stderr(`bastion doctor: --fail-on must be one of ${severities.join(', ')}; ${usage}`);
    return exitCodes.usage;
  }
  let loaded;
  try {
    loaded = loadConfig({ file: parsed.values.config, env: io.env, cwd: io.cwd });
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr(`bastion doctor: ${error.message.replaceAll('\n', ' ')}`);
      return exitCodes.usage;
    }
    throw error;
  }
  const findings = await runDoctor(loaded.config, { verifyModels: true });
  const failing = findings.filter((f) => isAtLeast(f.severity, failOn));
  if (parsed.values.json === true) {
    io.stdout(JSON.stringify({ file: loaded.file, mode: loaded.config.mode, failOn, findings }));
  } else {
    io.stdout(`bastion doctor: ${loaded.file} (mode ${loaded.config.mode})`);
    for (const finding of findings) for (const line of describe(finding)) io.stdout(line);
    const counts = severities
      .map((s) => [s, findings.filter((f) => f.severity === s).length] as const)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${n} ${s}`);
    io.stdout(
      findings.length === 0
        ? 'no findings'
        : `${findings.length} finding${findings.length === 1 ? '' : 's'}: ${counts.join(', ')}; ${failing.length} at or above --fail-on ${failOn}`,
    );
  }
  return failing.length > 0 ? exitCodes.verificationFailed : exitCodes.ok;
};
