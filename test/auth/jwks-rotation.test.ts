import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { AuthError, type AuthFailureReason } from '../../src/auth/auth-error.js';
import { createTokenVerifier, type TokenVerifier } from '../../src/auth/token-verifier.js';
import {
  audience,
  createClock,
  createTestKey,
  issuer,
  sign,
  startJwksServer,
  t0,
  tempDir,
  writeJwksFile,
  type TestKey,
} from './auth-fixtures.js';

async function rejects(verifier: TokenVerifier, token: string, reason: AuthFailureReason) {
  await assert.rejects(verifier.verify(`Bearer ${token}`), (error: unknown) => {
    assert.ok(error instanceof AuthError);
    assert.equal(error.code, 'UNAUTHENTICATED');
    assert.equal(error.reason, reason);
    return true;
  });
}

let keyA: TestKey;
let keyB: TestKey;
let keyC: TestKey;
let tokenA: string;
let tokenB: string;
let tokenC: string;

before(async () => {
  keyA = await createTestKey('a');
  keyB = await createTestKey('b');
  keyC = await createTestKey('c');
  tokenA = await sign(keyA);
  tokenB = await sign(keyB);
  tokenC = await sign(keyC);
});

describe('JWKS URL rotation against a real loopback JWKS server', () => {
  it('picks up a new key without restart and drops a removed one, cache included', async (t) => {
    const server = await startJwksServer(t, keyA);
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-url', url: server.url, cooldownMs: 0, timeoutMs: 2000 },
      now: () => t0,
    });
    assert.equal((await verifier.verify(`Bearer ${tokenA}`)).sub, 'alice');
    assert.equal((await verifier.verify(`Bearer ${tokenA}`)).sub, 'alice');
    assert.equal(verifier.cacheStats().hits, 1);
    assert.equal(server.fetches(), 1);

    // A new key is published: the unknown kid triggers a re-fetch.
    server.serve(keyA, keyB);
    assert.equal((await verifier.verify(`Bearer ${tokenB}`)).sub, 'alice');
    assert.equal(server.fetches(), 2);

    // Key A is withdrawn. The next re-fetch (here forced by another unknown kid) notices, and
    // token A leaves the cache at once.
    server.serve(keyB);
    await rejects(verifier, tokenC, 'unknown_kid');
    assert.equal(verifier.cacheStats().rotationEvictions, 1);
    await rejects(verifier, tokenA, 'unknown_kid');
    assert.equal((await verifier.verify(`Bearer ${tokenB}`)).sub, 'alice');
  });

  it('re-checks a stale key set before serving a cached token', async (t) => {
    const server = await startJwksServer(t, keyA, keyB);
    // cacheMaxAge 0: the set is always stale, so every cache hit re-fetches first.
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-url', url: server.url, cacheMaxAgeMs: 0, cooldownMs: 0 },
      now: () => t0,
    });
    await verifier.verify(`Bearer ${tokenA}`);
    await verifier.verify(`Bearer ${tokenB}`);
    server.serve(keyB);
    await rejects(verifier, tokenA, 'unknown_kid');
    assert.equal(verifier.cacheStats().rotationEvictions, 1);
    assert.equal((await verifier.verify(`Bearer ${tokenB}`)).sub, 'alice');
    assert.equal(verifier.cacheStats().hits, 1);
  });

  it('evicts tokens whose kid now names a different key', async (t) => {
    const server = await startJwksServer(t, keyA);
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-url', url: server.url, cooldownMs: 0 },
      now: () => t0,
    });
    await verifier.verify(`Bearer ${tokenA}`);
    const impostor = { ...keyB, kid: 'a', publicJwk: { ...keyB.publicJwk, kid: 'a' } };
    server.serve(impostor);
    await verifier.refreshKeys();
    assert.equal(verifier.cacheStats().rotationEvictions, 1);
    await rejects(verifier, tokenA, 'signature');
  });

  it('fails closed when the JWKS cannot be fetched', async (t) => {
    const server = await startJwksServer(t, keyA);
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-url', url: server.url, cacheMaxAgeMs: 0 },
      now: () => t0,
    });
    await verifier.verify(`Bearer ${tokenA}`);
    server.fail();
    await rejects(verifier, tokenA, 'jwks_unavailable');
    await assert.rejects(verifier.refreshKeys(), { reason: 'jwks_unavailable' });
    const unreachable = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-url', url: 'http://127.0.0.1:1/jwks.json', timeoutMs: 500 },
      now: () => t0,
    });
    await rejects(unreachable, tokenA, 'jwks_unavailable');
  });
});

describe('JWKS file reload', () => {
  it('re-reads a changed file after the check interval, evicting removed keys', async (t) => {
    const dir = await tempDir(t);
    const path = await writeJwksFile(dir, keyA);
    const clock = createClock();
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path, checkIntervalMs: 5000, unknownKidCooldownMs: 60_000 },
      now: clock.now,
    });
    await verifier.verify(`Bearer ${tokenA}`);
    await writeJwksFile(dir, keyB);
    // Within the check interval the cached token is still served: that is the staleness bound.
    await verifier.verify(`Bearer ${tokenA}`);
    assert.equal(verifier.cacheStats().hits, 1);
    clock.advance(5000);
    await rejects(verifier, tokenA, 'unknown_kid');
    assert.equal(verifier.cacheStats().rotationEvictions, 1);
    assert.equal((await verifier.verify(`Bearer ${tokenB}`)).sub, 'alice');
  });

  it('re-reads on an unknown kid, at most once per cooldown', async (t) => {
    const dir = await tempDir(t);
    const path = await writeJwksFile(dir, keyA);
    const clock = createClock();
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path, checkIntervalMs: 3_600_000, unknownKidCooldownMs: 1000 },
      now: clock.now,
    });
    await writeJwksFile(dir, keyA, keyB);
    assert.equal((await verifier.verify(`Bearer ${tokenB}`)).sub, 'alice');
    await writeJwksFile(dir, keyA, keyB, keyC);
    await rejects(verifier, tokenC, 'unknown_kid');
    clock.advance(1000);
    assert.equal((await verifier.verify(`Bearer ${tokenC}`)).sub, 'alice');
  });

  it('keeps the last good key set when a re-read fails', async (t) => {
    const dir = await tempDir(t);
    const path = await writeJwksFile(dir, keyA);
    const clock = createClock();
    const errors: unknown[] = [];
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: {
        kind: 'jwks-file',
        path,
        checkIntervalMs: 1000,
        onReloadError: (error) => errors.push(error),
      },
      now: clock.now,
      cache: false,
    });
    await writeFile(path, '{"keys": [');
    clock.advance(1000);
    assert.equal((await verifier.verify(`Bearer ${tokenA}`)).sub, 'alice');
    assert.equal(errors.length, 1);
  });
});
