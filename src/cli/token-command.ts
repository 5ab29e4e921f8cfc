import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { devIssuerStateDir } from '../auth/auth-setup.js';
import { createDevIssuer, devIssuerDefaults } from '../auth/dev-issuer.js';
import { maxTokenTtlSec, parseTokenTtl } from '../auth/token-ttl.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { type CliIo, exitCodes, type CliCommand, parseCommandArgs } from './cli-io.js';

/** Default lifetime of a dev token. */
export const defaultTokenTtl = '15m';

/** Where the dev issuer lives under a gateway's `stateDir`. */
export const defaultDevIssuerStateDir = 'var/dev-issuer';

const usage =
  'usage: bastion token --sub NAME [--scope "infer:* models:manage"]... [--ttl 15m] [--state-dir DIR | --config FILE] [--init]';

const hasIssuer = (dir: string): boolean => existsSync(join(dir, devIssuerDefaults.privateKeyFile));

/**
 * The dev-issuer folder to use and where else it looked: `--state-dir` names the issuer folder
 * itself or the gateway's `stateDir` (then its `dev-issuer/`); `--config` (or, with neither, the
 * gateway's own config: `BASTION_CONFIG` or the default) gives `stateDir/dev-issuer`.
 */
function candidatesOf(
  values: { 'state-dir'?: string | undefined; config?: string | undefined },
  io: CliIo,
): { dirs: string[]; from: string } {
  const stateDir = values['state-dir'];
  if (stateDir !== undefined) {
    const dir = resolve(io.cwd, stateDir);
    return { dirs: [dir, join(dir, 'dev-issuer')], from: '--state-dir' };
  }
  const { config, file } = loadConfig({ file: values.config, env: io.env, cwd: io.cwd });
  return { dirs: [devIssuerStateDir(config)], from: `stateDir of ${file}` };
}

/**
 * `bastion token`: prints a short-lived token from the local development issuer the gateway
 * created (under its `stateDir`). It never creates an issuer silently: without one where it
 * looked, it says where that was and exits 2, unless `--init` asks for a new one. Exit 0 with the
 * token on stdout; 2 on bad usage, with one line on stderr.
 */
export const tokenCommand: CliCommand = async (argv, io) => {
  const parsed = parseCommandArgs(
    argv,
    {
      allowPositionals: false,
      options: {
        sub: { type: 'string' },
        scope: { type: 'string', multiple: true },
        ttl: { type: 'string' },
        'state-dir': { type: 'string' },
        config: { type: 'string', short: 'c' },
        init: { type: 'boolean' },
      },
    },
    usage,
    io,
  );
  if (parsed === exitCodes.usage) return parsed;
  const { values } = parsed;
  const sub = values.sub?.trim() ?? '';
  if (sub === '') {
    io.stderr(`--sub is required; ${usage}`);
    return exitCodes.usage;
  }
  if (values['state-dir'] !== undefined && values.config !== undefined) {
    io.stderr(`give --state-dir or --config, not both; ${usage}`);
    return exitCodes.usage;
  }
  const ttlText = values.ttl ?? defaultTokenTtl;
  const ttlSec = parseTokenTtl(ttlText);
  if (ttlSec === undefined) {
    io.stderr(
      `--ttl ${JSON.stringify(ttlText)} is not a duration like 30s, 15m or 1h, at most ${maxTokenTtlSec / 3600}h`,
    );
    return exitCodes.usage;
  }
  const scopes = (values.scope ?? []).flatMap((text) => text.split(/\s+/)).filter((s) => s !== '');
  let found;
  try {
    found = candidatesOf(values, io);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr(`bastion token: ${error.message.split('\n').join('; ')}`);
    return exitCodes.usage;
  }
  const primary = found.dirs[0] as string;
  const stateDir = found.dirs.find(hasIssuer) ?? (values.init === true ? primary : undefined);
  if (stateDir === undefined) {
    io.stderr(
      `bastion token: no development issuer in ${found.dirs.join(' or ')} (from ${found.from}); ` +
        'the gateway creates one under its stateDir (stateDir/dev-issuer) on its first start: ' +
        'point --state-dir at that stateDir or --config at the gateway config, ' +
        'or pass --init to create a new issuer here (only a gateway using this folder accepts its tokens)',
    );
    return exitCodes.usage;
  }
  const issuer = await createDevIssuer({ stateDir });
  try {
    io.stdout(await issuer.mint({ sub, scopes, ttlSec }));
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    io.stderr(`${error.message}; ${usage}`);
    return exitCodes.usage;
  }
  return exitCodes.ok;
};
