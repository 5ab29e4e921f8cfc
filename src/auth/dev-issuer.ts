import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  type KeyObject,
} from 'node:crypto';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';
import { isNotFound, unlessMissing, writeFileAtomic } from '../fs-files.js';
import { maxTokenTtlSec } from './token-ttl.js';

/** Options of {@link createDevIssuer}. */
export interface DevIssuerOptions {
  /** Folder for the key pair, e.g. `var/dev-issuer` (git-ignored); created 0700 if missing. */
  readonly stateDir: string;
  /** The `iss` of minted tokens. Default {@link devIssuerDefaults}.issuer. */
  readonly issuer?: string;
  /** The `aud` of minted tokens. Default {@link devIssuerDefaults}.audience. */
  readonly audience?: string;
  /** The clock in ms (injectable for tests). Default `Date.now`. */
  readonly now?: () => number;
}

/** What to mint. */
export interface MintOptions {
  /** The `sub` claim. */
  readonly sub: string;
  /** Scopes, written as the space-separated `scope` claim. */
  readonly scopes: readonly string[];
  /** Lifetime in seconds, 1 … 86400. */
  readonly ttlSec: number;
}

/** A local development token issuer (CONTRACT "Set-up"); refused in production. */
export interface DevIssuer {
  readonly issuer: string;
  readonly audience: string;
  /** Always ES256. */
  readonly algorithm: 'ES256';
  /** The JWKS file holding the public key, for the verifier's `jwks-file` key source. */
  readonly jwksFile: string;
  /** The `kid`: the key's RFC 7638 thumbprint. */
  readonly kid: string;
  /**
   * Mints a compact JWT with `iss`, `aud`, `sub`, `scope`, `iat`, `exp` and `jti`.
   *
   * @throws {RangeError} for an empty `sub`, a scope with whitespace, or a ttl out of range.
   */
  mint(options: MintOptions): Promise<string>;
}

/** Defaults of {@link DevIssuerOptions} and the file names under `stateDir`. */
export const devIssuerDefaults = {
  issuer: 'bastion-dev',
  audience: 'bastion',
  privateKeyFile: 'private-key.pem',
  jwksFile: 'jwks.json',
} as const;

const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+$/; // RFC 6749 §3.3

/** Reads the private key, or creates it; two processes starting together end up with one key. */
async function loadOrCreatePrivateKey(path: string): Promise<KeyObject> {
  try {
    const info = await stat(path);
    // Someone loosened it (or an old checkout): the private key is ours only.
    if ((info.mode & 0o077) !== 0) await chmod(path, 0o600);
    return createPrivateKey(await readFile(path, 'utf8'));
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  try {
    // Fails with EEXIST when another process won the race: its key is the one.
    await writeFileAtomic(path, pem, { mode: 0o600, overwrite: false });
    return privateKey;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return createPrivateKey(await readFile(path, 'utf8'));
  }
}

/**
 * Creates (on first use) or reuses the development issuer under `stateDir`: an ES256 private key
 * (`private-key.pem`, 0600) and a JWKS with its public key (`jwks.json`, rewritten from the private
 * key when it differs, so the two always match).
 */
export async function createDevIssuer(options: DevIssuerOptions): Promise<DevIssuer> {
  const issuer = options.issuer ?? devIssuerDefaults.issuer;
  const audience = options.audience ?? devIssuerDefaults.audience;
  const now = options.now ?? Date.now;
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const privateKey = await loadOrCreatePrivateKey(
    join(options.stateDir, devIssuerDefaults.privateKeyFile),
  );
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwksFile = join(options.stateDir, devIssuerDefaults.jwksFile);
  const jwks = `${JSON.stringify({ keys: [{ ...publicJwk, kid, alg: 'ES256', use: 'sig' }] }, null, 2)}\n`;
  const existing = await unlessMissing(readFile(jwksFile, 'utf8'));
  if (existing !== jwks) await writeFileAtomic(jwksFile, jwks, { mode: 0o644, overwrite: true });

  return {
    issuer,
    audience,
    algorithm: 'ES256',
    jwksFile,
    kid,
    async mint({ sub, scopes, ttlSec }) {
      if (sub === '') throw new RangeError('sub must not be empty');
      if (!Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > maxTokenTtlSec) {
        throw new RangeError(`ttl must be 1 to ${maxTokenTtlSec} seconds`);
      }
      const bad = scopes.find((scope) => !scopeToken.test(scope));
      if (bad !== undefined) throw new RangeError(`invalid scope ${JSON.stringify(bad)}`);
      const iat = Math.floor(now() / 1000);
      return new SignJWT({ scope: scopes.join(' ') })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(sub)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSec)
        .setJti(randomUUID())
        .sign(privateKey);
    },
  };
}
