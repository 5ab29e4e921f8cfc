// The verifier's synchronous fast path (verifyCached), which the auth hook takes before the full
// verification: it answers only for a token verified before, and only while the key set needs no
// freshness check; everything else is left to verify(), which gives the reason.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import {
  audience,
  createTestKey,
  goodClaims,
  issuer,
  sign,
  t0,
  tempDir,
  writeJwksFile,
} from './auth-fixtures.js';

async function setUp(t: TestContext, cache = true) {
  const key = await createTestKey('es-1');
  const dir = await tempDir(t);
  const path = await writeJwksFile(dir, key);
  let nowMs = t0;
  const verifier = await createTokenVerifier({
    issuer,
    audience,
    keys: { kind: 'jwks-file', path, checkIntervalMs: 1000 },
    now: () => nowMs,
    ...(cache ? {} : { cache: false }),
  });
  return {
    verifier,
    key,
    path,
    dir,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

void describe('verifyCached', () => {
  void it('answers only for a token verify() accepted, with the same principal', async (t) => {
    const { verifier, key } = await setUp(t);
    const header = `Bearer ${await sign(key)}`;
    assert.equal(verifier.verifyCached(header), undefined, 'not verified yet');
    const principal = await verifier.verify(header);
    assert.equal(verifier.verifyCached(header), principal);
    const other = `Bearer ${await sign(key, goodClaims({ sub: 'bob' }))}`;
    assert.equal(verifier.verifyCached(other), undefined, 'another token is not cached');
  });

  void it('never throws: a missing or malformed header is left to verify()', async (t) => {
    const { verifier } = await setUp(t);
    for (const header of [undefined, '', 'Basic abc', 'Bearer', `Bearer ${'x'.repeat(9000)}`]) {
      assert.equal(verifier.verifyCached(header), undefined, String(header));
    }
  });

  void it('steps aside when the key set is due a check, so a removed key ends its tokens', async (t) => {
    const { verifier, key, path, dir, advance } = await setUp(t);
    const header = `Bearer ${await sign(key)}`;
    await verifier.verify(header);
    advance(500);
    assert.ok(verifier.verifyCached(header) !== undefined, 'within the check interval');
    advance(600);
    assert.equal(verifier.verifyCached(header), undefined, 'a check is due');
    // The full path checks the file: the key was replaced, so the cached token is refused.
    assert.equal(await writeJwksFile(dir, await createTestKey('es-2')), path);
    await assert.rejects(verifier.verify(header));
    assert.equal(verifier.verifyCached(header), undefined);
  });

  void it('is always undefined without a cache', async (t) => {
    const { verifier, key } = await setUp(t, false);
    const header = `Bearer ${await sign(key)}`;
    await verifier.verify(header);
    assert.equal(verifier.verifyCached(header), undefined);
  });
});
