import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createDevIssuer } from '../auth/dev-issuer.js';
import { maxTokenTtlSec, parseTokenTtl } from '../auth/token-ttl.js';
import { exitCodes, type CliCommand } from './cli-io.js';

/** Default lifetime of a dev token. */
export const defaultTokenTtl = '15m';

/** Default dev-issuer folder, relative to the working directory (git-ignored `var/`). */
export const defaultDevIssuerStateDir = 'var/dev-issuer';

const usage =
  'usage: bastion token --sub NAME [--scope "infer:* models:manage"]... [--ttl 15m] [--state-dir DIR]';

/**
 * `bastion token`: prints a short-lived token from the local development issuer (created on
 * first use). Exit 0 with the token on stdout; 2 on bad usage, with one line on stderr.
 */
export const tokenCommand: CliCommand = async (argv, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        sub: { type: 'string' },
        scope: { type: 'string', multiple: true },
        ttl: { type: 'string' },
        'state-dir': { type: 'string' },
      },
    }));
  } catch (error) {
    // parseArgs may explain over several lines; the contract wants one.
    const [first = 'bad arguments'] = (error as Error).message.split('\n');
    io.stderr(`${first.replace(/\.$/, '')}; ${usage}`);
    return exitCodes.usage;
  }
  const sub = values.sub?.trim() ?? '';
  if (sub === '') {
    io.stderr(`--sub is required; ${usage}`);
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
  const issuer = await createDevIssuer({
    stateDir: resolve(io.cwd, values['state-dir'] ?? defaultDevIssuerStateDir),
  });
  try {
    io.stdout(await issuer.mint({ sub, scopes, ttlSec }));
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    io.stderr(`${error.message}; ${usage}`);
    return exitCodes.usage;
  }
  return exitCodes.ok;
};
