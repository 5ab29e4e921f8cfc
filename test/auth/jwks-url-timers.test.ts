// The JWKS URL key source's durations, with the clock controlled by node:test's mock timers
// (jose keeps its own Date.now for them) instead of sleeps: the set is reused until it is
// cacheMaxAgeMs old and re-fetched after, and an unknown kid re-fetches at most once per
// cooldownMs. A real JWKS server on loopback; only Date is mocked, so the fetches run for real.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createJwksUrlKeySource, jwksUrlDefaults } from '../../src/auth/jwks-url-key-source.js';
import { KeySourceUnavailableError } from '../../src/auth/key-source.js';
import { createTestKey, lookUpKey, startJwksServer, type TestKey } from './auth-fixtures.js';

let keyA: TestKey;
let keyB: TestKey;

before(async () => {
  keyA = await createTestKey('a');
  keyB = await createTestKey('b');
});

void describe('JWKS URL durations (mock Date)', () => {
  void it('has the documented defaults', () => {
    assert.deepEqual(jwksUrlDefaults, {
      timeoutMs: 5000,
      cooldownMs: 30_000,
      cacheMaxAgeMs: 600_000,
    });
  });

  void it('reuses the set until cacheMaxAgeMs, then re-fetches it', async (t) => {
    const server = await startJwksServer(t, keyA);
    t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2030, 0, 1) });
    const source = createJwksUrlKeySource({
      kind: 'jwks-url',
      url: server.url,
      cacheMaxAgeMs: 10_000,
    });
    await lookUpKey(source, 'a');
    assert.equal(server.fetches(), 1);
    await source.ensureFresh();
    await lookUpKey(source, 'a');
    assert.equal(server.fetches(), 1, 'fresh: no fetch');
    t.mock.timers.tick(9_999);
    await source.ensureFresh();
    assert.equal(server.fetches(), 1, '1 ms before cacheMaxAgeMs: still fresh');
    t.mock.timers.tick(1);
    await source.ensureFresh();
    assert.equal(server.fetches(), 2, 'at cacheMaxAgeMs: re-fetched');
    await source.ensureFresh();
    assert.equal(server.fetches(), 2, 'and fresh again');
    // A stale set is re-fetched by the next key lookup too.
    t.mock.timers.tick(10_000);
    await lookUpKey(source, 'a');
    assert.equal(server.fetches(), 3);
  });

  void it('an unknown kid re-fetches at most once per cooldownMs, and reports removed keys', async (t) => {
    const server = await startJwksServer(t, keyA);
    t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2030, 0, 1) });
    const source = createJwksUrlKeySource({
      kind: 'jwks-url',
      url: server.url,
      cooldownMs: 30_000,
    });
    const removed: string[][] = [];
    source.onKeysChanged((change) => removed.push([...change.removed]));
    await lookUpKey(source, 'a');
    server.serve(keyB);
    // Within the cooldown the unknown kid is refused from the set in hand, without a fetch.
    t.mock.timers.tick(29_999);
    await assert.rejects(
      async () => {
        await lookUpKey(source, 'b');
      },
      { code: 'ERR_JWKS_NO_MATCHING_KEY' },
    );
    assert.equal(server.fetches(), 1);
    assert.deepEqual(removed, []);
    // Once it has passed, the unknown kid fetches the new set, which no longer has key a.
    t.mock.timers.tick(1);
    await lookUpKey(source, 'b');
    assert.equal(server.fetches(), 2);
    assert.deepEqual(removed, [['a']]);
    // Right after that fetch the cooldown starts again.
    await assert.rejects(
      async () => {
        await lookUpKey(source, 'a');
      },
      { code: 'ERR_JWKS_NO_MATCHING_KEY' },
    );
    assert.equal(server.fetches(), 2);
  });

  void it('a failed fetch is unavailable, not an unknown key', async (t) => {
    const server = await startJwksServer(t, keyA);
    t.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2030, 0, 1) });
    const source = createJwksUrlKeySource({
      kind: 'jwks-url',
      url: server.url,
      cacheMaxAgeMs: 1000,
    });
    await lookUpKey(source, 'a');
    server.fail();
    t.mock.timers.tick(1000);
    await assert.rejects(source.ensureFresh(), KeySourceUnavailableError);
    await assert.rejects(source.refresh(), {
      name: 'KeySourceUnavailableError',
      message: 'the JWKS URL could not be fetched or parsed',
    });
    server.serve(keyA);
    await source.refresh();
    await lookUpKey(source, 'a');
  });
});
