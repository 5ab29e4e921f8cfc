import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthError } from '../../src/auth/auth-error.js';
import { parsePrincipal, type Principal } from '../../src/auth/principal.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { createVerifiedTokenCache } from '../../src/auth/verified-token-cache.js';
import {
  audience,
  createClock,
  createTestKey,
  goodClaims,
  issuer,
  sign,
  t0,
  t0Sec,
  tempDir,
  writeJwksFile,
} from './auth-fixtures.js';

function principal(sub: string, exp = t0Sec + 3600): Principal {
  return parsePrincipal({ sub, exp });
}

describe('createVerifiedTokenCache', () => {
  it('keys by SHA-256, never the token itself', () => {
    const cache = createVerifiedTokenCache();
    const key = cache.keyFor('a.b.c');
    assert.notEqual(key, 'a.b.c');
    assert.equal(key, cache.keyFor('a.b.c'));
    assert.equal(Buffer.from(key, 'base64url').length, 32);
    // `printf a.b.c | openssl dgst -sha256 -binary | base64url`
    assert.equal(key, 'hF4wRIgJ4ryJWOsCW_x5UjXROwd6U9DDq70jhRcNybg');
  });

  it('serves an entry until min(exp, ttl), counting hits and misses', () => {
    const cache = createVerifiedTokenCache({ ttlMs: 60_000 });
    cache.set('long', principal('a'), 'k', t0);
    cache.set('short', principal('b', t0Sec + 10), 'k', t0);
    cache.set('dead', principal('c', t0Sec), 'k', t0);
    assert.equal(cache.get('long', t0 + 59_999)?.sub, 'a');
    assert.equal(cache.get('long', t0 + 60_000), undefined);
    assert.equal(cache.get('short', t0 + 9_999)?.sub, 'b');
    assert.equal(cache.get('short', t0 + 10_000), undefined);
    assert.equal(cache.get('dead', t0), undefined);
    assert.deepEqual(cache.stats(), { hits: 2, misses: 3, size: 0, rotationEvictions: 0 });
  });

  it('is bounded, evicting the least recently used', () => {
    const cache = createVerifiedTokenCache({ maxEntries: 2 });
    cache.set('1', principal('1'), 'k', t0);
    cache.set('2', principal('2'), 'k', t0);
    cache.get('1', t0);
    cache.set('3', principal('3'), 'k', t0);
    assert.equal(cache.has('2', t0), false);
    assert.equal(cache.has('1', t0), true);
    assert.equal(cache.has('3', t0), true);
    assert.equal(cache.stats().size, 2);
  });

  it('evicts by removed kid, and kid-less entries on any removal', () => {
    const cache = createVerifiedTokenCache();
    cache.set('a', principal('a'), 'kid-a', t0);
    cache.set('b', principal('b'), 'kid-b', t0);
    cache.set('none', principal('n'), undefined, t0);
    assert.equal(cache.evictKeys(new Set()), 0);
    assert.equal(cache.evictKeys(new Set(['kid-a'])), 2);
    assert.equal(cache.has('b', t0), true);
    assert.equal(cache.stats().rotationEvictions, 2);
    cache.clear();
    assert.equal(cache.stats().size, 0);
  });

  it('refuses bad bounds', () => {
    assert.throws(() => createVerifiedTokenCache({ maxEntries: 0 }), RangeError);
    assert.throws(() => createVerifiedTokenCache({ ttlMs: -1 }), RangeError);
  });
});

describe('token verifier cache', () => {
  it('serves the second verify from the cache and never serves an expired entry', async (t) => {
    const key = await createTestKey('k1');
    const path = await writeJwksFile(await tempDir(t), key);
    const clock = createClock();
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path },
      cache: { ttlMs: 60_000 },
      clockToleranceSec: 30,
      now: clock.now,
    });
    const token = `Bearer ${await sign(key, goodClaims({ exp: t0Sec + 120 }))}`;
    const first = await verifier.verify(token);
    const second = await verifier.verify(token);
    assert.equal(second, first);
    assert.deepEqual(verifier.cacheStats(), { hits: 1, misses: 1, size: 1, rotationEvictions: 0 });

    clock.advance(60_000); // past the cache TTL: verified again, then cached again
    await verifier.verify(token);
    assert.equal(verifier.cacheStats().misses, 2);
    clock.advance(60_000); // t0 + 120 s = exp: the entry is gone; jose still allows the tolerance
    await verifier.verify(token);
    assert.equal(verifier.cacheStats().misses, 3);
    assert.equal(verifier.cacheStats().size, 0);
    clock.advance(31_000); // past exp + tolerance
    await assert.rejects(verifier.verify(token), (error: unknown) => {
      assert.ok(error instanceof AuthError);
      assert.equal(error.reason, 'expired');
      return true;
    });
    assert.equal(verifier.cacheStats().hits, 1);
  });

  it('does not cache failures', async (t) => {
    const key = await createTestKey('k1');
    const path = await writeJwksFile(await tempDir(t), key);
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path },
      now: () => t0,
    });
    const bad = `Bearer ${await sign(key, goodClaims({ aud: 'other' }))}`;
    await assert.rejects(verifier.verify(bad), { reason: 'audience' });
    await assert.rejects(verifier.verify(bad), { reason: 'audience' });
    assert.deepEqual(verifier.cacheStats(), { hits: 0, misses: 2, size: 0, rotationEvictions: 0 });
  });

  it('reports zero counters without a cache', async (t) => {
    const key = await createTestKey('k1');
    const path = await writeJwksFile(await tempDir(t), key);
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path },
      cache: false,
      now: () => t0,
    });
    const token = `Bearer ${await sign(key)}`;
    await verifier.verify(token);
    await verifier.verify(token);
    assert.deepEqual(verifier.cacheStats(), { hits: 0, misses: 0, size: 0, rotationEvictions: 0 });
  });

  it('drops a kid-less token when any key is removed', async (t) => {
    const [a, b] = await Promise.all([createTestKey('a'), createTestKey('b')]);
    const dir = await tempDir(t);
    const path = await writeJwksFile(dir, a, b);
    const clock = createClock();
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path, checkIntervalMs: 1000 },
      now: clock.now,
    });
    // Two keys fit a token without kid: the token must name one.
    const kidless = `Bearer ${await sign(a, goodClaims(), { kid: undefined })}`;
    await assert.rejects(verifier.verify(kidless), { reason: 'unknown_kid' });
    await writeJwksFile(dir, a);
    clock.advance(1000);
    await verifier.verify(kidless);
    await verifier.verify(kidless);
    assert.equal(verifier.cacheStats().hits, 1);
    await writeJwksFile(dir, a, b);
    clock.advance(1000);
    await verifier.verify(kidless);
    assert.equal(verifier.cacheStats().rotationEvictions, 0);
    await writeJwksFile(dir, a);
    clock.advance(1000);
    await verifier.verify(kidless);
    assert.equal(verifier.cacheStats().rotationEvictions, 1);
  });
});
