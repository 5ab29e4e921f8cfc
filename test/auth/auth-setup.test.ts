// Unit tests of createAuthSetup: the `auth:` section of a parsed config turned into a working
// verifier, without booting a gateway. Each setting is checked by its effect on real tokens (a
// JWKS file, a loopback JWKS URL, a shared-secret file, the dev issuer). Time is node:test's mock
// Date, so durations in seconds (tolerance, lifetime, cache ttl, JWKS max age) are exact.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { SignJWT } from 'jose';
import { AuthError, type AuthFailureReason } from '../../src/auth/auth-error.js';
import { createAuthSetup, devIssuerStateDir } from '../../src/auth/auth-setup.js';
import type { TokenVerifier } from '../../src/auth/token-verifier.js';
import { parseConfigText } from '../../src/config/load-config.js';
import {
  audience,
  createTestKey,
  issuer,
  sign,
  startJwksServer,
  tempDir,
  writeJwksFile,
  type TestKey,
} from './auth-fixtures.js';

const now = Date.UTC(2031, 5, 1);
const nowSec = now / 1000;
let key: TestKey;

before(async () => {
  key = await createTestKey('k1');
});

/** Parses a config whose auth section is `auth` (YAML lines), state kept under `dir`. */
function config(dir: string, auth: string[], extra = '') {
  const text = `stateDir: ${dir}\nauth:\n${auth.map((l) => `  ${l}`).join('\n')}\n${extra}`;
  return parseConfigText(text, join(dir, 'config.yaml'));
}

const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: issuer,
  aud: audience,
  sub: 'alice',
  iat: nowSec - 10,
  exp: nowSec + 300,
  ...overrides,
});

async function refused(verifier: TokenVerifier, token: string, reason: AuthFailureReason) {
  await assert.rejects(verifier.verify(`Bearer ${token}`), (error: unknown) => {
    assert.ok(error instanceof AuthError, String(error));
    assert.equal(error.reason, reason);
    return true;
  });
}

/** A verifier from a JWKS-file config; the test has enabled the mock Date. */
async function jwksFileSetup(t: TestContext, more: string[] = []) {
  const dir = await tempDir(t);
  const jwks = await writeJwksFile(dir, key);
  const setup = await createAuthSetup(
    config(dir, [`issuer: ${issuer}`, `audience: ${audience}`, `jwksFile: ${jwks}`, ...more]),
  );
  assert.equal(setup.devIssuer, undefined);
  return setup.verifier;
}

void describe('createAuthSetup with a JWKS file', () => {
  void it('verifies the configured issuer and audience', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const verifier = await jwksFileSetup(t);
    const principal = await verifier.verify(`Bearer ${await sign(key, claims())}`);
    assert.equal(principal.sub, 'alice');
    await refused(verifier, await sign(key, claims({ iss: 'https://other.test' })), 'issuer');
    await refused(verifier, await sign(key, claims({ aud: 'other' })), 'audience');
  });

  void it('applies clockToleranceSec', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const verifier = await jwksFileSetup(t, ['clockToleranceSec: 5']);
    // jose: expired once exp <= now - tolerance.
    await verifier.verify(`Bearer ${await sign(key, claims({ exp: nowSec - 4 }))}`);
    await refused(verifier, await sign(key, claims({ exp: nowSec - 5 })), 'expired');
  });

  void it('applies maxTokenLifetimeSec', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const verifier = await jwksFileSetup(t, ['maxTokenLifetimeSec: 100']);
    await verifier.verify(`Bearer ${await sign(key, claims({ iat: nowSec, exp: nowSec + 100 }))}`);
    await refused(
      verifier,
      await sign(key, claims({ iat: nowSec, exp: nowSec + 101 })),
      'lifetime_too_long',
    );
    const open = await jwksFileSetup(t);
    await open.verify(`Bearer ${await sign(key, claims({ iat: nowSec, exp: nowSec + 86_400 }))}`);
  });

  void it('applies maxTokenBytes', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const verifier = await jwksFileSetup(t, ['maxTokenBytes: 256']);
    const token = await sign(key, claims());
    assert.ok(token.length > 256, 'token.length > 256');
    await refused(verifier, token, 'too_long');
  });

  void it('pins the configured algorithms', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const verifier = await jwksFileSetup(t, ['algorithms: [ES384]']);
    await refused(verifier, await sign(key, claims()), 'algorithm');
  });

  void it('caches verified tokens for cache.ttlSec, or not at all with maxEntries 0', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const verifier = await jwksFileSetup(t, ['cache:', '  ttlSec: 2']);
    const header = `Bearer ${await sign(key, claims())}`;
    await verifier.verify(header);
    t.mock.timers.tick(1999);
    await verifier.verify(header);
    assert.equal(verifier.cacheStats().hits, 1);
    t.mock.timers.tick(1);
    await verifier.verify(header);
    assert.equal(verifier.cacheStats().hits, 1, 'expired from the cache after ttlSec');
    assert.equal(verifier.cacheStats().misses, 2);

    const uncached = await jwksFileSetup(t, ['cache:', '  maxEntries: 0']);
    await uncached.verify(header);
    await uncached.verify(header);
    assert.deepEqual(uncached.cacheStats(), { hits: 0, misses: 0, size: 0, rotationEvictions: 0 });

    const small = await jwksFileSetup(t, ['cache:', '  maxEntries: 1']);
    await small.verify(header);
    await small.verify(`Bearer ${await sign(key, claims({ sub: 'bob' }))}`);
    assert.equal(small.cacheStats().size, 1);
  });
});

void describe('createAuthSetup with a JWKS URL', () => {
  void it('fetches from the URL and re-reads it after jwksCacheMaxAgeSec', async (t) => {
    const server = await startJwksServer(t, key);
    t.mock.timers.enable({ apis: ['Date'], now });
    const dir = await tempDir(t);
    const { verifier } = await createAuthSetup(
      config(dir, [
        `issuer: ${issuer}`,
        `audience: ${audience}`,
        `jwksUrl: ${server.url}`,
        'jwksCacheMaxAgeSec: 2',
        'jwksTimeoutMs: 2000',
      ]),
    );
    const header = `Bearer ${await sign(key, claims())}`;
    await verifier.verify(header);
    await verifier.verify(header);
    assert.equal(server.fetches(), 1);
    t.mock.timers.tick(1999);
    await verifier.verify(header);
    assert.equal(server.fetches(), 1, 'fresh for jwksCacheMaxAgeSec');
    t.mock.timers.tick(1);
    await verifier.verify(header);
    assert.equal(server.fetches(), 2, 're-read once stale');
  });
});

void describe('createAuthSetup with a shared secret', () => {
  void it('reads the secret file, trimmed, for the HS algorithm', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const dir = await tempDir(t);
    const secret = 's'.repeat(40);
    const file = join(dir, 'secret');
    await writeFile(file, `  ${secret}\n`);
    const { verifier } = await createAuthSetup(
      config(dir, [
        `issuer: ${issuer}`,
        `audience: ${audience}`,
        `hsSecretFile: ${file}`,
        'algorithms: [HS256]',
      ]),
    );
    const hs = (value: string) =>
      new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(value));
    assert.equal((await verifier.verify(`Bearer ${await hs(secret)}`)).sub, 'alice');
    await refused(verifier, await hs(`${secret}\n`), 'signature');
  });

  void it('refuses a secret shorter than 32 bytes, naming the field', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'secret');
    await writeFile(file, 'short\n');
    await assert.rejects(
      createAuthSetup(
        config(dir, [
          `issuer: ${issuer}`,
          `audience: ${audience}`,
          `hsSecretFile: ${file}`,
          'algorithms: [HS256]',
        ]),
      ),
      {
        message:
          'auth.sharedSecret: the auth shared secret has 5 bytes: use at least 32 random bytes',
      },
    );
  });
});

void describe('createAuthSetup with the development issuer', () => {
  void it('creates the issuer under stateDir and verifies what it mints, ES256 only', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const dir = await tempDir(t);
    const parsed = config(dir, ['devIssuer: true']);
    assert.equal(devIssuerStateDir(parsed), join(dir, 'dev-issuer'));
    const setup = await createAuthSetup(parsed);
    assert.ok(setup.devIssuer !== undefined, 'setup.devIssuer !== undefined');
    assert.equal(setup.devIssuer.issuer, 'bastion-dev');
    assert.equal(setup.devIssuer.audience, 'bastion');
    assert.equal(setup.devIssuer.jwksFile, join(dir, 'dev-issuer', 'jwks.json'));
    const token = await setup.devIssuer.mint({ sub: 'dev', scopes: ['infer:iris'], ttlSec: 60 });
    const principal = await setup.verifier.verify(`Bearer ${token}`);
    assert.equal(principal.sub, 'dev');
    assert.deepEqual([...principal.scopes], ['infer:iris']);
    // The configured algorithm list (default ES256, EdDSA, RS256) is narrowed to ES256.
    const rsa = await createTestKey(setup.devIssuer.kid, 'RS256');
    await refused(
      setup.verifier,
      await sign(rsa, claims({ iss: 'bastion-dev', aud: 'bastion' })),
      'algorithm',
    );
  });
});

void describe('createAuthSetup with the development issuer and a fixed issuer', () => {
  void it('mints and verifies the issuer and audience given to it', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now });
    const dir = await tempDir(t);
    // The config file refuses this combination; the function keeps the two in step anyway.
    const parsed = config(dir, ['devIssuer: true']);
    const setup = await createAuthSetup({
      ...parsed,
      auth: { ...parsed.auth, issuer: 'https://dev.example', audience: 'gw' },
    });
    assert.ok(setup.devIssuer !== undefined, 'setup.devIssuer !== undefined');
    assert.equal(setup.devIssuer.issuer, 'https://dev.example');
    assert.equal(setup.devIssuer.audience, 'gw');
    const token = await setup.devIssuer.mint({ sub: 'dev', scopes: [], ttlSec: 60 });
    assert.equal((await setup.verifier.verify(`Bearer ${token}`)).sub, 'dev');
  });
});

void describe('createAuthSetup refusals', () => {
  void it('production without any issuer names what production needs, nothing more', async (t) => {
    const dir = await tempDir(t);
    const text = `stateDir: ${dir}\nauth:\n  clockToleranceSec: 30\n`;
    const production = parseConfigText(text, join(dir, 'config.yaml'), { NODE_ENV: 'production' });
    await assert.rejects(createAuthSetup(production), {
      message: [
        "auth.issuer: auth.issuer is required in production: set it to your identity provider's issuer",
        'auth.audience: auth.audience is required in production: set it to the audience your tokens carry',
        'auth.jwksFile: no token key source: set auth.jwksFile or auth.jwksUrl',
      ].join('\n'),
    });
  });

  void it('no issuer at all in development names both fixes', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(createAuthSetup(config(dir, ['clockToleranceSec: 30'])), {
      message:
        'auth.jwksFile: no token key source: set auth.jwksFile or auth.jwksUrl\nauth: no token issuer is configured; set auth.devIssuer: true for local development, or auth.issuer, auth.audience and auth.jwksFile / auth.jwksUrl',
    });
  });

  void it('a key source without issuer or audience', async (t) => {
    const dir = await tempDir(t);
    const jwks = await writeJwksFile(dir, key);
    await assert.rejects(
      createAuthSetup(config(dir, [`audience: ${audience}`, `jwksFile: ${jwks}`])),
      {
        message: 'auth: issuer, audience and a key source are required',
      },
    );
    await assert.rejects(createAuthSetup(config(dir, [`issuer: ${issuer}`, `jwksFile: ${jwks}`])), {
      message: 'auth: issuer, audience and a key source are required',
    });
  });

  void it('a plain-http JWKS URL that is not loopback', async (t) => {
    const dir = await tempDir(t);
    await assert.rejects(
      createAuthSetup(
        config(dir, [
          `issuer: ${issuer}`,
          `audience: ${audience}`,
          'jwksUrl: http://idp.example/jwks',
        ]),
      ),
      {
        message:
          'auth.jwksUrl: auth.jwksUrl must use https (plain http only to a loopback address, not in production)',
      },
    );
  });
});
