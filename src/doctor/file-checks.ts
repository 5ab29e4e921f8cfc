import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config/config-schema.js';
import type { Finding } from './finding.js';
import { assessSecret, minSecretBits, minSecretBytes } from './secret-strength.js';

/** A file the configuration names, and how much its secrecy matters. */
interface NamedFile {
  readonly key: string;
  readonly path: string;
  /** Secret: must not be readable by others. Else only its integrity matters. */
  readonly secret: boolean;
}

/** Every file the configuration names (audit log apart), with the key naming it. */
export function namedFiles(config: Readonly<Config>): NamedFile[] {
  const files: NamedFile[] = [];
  const add = (key: string, path: string | undefined, secret: boolean): void => {
    if (path !== undefined) files.push({ key, path, secret });
  };
  add('server.tls.keyFile', config.server.tls?.keyFile, true);
  add('server.tls.certFile', config.server.tls?.certFile, false);
  add('server.tls.clientCaFile', config.server.tls?.clientCaFile, false);
  add('auth.hsSecretFile', config.auth.hsSecretFile, true);
  add('auth.jwksFile', config.auth.jwksFile, false);
  add('audit.hmacKeyFile', config.audit.hmacKeyFile, true);
  add('metrics.bearerTokenFile', config.metrics.bearerTokenFile, true);
  add('models.encryptionKeyFile', config.models.encryptionKeyFile, true);
  for (const [list, name] of [
    [config.models.trustedKeys, 'models.trustedKeys'],
    [config.models.trustedRoots, 'models.trustedRoots'],
  ] as const) {
    for (const entry of list) add(name, typeof entry === 'string' ? entry : entry.file, false);
  }
  return files;
}

function errorCode(error: unknown): string {
  return error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
}

/** Other-writable (or group-writable) file or folder, and a world-writable folder above it. */
async function permissionFindings(key: string, path: string, secret: boolean): Promise<Finding[]> {
  const findings: Finding[] = [];
  const info = await stat(path);
  if (!info.isFile() && !info.isDirectory()) {
    return [
      {
        id: 'file-unreadable',
        severity: 'high',
        key,
        message: `${path} is not a regular file`,
        fix: `point ${key} at a regular file`,
      },
    ];
  }
  const mode = info.mode & 0o777;
  if ((mode & 0o002) !== 0) {
    findings.push({
      id: 'file-writable-by-others',
      severity: 'high',
      key,
      message: `${path} (mode ${mode.toString(8)}) can be changed by every user of the machine`,
      fix: `chmod o-w ${path} (${secret ? '600 for a secret' : '644 or stricter'})`,
    });
  } else if ((mode & 0o020) !== 0) {
    findings.push({
      id: 'file-writable-by-group',
      severity: 'medium',
      key,
      message: `${path} (mode ${mode.toString(8)}) can be changed by its group`,
      fix: `chmod g-w ${path}`,
    });
  }
  if (secret && (mode & 0o004) !== 0) {
    findings.push({
      id: 'secret-readable-by-others',
      severity: 'medium',
      key,
      message: `${path} (mode ${mode.toString(8)}) holds a secret every user of the machine can read`,
      fix: `chmod 600 ${path} (on Kubernetes: defaultMode 0400 on the Secret volume)`,
    });
  }
  const folder = dirname(path);
  const folderMode = (await stat(folder)).mode;
  // Sticky (like /tmp): others may not replace files they do not own.
  if ((folderMode & 0o002) !== 0 && (folderMode & 0o1000) === 0) {
    findings.push({
      id: 'file-writable-by-others',
      severity: 'high',
      key,
      message: `${folder} is writable by every user, who can replace ${path}`,
      fix: `chmod o-w ${folder}`,
    });
  }
  return findings;
}

/** Existence and permissions of every named file, and of the audit log and its folder. */
export async function checkFiles(config: Readonly<Config>): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const { key, path, secret } of namedFiles(config)) {
    try {
      findings.push(...(await permissionFindings(key, path, secret)));
    } catch (error) {
      findings.push({
        id: 'file-unreadable',
        severity: 'high',
        key,
        message: `${path} cannot be used (${errorCode(error)})`,
        fix: `create the file or correct ${key}`,
      });
    }
  }
  if (config.audit.enabled) {
    for (const path of [config.audit.path, dirname(config.audit.path)]) {
      const found = await stat(path).then(
        () => true,
        () => false,
      );
      if (found) findings.push(...(await permissionFindings('audit.path', path, false)));
    }
  }
  return findings;
}

const maxSecretFileBytes = 64 * 1024;

/** Reads a secret file the way the gateway does (surrounding whitespace trimmed). */
async function readSecret(path: string): Promise<Uint8Array | undefined> {
  try {
    // Not a regular file (a FIFO would block) or far too big for a secret: checkFiles says so.
    const info = await stat(path);
    if (!info.isFile() || info.size > maxSecretFileBytes) return undefined;
    const text = await readFile(path);
    return new Uint8Array(Buffer.from(text.toString('latin1').trim(), 'latin1'));
  } catch {
    return undefined; // reported by checkFiles
  }
}

/**
 * Strength of the shared secrets: the HS* secret and the audit key (high when short or
 * low-entropy), the metrics token (medium). See secret-strength.ts for the rule.
 */
export async function checkSecrets(config: Readonly<Config>): Promise<Finding[]> {
  const findings: Finding[] = [];
  const secrets = [
    ['auth.hsSecretFile', config.auth.hsSecretFile, 'high', 'hs-secret-weak'],
    ['audit.hmacKeyFile', config.audit.hmacKeyFile, 'high', 'audit-key-weak'],
    ['metrics.bearerTokenFile', config.metrics.bearerTokenFile, 'medium', 'metrics-token-weak'],
  ] as const;
  for (const [key, path, severity, id] of secrets) {
    if (path === undefined) continue;
    const bytes = await readSecret(path);
    if (bytes === undefined) continue;
    const strength = assessSecret(bytes);
    if (!strength.short && !strength.lowEntropy) continue;
    const why = strength.short
      ? `${strength.bytes} bytes, fewer than ${minSecretBytes}`
      : `an estimated ${strength.estimatedBits} bits of entropy (repeated or patterned bytes; at least ${minSecretBits} needed)`;
    findings.push({
      id,
      severity,
      key,
      message: `the secret in ${path} is ${strength.short ? 'short' : 'guessable'}: ${why}`,
      fix: `replace it with random bytes: openssl rand -base64 48 > ${path}`,
    });
  }
  return findings;
}

// Built from parts so that this file does not itself hold the marker the key scan looks for.
const pemMarker = 'PRIVATE KEY' + '-----';
const privateKeyPattern = new RegExp(
  `-----BEGIN [A-Z0-9 ]*${pemMarker}|"d"\\s*:\\s*"[A-Za-z0-9_-]{16,}`,
);
const maxScannedFileBytes = 256 * 1024;
const maxScannedEntries = 100_000;

/**
 * Private keys anywhere in the model repository (PEM private keys, JWKs with a private part):
 * whoever can read the repository could then sign models. Small files only are read; symlinks
 * are not followed.
 */
export async function checkRepositoryKeys(config: Readonly<Config>): Promise<Finding[]> {
  const findings: Finding[] = [];
  let seen = 0;
  async function walk(dir: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (++seen > maxScannedEntries) return;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) {
        const size = (await lstat(path)).size;
        if (size > maxScannedFileBytes) continue;
        const text = await readFile(path, 'latin1').catch(() => '');
        if (privateKeyPattern.test(text)) {
          findings.push({
            id: 'private-key-in-repository',
            severity: 'high',
            key: 'models.repository',
            message: `${path} holds a private key inside the model repository`,
            fix: 'move the signing key off this machine (sign in CI, ship only model.sig) and rotate it',
          });
        }
      }
    }
  }
  await walk(config.models.repository);
  return findings;
}
