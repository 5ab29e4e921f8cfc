import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config-schema.js';
import { findAuthProblems } from './auth-problems.js';
import { createDevIssuer, type DevIssuer } from './dev-issuer.js';
import type { KeySourceOptions } from './key-source.js';
import { createTokenVerifier, type TokenVerifier } from './token-verifier.js';

/** The verifier a gateway uses, and the dev issuer behind it when there is one. */
export interface AuthSetup {
  readonly verifier: TokenVerifier;
  readonly devIssuer: DevIssuer | undefined;
}

/** Where the development issuer keeps its key pair. */
export function devIssuerStateDir(config: Readonly<Config>): string {
  return join(config.stateDir, 'dev-issuer');
}

/**
 * Builds the token verifier from `auth:`. With `auth.devIssuer` (development only) the issuer's
 * key pair is created under `stateDir/dev-issuer` on first start and reused after.
 *
 * @throws Error listing every problem, each naming the field and the fix.
 */
export async function createAuthSetup(config: Readonly<Config>): Promise<AuthSetup> {
  const { auth } = config;
  let keys: KeySourceOptions | undefined;
  if (auth.jwksFile !== undefined) keys = { kind: 'jwks-file', path: auth.jwksFile };
  else if (auth.jwksUrl !== undefined) {
    keys = {
      kind: 'jwks-url',
      url: auth.jwksUrl,
      timeoutMs: auth.jwksTimeoutMs,
      cacheMaxAgeMs: auth.jwksCacheMaxAgeSec * 1000,
    };
  } else if (auth.hsSecretFile !== undefined) {
    keys = { kind: 'shared-secret', secret: (await readFile(auth.hsSecretFile, 'utf8')).trim() };
  }
  const problems = findAuthProblems({
    mode: config.mode,
    devIssuer: auth.devIssuer,
    issuer: auth.issuer,
    audience: auth.audience,
    algorithms: auth.algorithms,
    keys,
  }).map((p) => `${p.field}: ${p.message}`);
  if (!auth.devIssuer && keys === undefined && config.mode !== 'production') {
    problems.push(
      'auth: no token issuer is configured; set auth.devIssuer: true for local development, or auth.issuer, auth.audience and auth.jwksFile / auth.jwksUrl',
    );
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));

  let devIssuer: DevIssuer | undefined;
  let issuer = auth.issuer;
  let audience = auth.audience;
  if (auth.devIssuer) {
    // The issuer must mint what the verifier checks: a configured iss/aud applies to both.
    devIssuer = await createDevIssuer({
      stateDir: devIssuerStateDir(config),
      ...(issuer === undefined ? {} : { issuer }),
      ...(audience === undefined ? {} : { audience }),
    });
    issuer ??= devIssuer.issuer;
    audience ??= devIssuer.audience;
    keys = { kind: 'jwks-file', path: devIssuer.jwksFile };
  }
  if (issuer === undefined || audience === undefined || keys === undefined) {
    throw new Error('auth: issuer, audience and a key source are required');
  }
  const verifier = await createTokenVerifier({
    issuer,
    audience,
    keys,
    algorithms: auth.devIssuer ? ['ES256'] : auth.algorithms,
    clockToleranceSec: auth.clockToleranceSec,
    ...(auth.maxTokenLifetimeSec === undefined
      ? {}
      : { maxTokenLifetimeSec: auth.maxTokenLifetimeSec }),
    maxTokenLength: auth.maxTokenBytes,
    cache:
      auth.cache.maxEntries === 0
        ? false
        : { maxEntries: auth.cache.maxEntries, ttlMs: auth.cache.ttlSec * 1000 },
  });
  return { verifier, devIssuer };
}
