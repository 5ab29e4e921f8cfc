import assert from 'node:assert/strict';
import { readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { createDevIssuer, devIssuerDefaults } from '../../src/auth/dev-issuer.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { tempDir } from './auth-fixtures.js';

const posix = process.platform !== 'win32';

describe('createDevIssuer', () => {
  it('creates a key pair with the right modes and reuses it', async (t) => {
    const stateDir = join(await tempDir(t), 'var', 'dev-issuer');
    const first = await createDevIssuer({ stateDir });
    assert.equal(first.issuer, 'bastion-dev');
    assert.equal(first.audience, 'bastion');
    assert.equal(first.jwksFile, join(stateDir, 'jwks.json'));
    const keyPath = join(stateDir, devIssuerDefaults.privateKeyFile);
    if (posix) {
      assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
      assert.equal((await stat(stateDir)).mode & 0o077, 0);
    }
    const jwks = JSON.parse(await readFile(first.jwksFile, 'utf8')) as {
      keys: Record<string, unknown>[];
    };
    assert.equal(jwks.keys.length, 1);
    const [jwk] = jwks.keys;
    assert.ok(jwk);
    assert.equal(jwk.kid, first.kid);
    assert.equal(jwk.d, undefined, 'no private part in the JWKS');
    const pem = await readFile(keyPath, 'utf8');

    const second = await createDevIssuer({ stateDir });
    assert.equal(second.kid, first.kid);
    assert.equal(await readFile(keyPath, 'utf8'), pem);
  });

  it('repairs a loosened key mode and a stale JWKS', async (t) => {
    const stateDir = await tempDir(t);
    const first = await createDevIssuer({ stateDir });
    const keyPath = join(stateDir, devIssuerDefaults.privateKeyFile);
    await chmod(keyPath, 0o644);
    await writeFile(first.jwksFile, '{"keys":[]}');
    const second = await createDevIssuer({ stateDir });
    if (posix) assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
    const jwks = JSON.parse(await readFile(second.jwksFile, 'utf8')) as { keys: { kid: string }[] };
    assert.equal(jwks.keys[0]?.kid, first.kid);
  });

  it('agrees on one key when two start at once', async (t) => {
    const stateDir = await tempDir(t);
    const issuers = await Promise.all([1, 2, 3].map(() => createDevIssuer({ stateDir })));
    assert.equal(new Set(issuers.map((issuer) => issuer.kid)).size, 1);
  });

  it('mints ES256 tokens that verify against its JWKS file', async (t) => {
    const issuer = await createDevIssuer({ stateDir: await tempDir(t) });
    const verifier = await createTokenVerifier({
      issuer: issuer.issuer,
      audience: issuer.audience,
      keys: { kind: 'jwks-file', path: issuer.jwksFile },
    });
    const token = await issuer.mint({
      sub: 'dev',
      scopes: ['infer:*', 'models:manage'],
      ttlSec: 60,
    });
    assert.deepEqual(decodeProtectedHeader(token), { alg: 'ES256', kid: issuer.kid, typ: 'JWT' });
    const principal = await verifier.verify(`Bearer ${token}`);
    assert.equal(principal.sub, 'dev');
    assert.deepEqual([...principal.scopes], ['infer:*', 'models:manage']);
    assert.ok(principal.tokenId !== undefined);
    assert.ok(Math.abs(principal.expiresAt - (Date.now() / 1000 + 60)) < 5);
  });

  it('refuses bad mint options', async (t) => {
    const issuer = await createDevIssuer({ stateDir: await tempDir(t) });
    const cases = [
      { sub: '', scopes: [], ttlSec: 60 },
      { sub: 'a', scopes: ['two words'], ttlSec: 60 },
      { sub: 'a', scopes: ['quote"'], ttlSec: 60 },
      { sub: 'a', scopes: [], ttlSec: 0 },
      { sub: 'a', scopes: [], ttlSec: 86_401 },
      { sub: 'a', scopes: [], ttlSec: 1.5 },
    ];
    for (const options of cases) await assert.rejects(issuer.mint(options), RangeError);
  });
});
