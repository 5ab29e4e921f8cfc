// Shared fixtures for the auth tests: keys, JWKS files, signed and hand-built tokens, and a real
// loopback JWKS server.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type FlattenedJWSInput,
  type JWK,
  type JWSHeaderParameters,
  type JWTPayload,
} from 'jose';
import type { KeySource } from '../../src/auth/key-source.js';

export const issuer = 'https://issuer.test';
export const audience = 'bastion';
/** A fixed "now" for the tests: 2030-01-01T00:00:00Z, in ms. */
export const t0 = Date.UTC(2030, 0, 1);
export const t0Sec = t0 / 1000;

export interface TestKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function createTestKey(kid: string, alg = 'ES256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

export function jwksOf(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => key.publicJwk) };
}

/** Claims that pass every check at {@link t0}. */
export function goodClaims(overrides: Record<string, unknown> = {}): JWTPayload {
  return {
    iss: issuer,
    aud: audience,
    sub: 'alice',
    scope: 'infer:iris',
    iat: t0Sec - 10,
    exp: t0Sec + 300,
    jti: 'token-1',
    ...overrides,
  };
}

/** Signs `claims` as given (undefined members are dropped), with `kid` from the key by default. */
export async function sign(
  key: TestKey,
  claims: Record<string, unknown> = goodClaims(),
  header: Record<string, unknown> = {},
): Promise<string> {
  const payload = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

export function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString(
    'base64url',
  );
}

/** A token assembled by hand, for what jose would refuse to produce. */
export function handBuilt(header: unknown, payload: unknown, signature = ''): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}

export async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bastion-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function writeJwksFile(dir: string, ...keys: TestKey[]): Promise<string> {
  const path = join(dir, 'jwks.json');
  // Write then rename, as an operator's tooling would; the inode change is what we detect.
  const temp = join(dir, `${randomUUID()}.tmp`);
  await writeFile(temp, JSON.stringify(jwksOf(...keys)));
  const { rename } = await import('node:fs/promises');
  await rename(temp, path);
  return path;
}

/** A mutable clock for injection. */
export function createClock(start = t0): { now: () => number; advance: (ms: number) => void } {
  let current = start;
  return {
    now: () => current,
    advance: (ms) => {
      current += ms;
    },
  };
}

export interface JwksServer {
  readonly url: string;
  /** Replaces the served key set. */
  serve(...keys: TestKey[]): void;
  /** Answers 500 from now on (until the next `serve`). */
  fail(): void;
  /** How many times the set was fetched. */
  readonly fetches: () => number;
}

/** A real JWKS endpoint on 127.0.0.1:0, closed after the test. */
export async function startJwksServer(
  t: { after: (fn: () => Promise<void>) => void },
  ...keys: TestKey[]
): Promise<JwksServer> {
  let body = JSON.stringify(jwksOf(...keys));
  let fetches = 0;
  let failing = false;
  const server: Server = createServer((_req, res) => {
    fetches += 1;
    if (failing) res.writeHead(500).end();
    else res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    serve: (...next) => {
      failing = false;
      body = JSON.stringify(jwksOf(...next));
    },
    fail: () => {
      failing = true;
    },
    fetches: () => fetches,
  };
}

/**
 * Asks a key source for the key of `kid`, as jose's verify calls it (`KeySource.key` is typed as
 * jose's union of a key and a lookup function; every source here is the function).
 */
export function lookUpKey(source: KeySource, kid: string): Promise<unknown> {
  const lookup = source.key as unknown as (
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
  ) => Promise<unknown>;
  return lookup({ alg: 'ES256', kid }, { payload: '', signature: '' });
}
