// Unit tests of the key sources below the verifier: the JWKS file source (refusing secrets at
// load, re-reading on change or on an unknown kid, forced refreshes, keeping the last good set)
// and the key-set fingerprints that decide which cached tokens a rotation ends. Real files; the
// clock is injected.
import assert from 'node:assert/strict';
import { utimes, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import type { JWK } from 'jose';
import { createJwksFileKeySource, jwksFileDefaults } from '../../src/auth/jwks-file-key-source.js';
import { fingerprintKeySet, removedKeys, type KeySource } from '../../src/auth/key-source.js';
import {
  createSharedSecretKeySource,
  sharedSecretBytes,
} from '../../src/auth/shared-secret-key-source.js';
import {
  createClock,
  createTestKey,
  jwksOf,
  lookUpKey,
  startJwksServer,
  tempDir,
  type TestKey,
} from './auth-fixtures.js';
import { createJwksUrlKeySource } from '../../src/auth/jwks-url-key-source.js';

let keyA: TestKey;
let keyB: TestKey;
let keyC: TestKey;

before(async () => {
  keyA = await createTestKey('a');
  keyB = await createTestKey('b');
  keyC = await createTestKey('c');
});

/** True when the source resolves `kid` (without throwing). */
async function knows(source: KeySource, kid: string): Promise<boolean> {
  try {
    await lookUpKey(source, kid);
    return true;
  } catch {
    return false;
  }
}

const fixedTime = 1_700_000_000;
/** Writes the set in place (same inode) and pins its mtime, so only the content changes. */
async function writeInPlace(path: string, ...keys: TestKey[]): Promise<void> {
  await writeFile(path, JSON.stringify(jwksOf(...keys)));
  await utimes(path, fixedTime, fixedTime);
}

async function fileSource(t: TestContext, ...keys: TestKey[]) {
  const dir = await tempDir(t);
  const path = join(dir, 'jwks.json');
  await writeInPlace(path, ...keys);
  const clock = createClock(0);
  const errors: unknown[] = [];
  const removed: string[][] = [];
  const source = await createJwksFileKeySource(
    {
      kind: 'jwks-file',
      path,
      checkIntervalMs: 1000,
      unknownKidCooldownMs: 500,
      onReloadError: (e) => errors.push(e),
    },
    clock.now,
  );
  source.onKeysChanged((change) => removed.push([...change.removed]));
  return { path, clock, source, errors, removed };
}

void describe('JWKS file key source', () => {
  void it('has the documented defaults', () => {
    assert.deepEqual(jwksFileDefaults, { checkIntervalMs: 5000, unknownKidCooldownMs: 5000 });
  });

  void it('refuses a file holding any private or symmetric key, naming the file', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'jwks.json');
    const cases: JWK[][] = [
      [keyA.publicJwk, { ...keyB.publicJwk, d: 'private' }],
      [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hs' }],
    ];
    for (const keys of cases) {
      await writeFile(path, JSON.stringify({ keys }));
      await assert.rejects(
        createJwksFileKeySource({ kind: 'jwks-file', path }),
        (error: unknown) => {
          assert.ok(error instanceof Error, 'error instanceof Error');
          assert.equal(error.message, `auth.jwksFile ${path} could not be read as a JWKS`);
          assert.ok(error.cause instanceof Error, 'error.cause instanceof Error');
          assert.equal(error.cause.message, 'the JWKS must hold public keys only');
          return true;
        },
      );
    }
    await writeFile(path, 'not json');
    await assert.rejects(createJwksFileKeySource({ kind: 'jwks-file', path }), (error: unknown) => {
      assert.ok(
        error instanceof Error && error.cause instanceof SyntaxError,
        'error instanceof Error && error.cause instanceof SyntaxError',
      );
      return true;
    });
  });

  void it('re-reads a changed file only after checkIntervalMs, reporting removed keys', async (t) => {
    const { path, clock, source, removed } = await fileSource(t, keyA);
    assert.equal(await knows(source, 'a'), true);
    await writeFile(path, JSON.stringify(jwksOf(keyB)));
    clock.advance(999);
    await source.ensureFresh();
    assert.deepEqual(removed, [], 'not yet re-read');
    clock.advance(1);
    await source.ensureFresh();
    assert.deepEqual(removed, [['a']]);
    assert.equal(await knows(source, 'b'), true);
  });

  void it('an unchanged file is not reported, however often it is checked', async (t) => {
    const { clock, source, removed } = await fileSource(t, keyA);
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      await source.ensureFresh();
    }
    await source.refresh();
    assert.deepEqual(removed, []);
  });

  void it('refresh and an unknown kid re-read the file even when its stat looks unchanged', async (t) => {
    const { path, clock, source, removed } = await fileSource(t, keyA);
    // Same size, same mtime, same inode: only a forced read can see the new key.
    await writeInPlace(path, keyB);
    clock.advance(1000);
    await source.ensureFresh();
    assert.deepEqual(removed, [], 'the periodic check trusts the stat');
    assert.equal(await knows(source, 'b'), true, 'the unknown kid forces a read');
    assert.deepEqual(removed, [['a']]);
    await writeInPlace(path, keyC);
    await source.refresh();
    assert.deepEqual(removed, [['a'], ['b']]);
    assert.equal(await knows(source, 'c'), true);
  });

  void it('an unknown kid forces at most one read per cooldown', async (t) => {
    const { path, clock, source } = await fileSource(t, keyA);
    assert.equal(await knows(source, 'b'), false);
    await writeInPlace(path, keyA, keyB);
    clock.advance(499);
    assert.equal(await knows(source, 'b'), false, 'inside the cooldown');
    clock.advance(1);
    assert.equal(await knows(source, 'b'), true);
  });

  void it('a failed re-read keeps the last good set and is reported, or ignored without a listener', async (t) => {
    const { path, clock, source, errors } = await fileSource(t, keyA);
    await writeFile(path, '{ broken');
    clock.advance(1000);
    await source.ensureFresh();
    assert.equal(errors.length, 1);
    assert.equal(await knows(source, 'a'), true);

    const dir = await tempDir(t);
    const quiet = join(dir, 'jwks.json');
    await writeInPlace(quiet, keyA);
    const silent = await createJwksFileKeySource({ kind: 'jwks-file', path: quiet }, () => 0);
    await writeFile(quiet, '{ broken');
    await silent.refresh();
    assert.equal(await knows(silent, 'a'), true);
  });
});

void describe('JWKS URL key source failures', () => {
  void it('a set that was never fetched fails as unavailable', async (t) => {
    const server = await startJwksServer(t, keyA);
    server.fail();
    const source = createJwksUrlKeySource({ kind: 'jwks-url', url: new URL(server.url) });
    await assert.rejects(source.refresh(), (error: unknown) => {
      assert.ok(error instanceof Error, 'error instanceof Error');
      assert.equal(error.name, 'KeySourceUnavailableError');
      assert.ok(error.cause instanceof Error, 'error.cause instanceof Error');
      return true;
    });
    await assert.rejects(
      async () => {
        await lookUpKey(source, 'a');
      },
      { name: 'KeySourceUnavailableError' },
    );
  });

  void it('gives up after timeoutMs on a server that never answers', async (t) => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => {
            resolve();
          });
        }),
    );
    const { port } = server.address() as AddressInfo;
    const source = createJwksUrlKeySource({
      kind: 'jwks-url',
      url: `http://127.0.0.1:${port}/jwks`,
      timeoutMs: 200,
    });
    const started = performance.now();
    await assert.rejects(source.refresh(), { name: 'KeySourceUnavailableError' });
    // Far below jose's 5 s default.
    assert.ok(performance.now() - started < 4000, `took ${performance.now() - started} ms`);
  });
});

void describe('key-set fingerprints', () => {
  void it('keys by kid, or by #fingerprint for keys without one', () => {
    const noKid = (key: TestKey): JWK => {
      const { kid: _kid, ...rest } = key.publicJwk;
      return rest;
    };
    const set = fingerprintKeySet({ keys: [keyA.publicJwk, noKid(keyB), noKid(keyC)] });
    const ids = [...set.keys()];
    assert.equal(ids.length, 3);
    assert.equal(ids[0], 'a');
    assert.ok(ids[1]?.startsWith('#["EC","P-256",'), 'ids[1]?.startsWith(\'#["EC","P-256",\')');
    assert.ok(ids[2]?.startsWith('#["EC","P-256",'), 'ids[2]?.startsWith(\'#["EC","P-256",\')');
    assert.notEqual(ids[1], ids[2]);
    assert.equal(
      set.get('a'),
      JSON.stringify([
        'EC',
        'P-256',
        keyA.publicJwk.x,
        keyA.publicJwk.y,
        undefined,
        undefined,
        'ES256',
        'sig',
      ]),
    );
  });

  void it('a key is removed when it is gone or its kid now names other key material', () => {
    const before = fingerprintKeySet(jwksOf(keyA, keyB));
    const impostor = { ...keyC.publicJwk, kid: 'b' };
    assert.deepEqual(
      [...removedKeys(before, fingerprintKeySet({ keys: [keyA.publicJwk, impostor] }))],
      ['b'],
    );
    assert.deepEqual([...removedKeys(before, fingerprintKeySet(jwksOf(keyB)))], ['a']);
    assert.deepEqual([...removedKeys(before, fingerprintKeySet(jwksOf(keyB, keyA, keyC)))], []);
  });
});

void describe('shared-secret key source', () => {
  void it('serves a copy of the secret bytes and never changes', async () => {
    assert.deepEqual(sharedSecretBytes('abc'), new TextEncoder().encode('abc'));
    const bytes = new Uint8Array(32).fill(7);
    assert.equal(sharedSecretBytes(bytes), bytes);
    const source = createSharedSecretKeySource({ kind: 'shared-secret', secret: bytes });
    bytes.fill(0);
    assert.deepEqual(source.key, new Uint8Array(32).fill(7));
    const fresh = source.ensureFresh();
    const refreshed = source.refresh();
    assert.ok(
      fresh instanceof Promise && refreshed instanceof Promise,
      'fresh instanceof Promise && refreshed instanceof Promise',
    );
    await Promise.all([fresh, refreshed]);
    assert.throws(() => createSharedSecretKeySource({ kind: 'shared-secret', secret: 'short' }), {
      message: 'the auth shared secret has 5 bytes; use at least 32 random bytes',
    });
  });
});
