import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it, type TestContext } from 'node:test';
import { CompactSign, SignJWT } from 'jose';
import {
  AuthError,
  unauthenticatedMessage,
  type AuthFailureReason,
} from '../../src/auth/auth-error.js';
import {
  createTokenVerifier,
  type TokenVerifier,
  type TokenVerifierOptions,
} from '../../src/auth/token-verifier.js';
import {
  audience,
  b64url,
  createTestKey,
  goodClaims,
  handBuilt,
  issuer,
  sign,
  t0,
  t0Sec,
  tempDir,
  writeJwksFile,
  type TestKey,
} from './auth-fixtures.js';

function signRaw(key: TestKey, payload: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .sign(key.privateKey);
}

async function rejects(
  verifier: TokenVerifier,
  header: string | undefined,
  reason: AuthFailureReason,
): Promise<void> {
  await assert.rejects(verifier.verify(header), (error: unknown) => {
    assert.ok(error instanceof AuthError, `expected AuthError, got ${String(error)}`);
    assert.equal(error.code, 'UNAUTHENTICATED');
    assert.equal(error.status, 401);
    assert.equal(error.reason, reason);
    assert.equal(error.message, unauthenticatedMessage);
    return true;
  });
}

describe('createTokenVerifier (JWKS file)', () => {
  let es: TestKey;
  let ed: TestKey;
  let rs: TestKey;
  let stranger: TestKey;
  let verifier: TokenVerifier;
  let good: string;

  before(async () => {
    es = await createTestKey('es-1');
    ed = await createTestKey('ed-1', 'EdDSA');
    rs = await createTestKey('rs-1', 'RS256');
    stranger = await createTestKey('stranger');
    good = await sign(es);
  });

  async function build(t: TestContext, extra: Partial<TokenVerifierOptions> = {}) {
    const dir = await tempDir(t);
    const path = await writeJwksFile(dir, es, ed, rs);
    return createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path },
      now: () => t0,
      cache: false,
      ...extra,
    });
  }

  it('accepts a good token and returns the principal', async (t) => {
    verifier = await build(t);
    for (const key of [es, ed, rs]) {
      const principal = await verifier.verify(`Bearer ${await sign(key)}`);
      assert.equal(principal.sub, 'alice');
      assert.deepEqual([...principal.scopes], ['infer:iris']);
      assert.equal(principal.expiresAt, t0Sec + 300);
      assert.equal(principal.tokenId, 'token-1');
      assert.ok(Object.isFrozen(principal));
      assert.throws(() => (principal.scopes as Set<string>).add('infer:*'), TypeError);
    }
  });

  it('takes the scheme case-insensitively and scopes from scope and scp', async (t) => {
    verifier = await build(t);
    for (const scheme of ['bearer', 'BEARER', 'BeArEr', 'Bearer  ']) {
      assert.equal((await verifier.verify(`${scheme} ${good}`)).sub, 'alice');
    }
    const scp = await sign(es, goodClaims({ scope: undefined, scp: ['infer:a', 'models:manage'] }));
    assert.deepEqual(
      [...(await verifier.verify(`Bearer ${scp}`)).scopes],
      ['infer:a', 'models:manage'],
    );
    const both = await sign(es, goodClaims({ scope: 'infer:a  infer:b', scp: 'infer:c' }));
    assert.deepEqual(
      [...(await verifier.verify(`Bearer ${both}`)).scopes],
      ['infer:a', 'infer:b', 'infer:c'],
    );
    const none = await sign(es, goodClaims({ scope: undefined, jti: undefined }));
    const principal = await verifier.verify(`Bearer ${none}`);
    assert.equal(principal.scopes.size, 0);
    assert.equal(principal.tokenId, undefined);
    const audList = await sign(es, goodClaims({ aud: ['other', audience] }));
    assert.equal((await verifier.verify(`Bearer ${audList}`)).sub, 'alice');
    // within the 30 s clock tolerance
    const justExpired = await sign(es, goodClaims({ exp: t0Sec - 10 }));
    assert.equal((await verifier.verify(`Bearer ${justExpired}`)).sub, 'alice');
  });

  it('rejects every bad header and token with the right reason', async (t) => {
    verifier = await build(t);
    const [h, p, s] = good.split('.') as [string, string, string];
    const spki = createPublicKey({ key: es.publicJwk as never, format: 'jwk' }).export({
      format: 'pem',
      type: 'spki',
    });
    const confused = await new SignJWT(goodClaims())
      .setProtectedHeader({ alg: 'HS256', kid: es.kid })
      .sign(new TextEncoder().encode(spki.toString()));
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    const cases: [string, string | undefined, AuthFailureReason][] = [
      ['no header', undefined, 'missing'],
      ['empty header', '', 'missing'],
      ['scheme only', 'Bearer', 'missing'],
      ['scheme and spaces', 'Bearer    ', 'missing'],
      ['Basic scheme', 'Basic dXNlcjpwYXNz', 'scheme'],
      ['token without scheme', good, 'scheme'],
      ['other scheme', `Token ${good}`, 'scheme'],
      ['two tokens', `Bearer ${good} ${good}`, 'malformed'],
      ['garbage', 'Bearer garbage', 'malformed'],
      ['three garbage parts', 'Bearer a.b.c', 'malformed'],
      ['not b64token', 'Bearer a.b.c!', 'malformed'],
      ['payload swapped, not JSON', `Bearer ${h}.${b64url('not json')}.${s}`, 'signature'],
      ['signed payload not JSON', `Bearer ${await signRaw(es, 'not json')}`, 'malformed'],
      ['signed payload a JSON array', `Bearer ${await signRaw(es, '[1]')}`, 'malformed'],
      ['oversized token', `Bearer ${'a'.repeat(8193)}`, 'too_long'],
      ['oversized header', `Bearer ${' '.repeat(100_000)}x`, 'too_long'],
      ['HS256 with the public key as secret', `Bearer ${confused}`, 'algorithm'],
      [
        'tampered payload',
        `Bearer ${h}.${b64url(goodClaims({ scope: 'infer:*' }))}.${s}`,
        'signature',
      ],
      ['tampered signature', `Bearer ${h}.${p}.${flipped}`, 'signature'],
      ['signature stripped', `Bearer ${h}.${p}.`, 'signature'],
    ];
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const header = { alg, typ: 'JWT' };
      cases.push([`alg ${alg}`, `Bearer ${handBuilt(header, goodClaims())}`, 'algorithm']);
      cases.push([
        `alg ${alg} with kid`,
        `Bearer ${handBuilt({ ...header, kid: es.kid }, goodClaims(), s)}`,
        'algorithm',
      ]);
    }
    const signed: [string, Promise<string>, AuthFailureReason][] = [
      ['expired', sign(es, goodClaims({ exp: t0Sec - 3600 })), 'expired'],
      ['not yet valid', sign(es, goodClaims({ nbf: t0Sec + 3600 })), 'not_yet_valid'],
      ['missing exp', sign(es, goodClaims({ exp: undefined })), 'claims'],
      ['exp not a number', sign(es, goodClaims({ exp: 'soon' })), 'claims'],
      ['wrong iss', sign(es, goodClaims({ iss: 'https://evil.test' })), 'issuer'],
      ['missing iss', sign(es, goodClaims({ iss: undefined })), 'issuer'],
      ['wrong aud', sign(es, goodClaims({ aud: 'other' })), 'audience'],
      ['missing aud', sign(es, goodClaims({ aud: undefined })), 'audience'],
      ['missing sub', sign(es, goodClaims({ sub: undefined })), 'claims'],
      ['empty sub', sign(es, goodClaims({ sub: '' })), 'claims'],
      ['sub too long', sign(es, goodClaims({ sub: 'x'.repeat(257) })), 'claims'],
      ['scope not a string', sign(es, goodClaims({ scope: ['infer:*'] as never })), 'claims'],
      ['scp not strings', sign(es, goodClaims({ scp: [1, 2] })), 'claims'],
      ['unknown kid', sign(stranger), 'unknown_kid'],
      ['unknown key, known kid', sign(stranger, goodClaims(), { kid: es.kid }), 'signature'],
      ['key of another algorithm', sign(es, goodClaims(), { kid: rs.kid }), 'unknown_kid'],
    ];
    for (const [name, token, reason] of signed) cases.push([name, `Bearer ${await token}`, reason]);
    for (const [name, header, reason] of cases) {
      await t.test(name, () => rejects(verifier, header, reason));
    }
  });

  it('honours a configured maximum token length', async (t) => {
    verifier = await build(t, { maxTokenLength: 64 });
    await rejects(verifier, `Bearer ${good}`, 'too_long');
  });

  it('pins algorithms to the configured list', async (t) => {
    verifier = await build(t, { algorithms: ['ES256'] });
    await rejects(verifier, `Bearer ${await sign(ed)}`, 'algorithm');
    assert.equal((await verifier.verify(`Bearer ${good}`)).sub, 'alice');
  });

  it('refuses unsafe options at construction', async (t) => {
    const dir = await tempDir(t);
    const path = await writeJwksFile(dir, es);
    const file = { kind: 'jwks-file', path } as const;
    const secret = { kind: 'shared-secret', secret: 'x'.repeat(32) } as const;
    const cases: [string, TokenVerifierOptions, RegExp][] = [
      ['none', { issuer, audience, keys: file, algorithms: ['ES256', 'none'] }, /none/],
      ['NONE', { issuer, audience, keys: file, algorithms: ['NONE'] }, /NONE/],
      [' None ', { issuer, audience, keys: secret, algorithms: [' None '] }, /None/],
      [
        'HS256 with a JWKS',
        { issuer, audience, keys: file, algorithms: ['HS256'] },
        /shared secret/,
      ],
      ['ES256 with a secret', { issuer, audience, keys: secret, algorithms: ['ES256'] }, /HS256/],
      ['unsupported', { issuer, audience, keys: file, algorithms: ['XS256'] }, /unsupported/],
      ['empty list', { issuer, audience, keys: file, algorithms: [] }, /empty/],
      ['empty issuer', { issuer: '', audience, keys: file }, /auth\.issuer/],
      ['empty audience', { issuer, audience: '', keys: file }, /auth\.audience/],
      [
        'short secret',
        { issuer, audience, keys: { kind: 'shared-secret', secret: 'x'.repeat(31) } },
        /32/,
      ],
      [
        'missing JWKS file',
        { issuer, audience, keys: { kind: 'jwks-file', path: join(dir, 'nope.json') } },
        /jwksFile/,
      ],
    ];
    const leaky = join(dir, 'private.json');
    await writeFile(leaky, JSON.stringify({ keys: [{ ...es.publicJwk, d: 'AAAA' }] }));
    cases.push([
      'private key in the JWKS',
      { issuer, audience, keys: { kind: 'jwks-file', path: leaky } },
      /jwksFile/,
    ]);
    for (const [name, options, message] of cases) {
      await t.test(name, () => assert.rejects(createTokenVerifier(options), message));
    }
  });
});

describe('createTokenVerifier (shared secret)', () => {
  const secret = new TextEncoder().encode('0123456789abcdef0123456789abcdef');

  it('accepts HS256 only when configured, and only the pinned HS algorithm', async () => {
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'shared-secret', secret },
      now: () => t0,
    });
    const hs256 = await new SignJWT(goodClaims()).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    assert.equal((await verifier.verify(`Bearer ${hs256}`)).sub, 'alice');
    const hs512 = await new SignJWT(goodClaims()).setProtectedHeader({ alg: 'HS512' }).sign(secret);
    await rejects(verifier, `Bearer ${hs512}`, 'algorithm');
    const wrong = await new SignJWT(goodClaims())
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('another-secret-of-32-bytes-long!'));
    await rejects(verifier, `Bearer ${wrong}`, 'signature');
    await rejects(verifier, `Bearer ${handBuilt({ alg: 'none' }, goodClaims())}`, 'algorithm');
  });
});

describe('createTokenVerifier: iat and token lifetime', () => {
  let es: TestKey;
  before(async () => {
    es = await createTestKey('es-times');
  });

  async function build(t: TestContext, extra: Partial<TokenVerifierOptions> = {}) {
    const dir = await tempDir(t);
    const path = await writeJwksFile(dir, es);
    return createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path },
      now: () => t0,
      cache: false,
      ...extra,
    });
  }

  // [name, claims, maxTokenLifetimeSec, expected: 'ok' or the refusal reason]; tolerance is 30 s.
  const cases: [string, Record<string, unknown>, number | undefined, 'ok' | AuthFailureReason][] = [
    ['iat now', { iat: t0Sec }, undefined, 'ok'],
    ['iat within the skew', { iat: t0Sec + 30 }, undefined, 'ok'],
    ['iat 1 s past the skew', { iat: t0Sec + 31 }, undefined, 'issued_in_future'],
    [
      'iat 11 days ahead',
      { iat: t0Sec + 11 * 86_400, exp: t0Sec + 12 * 86_400 },
      undefined,
      'issued_in_future',
    ],
    ['iat absent', { iat: undefined }, undefined, 'ok'],
    ['iat not a number', { iat: 'yesterday' }, undefined, 'claims'],
    ['lifetime at the limit', { iat: t0Sec - 10, exp: t0Sec + 590 }, 600, 'ok'],
    ['lifetime 1 s over', { iat: t0Sec - 10, exp: t0Sec + 591 }, 600, 'lifetime_too_long'],
    [
      'a year-long token',
      { iat: t0Sec - 10, exp: t0Sec + 31_536_000 },
      86_400,
      'lifetime_too_long',
    ],
    ['no iat: exp − now at the limit', { iat: undefined, exp: t0Sec + 600 }, 600, 'ok'],
    ['no iat: exp − now over', { iat: undefined, exp: t0Sec + 601 }, 600, 'lifetime_too_long'],
    ['no limit configured', { iat: t0Sec - 10, exp: t0Sec + 31_536_000 }, undefined, 'ok'],
  ];
  for (const [name, claims, maxTokenLifetimeSec, expected] of cases) {
    it(name, async (t) => {
      const verifier = await build(
        t,
        maxTokenLifetimeSec === undefined ? {} : { maxTokenLifetimeSec },
      );
      const header = `Bearer ${await sign(es, goodClaims(claims))}`;
      if (expected === 'ok') assert.equal((await verifier.verify(header)).sub, 'alice');
      else await rejects(verifier, header, expected);
    });
  }
});
