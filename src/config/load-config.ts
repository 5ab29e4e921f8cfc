import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { formatIssues } from '../zod-issues.js';
import { type Config, createConfigSchema } from './config-schema.js';

/** The config file used when none is named: `config/default.yaml` in the package. */
export const defaultConfigFile = fileURLToPath(
  new URL('../../config/default.yaml', import.meta.url),
);

/** Raised when the configuration cannot be used; `problems` lists every issue found. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`invalid configuration in ${source}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Where the configuration came from and what it says. */
export interface LoadedConfig {
  readonly file: string;
  readonly config: Readonly<Config>;
}

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The config file; else `BASTION_CONFIG`, else {@link defaultConfigFile}. */
  readonly file?: string | undefined;
  /** The process environment (injected so nothing else reads `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Resolve a relative `file` against this folder (default: the current directory). */
  readonly cwd?: string;
}

/**
 * Reads, parses and validates the configuration. Every problem is reported at once, each naming
 * its field. NODE_ENV=production forces `mode: production`.
 *
 * @throws ConfigError when the file is missing, is not YAML, or fails validation.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? {};
  const named = options.file ?? env.BASTION_CONFIG;
  const file =
    named === undefined || named === ''
      ? defaultConfigFile
      : resolve(options.cwd ?? process.cwd(), named);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the file (${describeFsError(error)})`]);
  }
  return { file, config: parseConfigText(text, file, env) };
}

/**
 * Validates configuration text. `file` names the source in messages and anchors relative paths.
 *
 * @throws ConfigError listing every problem.
 */
export function parseConfigText(
  text: string,
  file: string,
  env: Readonly<Record<string, string | undefined>> = {},
): Readonly<Config> {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `YAML: ${e.message.split('\n')[0] ?? e.code}`),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // An unresolved alias or an alias bomb is thrown here, not reported in doc.errors.
    throw new ConfigError(file, [
      `YAML: ${error instanceof Error ? (error.message.split('\n')[0] ?? error.name) : 'unreadable document'}`,
    ]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(file, [
      'the top level must be a mapping of sections (server:, auth:, …)',
    ]);
  }
  const input: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if (env.NODE_ENV === 'production') input.mode = 'production';
  const result = createConfigSchema(dirname(file)).safeParse(input);
  if (!result.success) throw new ConfigError(file, formatIssues(result.error.issues));
  const config = result.data;
  const problems = checkConsistency(config);
  if (problems.length > 0) throw new ConfigError(file, problems);
  if (config.audit.failClosed === undefined) {
    config.audit.failClosed = config.mode === 'production';
  }
  return deepFreeze(config);
}

/** Rules that span several fields. */
function checkConsistency(config: Config): string[] {
  const problems: string[] = [];
  const { auth, models, server } = config;
  if (auth.jwksFile !== undefined && auth.jwksUrl !== undefined) {
    problems.push('auth: set either jwksFile or jwksUrl, not both');
  }
  if (auth.devIssuer) {
    const extra = (['issuer', 'audience', 'jwksFile', 'jwksUrl', 'hsSecretFile'] as const).filter(
      (k) => auth[k] !== undefined,
    );
    if (extra.length > 0) {
      problems.push(
        `auth.devIssuer: the development issuer brings its own issuer, audience and keys; remove auth.${extra.join(', auth.')} or set devIssuer: false`,
      );
    }
  }
  const hs = auth.algorithms.filter((a) => a.startsWith('HS'));
  if (hs.length > 0 && auth.hsSecretFile === undefined) {
    problems.push(`auth.algorithms: ${hs.join(', ')} needs auth.hsSecretFile`);
  }
  if (auth.hsSecretFile !== undefined && hs.length === 0) {
    problems.push('auth.hsSecretFile: set only together with an HS* algorithm in auth.algorithms');
  }
  if (models.encryptionKeyFile !== undefined && models.encryptionKeyEnv !== undefined) {
    problems.push('models: set either encryptionKeyFile or encryptionKeyEnv, not both');
  }
  if (server.tls?.requireClientCert === true && server.tls.clientCaFile === undefined) {
    problems.push('server.tls.requireClientCert: needs server.tls.clientCaFile');
  }
  return problems;
}

function describeFsError(error: unknown): string {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') {
    return error.code === 'ENOENT' ? 'no such file' : error.code;
  }
  return 'unreadable';
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
