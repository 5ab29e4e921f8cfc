// The development issuer's files and mint bounds, beyond the happy path: nothing temporary left
// behind, the JWKS not rewritten when it already matches (same inode), a configured issuer and
// audience minted, ttl accepted at exactly 1 s and 24 h, and each refusal by its message.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { createDevIssuer } from '../../src/auth/dev-issuer.js';
import { tempDir } from './auth-fixtures.js';

void describe('development issuer files', () => {
  void it('leaves only the key and the JWKS, and rewrites the JWKS only when it differs', async (t) => {
    const stateDir = await tempDir(t);
    const first = await createDevIssuer({ stateDir });
    assert.equal(first.algorithm, 'ES256');
    assert.deepEqual((await readdir(stateDir)).sort(), ['jwks.json', 'private-key.pem']);
    const before = await stat(first.jwksFile);
    assert.equal(before.mode & 0o777, 0o644);
    await createDevIssuer({ stateDir });
    const after = await stat(first.jwksFile);
    assert.equal(after.ino, before.ino, 'an up-to-date JWKS is left alone');
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.deepEqual((await readdir(stateDir)).sort(), ['jwks.json', 'private-key.pem']);
    // Racing starts leave no temporary files either.
    await Promise.all([1, 2, 3].map(() => createDevIssuer({ stateDir: `${stateDir}/race` })));
    assert.deepEqual((await readdir(`${stateDir}/race`)).sort(), ['jwks.json', 'private-key.pem']);
  });

  void it('mints the configured issuer and audience, at the injected time', async (t) => {
    const issuer = await createDevIssuer({
      stateDir: await tempDir(t),
      issuer: 'https://dev.example',
      audience: 'gateway',
      now: () => 1_800_000_000_500,
    });
    assert.equal(issuer.issuer, 'https://dev.example');
    assert.equal(issuer.audience, 'gateway');
    const claims = decodeJwt(await issuer.mint({ sub: 'dev', scopes: ['a', 'b'], ttlSec: 1 }));
    assert.equal(claims.iss, 'https://dev.example');
    assert.equal(claims.aud, 'gateway');
    assert.equal(claims.sub, 'dev');
    assert.equal(claims.scope, 'a b');
    assert.equal(claims.iat, 1_800_000_000);
    assert.equal(claims.exp, 1_800_000_001);
    assert.match(String(claims.jti), /^[0-9a-f-]{36}$/);
    const day = decodeJwt(await issuer.mint({ sub: 'dev', scopes: [], ttlSec: 86_400 }));
    assert.equal(day.exp, 1_800_086_400);
    assert.equal(day.scope, '');
  });

  void it('refuses bad mint options by message', async (t) => {
    const issuer = await createDevIssuer({ stateDir: await tempDir(t) });
    const cases: [Parameters<typeof issuer.mint>[0], string][] = [
      [{ sub: '', scopes: [], ttlSec: 60 }, 'sub must not be empty'],
      [{ sub: 'a', scopes: [], ttlSec: 0 }, 'ttl must be 1 to 86400 seconds'],
      [{ sub: 'a', scopes: [], ttlSec: 86_401 }, 'ttl must be 1 to 86400 seconds'],
      [{ sub: 'a', scopes: [], ttlSec: 2.5 }, 'ttl must be 1 to 86400 seconds'],
      [{ sub: 'a', scopes: ['ok', 'two words'], ttlSec: 60 }, 'invalid scope "two words"'],
      [{ sub: 'a', scopes: ['back\\slash'], ttlSec: 60 }, 'invalid scope "back\\\\slash"'],
      [{ sub: 'a', scopes: [''], ttlSec: 60 }, 'invalid scope ""'],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(issuer.mint(options), { name: 'RangeError', message });
    }
  });
});
