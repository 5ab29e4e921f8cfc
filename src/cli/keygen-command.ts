import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { exitCodes, parseCommandArgs, type CliCommand } from './cli-io.js';

const usage = 'usage: bastion keygen --out PREFIX   (writes PREFIX.priv.pem and PREFIX.pub.pem)';

/**
 * `bastion keygen --out PREFIX`: creates an ECDSA P-256 signing key pair for `bastion sign`:
 * `PREFIX.priv.pem` (PKCS#8, mode 0600) and `PREFIX.pub.pem` (SPKI, for `models.trustedKeys`).
 * Never overwrites an existing file. Exit 0, or 2 on bad usage or a file in the way.
 */
export const keygenCommand: CliCommand = async (argv, io) => {
  const parsed = parseCommandArgs(
    argv,
    { allowPositionals: false, options: { out: { type: 'string' } } },
    usage,
    io,
  );
  if (parsed === exitCodes.usage) return parsed;
  const { out } = parsed.values;
  if (out === undefined || out.trim() === '') {
    io.stderr(`--out is required; ${usage}`);
    return exitCodes.usage;
  }
  const prefix = resolve(io.cwd, out);
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  try {
    // 'wx' refuses to replace a key someone may still depend on.
    await writeFile(`${prefix}.priv.pem`, privateKey, { mode: 0o600, flag: 'wx' });
    await writeFile(`${prefix}.pub.pem`, publicKey, { mode: 0o644, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    io.stderr(
      code === 'EEXIST'
        ? `refusing to overwrite an existing key file at ${out}.*.pem; choose another --out`
        : `cannot write key files: ${(error as Error).message}`,
    );
    return exitCodes.usage;
  }
  io.stdout(`wrote ${out}.priv.pem (keep secret) and ${out}.pub.pem (add to models.trustedKeys)`);
  return exitCodes.ok;
};
