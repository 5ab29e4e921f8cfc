import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { fitMahalanobis } from '../policy/ood-detector.js';
import { parsePolicyText } from '../policy/policy-schema.js';
import { parseCsvRows, parseNpyRows } from '../policy/training-rows.js';
import { exitCodes, parseCommandArgs, type CliCommand, type CliIo } from './cli-io.js';

const usage = `usage: bastion policy fit --data FILE.csv|FILE.npy --input NAME [--columns 0,1,...]
                         [--quantile 0.99] [--slack 0.25] [--action log|flag|reject] [--bounds]
       bastion policy check FILE   (validate a policy.yaml)`;

/**
 * `bastion policy fit`: fits the out-of-distribution reference of a policy from training rows and
 * prints the `ood` section (and, with `--bounds`, per-feature observed ranges as a starting point
 * for `inputs`) as YAML, to paste into the model version's `policy.yaml` before signing it.
 * `bastion policy check FILE` validates a policy file on its own. Exit 0, 1 invalid policy, 2 usage.
 */
export const policyCommand: CliCommand = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    io.stdout(usage);
    return exitCodes.ok;
  }
  if (sub === 'check') return check(rest, io);
  if (sub !== 'fit') {
    io.stderr(`bastion policy: expected "fit" or "check"; ${usage}`);
    return exitCodes.usage;
  }
  return fit(rest, io);
};

/** `bastion policy fit`: checks the command line, then fits the rows and prints the policy. */
async function fit(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseFitArgs(argv, io);
  if (parsed === exitCodes.usage) return parsed;
  const { values } = parsed;
  if (values.help) {
    io.stdout(usage);
    return exitCodes.ok;
  }
  const settings = fitSettings(values);
  if (settings.problems.length > 0) {
    io.stderr(`bastion policy fit: ${settings.problems.join('; ')}`);
    return exitCodes.usage;
  }
  return fitAndPrint(values, settings, io);
}

/** Parses `fit`'s options strictly; on a malformed line, says why and returns the usage code. */
function parseFitArgs(argv: readonly string[], io: CliIo) {
  return parseCommandArgs(
    argv,
    {
      options: {
        data: { type: 'string' },
        input: { type: 'string' },
        columns: { type: 'string' },
        quantile: { type: 'string', default: '0.99' },
        slack: { type: 'string', default: '0.25' },
        action: { type: 'string', default: 'flag' },
        bounds: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    },
    usage,
    io,
  );
}

/** The options of `bastion policy fit`, as parsed. */
type FitValues = Exclude<ReturnType<typeof parseFitArgs>, typeof exitCodes.usage>['values'];

/** The numbers `fit` runs with, and what is wrong with the command line (empty when nothing). */
interface FitSettings {
  readonly quantile: number;
  readonly slack: number;
  readonly columns: number[] | undefined;
  readonly problems: string[];
}

function fitSettings(values: FitValues): FitSettings {
  const quantile = Number(values.quantile);
  const slack = Number(values.slack);
  const problems = [
    values.data === undefined ? '--data is required' : undefined,
    values.input === undefined ? '--input is required (the model input the rows feed)' : undefined,
    !(quantile > 0 && quantile < 1) ? '--quantile must be between 0 and 1' : undefined,
    !(slack >= 0) ? '--slack must be ≥ 0' : undefined,
    !['log', 'flag', 'reject'].includes(values.action)
      ? '--action must be log, flag or reject'
      : undefined,
  ].filter((p) => p !== undefined);
  const columns = values.columns?.split(',').map(Number);
  if (columns?.some((c) => !Number.isInteger(c) || c < 0) === true) {
    problems.push('--columns must be zero-based column numbers separated by commas');
  }
  return { quantile, slack, columns, problems };
}

/** Reads the rows, fits them and prints the policy sections; a bad file is a usage error. */
async function fitAndPrint(values: FitValues, settings: FitSettings, io: CliIo): Promise<number> {
  const { quantile, slack, columns } = settings;
  const file = resolve(io.cwd, values.data as string);
  try {
    const bytes = await readFile(file);
    const rows = file.endsWith('.npy')
      ? parseNpyRows(bytes)
      : parseCsvRows(bytes.toString('utf8'), columns === undefined ? {} : { columns });
    const text = stringify(policySections(rows, values, quantile, slack), { lineWidth: 0 });
    parsePolicyText(text); // what we print must itself be a valid policy
    io.stdout(`# fitted on ${rows.length} rows of ${values.data}; review before signing\n${text}`);
    return exitCodes.ok;
  } catch (error) {
    io.stderr(`bastion policy fit: ${error instanceof Error ? error.message : String(error)}`);
    return exitCodes.usage;
  }
}

/** The `ood` section fitted on `rows` and, with `--bounds`, the observed per-feature ranges. */
function policySections(
  rows: number[][],
  values: FitValues,
  quantile: number,
  slack: number,
): Record<string, unknown> {
  const fit = fitMahalanobis(rows, { quantile, slack });
  const ood = {
    input: values.input,
    method: 'mahalanobis',
    mean: fit.mean.map(round),
    inverseCovariance: fit.inverseCovariance.map((r) => r.map(round)),
    threshold: round(fit.threshold),
    action: values.action,
    fitted: { rows: fit.fitted.rows, quantile, source: values.data },
  };
  const out: Record<string, unknown> = { ood };
  if (values.bounds) {
    const n = fit.mean.length;
    out.inputs = {
      [values.input as string]: {
        features: Array.from({ length: n }, (_, j) => ({
          min: Math.min(...rows.map((r) => r[j] ?? 0)),
          max: Math.max(...rows.map((r) => r[j] ?? 0)),
        })),
      },
    };
  }
  return out;
}

async function check(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommandArgs(
    argv,
    { options: {}, allowPositionals: true },
    usage,
    io,
    'bastion policy check: ',
  );
  if (parsed === exitCodes.usage) return parsed;
  const [file, ...extra] = parsed.positionals;
  if (file === undefined || extra.length > 0) {
    io.stderr(`bastion policy check: give one policy file; ${usage}`);
    return exitCodes.usage;
  }
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    io.stderr(`bastion policy check: cannot read ${file}: ${(error as Error).message}`);
    return exitCodes.usage;
  }
  try {
    parsePolicyText(text);
  } catch (error) {
    io.stderr(`bastion policy check: ${file}: ${(error as Error).message}`);
    return exitCodes.verificationFailed;
  }
  io.stdout(`${file}: valid policy`);
  return exitCodes.ok;
}

/** Nine significant digits: enough for the threshold test, short enough to read. */
function round(v: number): number {
  return Number(v.toPrecision(9));
}
