// The edges of the auth building blocks that the end-to-end tests leave loose: the errors and
// their causes, the bearer header's length and shape bounds, principal claims, token lifetimes,
// the algorithm messages and how jose failures map to reasons. Table-driven, exact values.
import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import { errors } from 'jose';
import {
  asymmetricAlgorithms,
  findAlgorithmProblems,
  isNoneAlgorithm,
} from '../../src/config/jws-algorithms.js';
import {
  AuthError,
  forbiddenMessage,
  isAuthError,
  unauthenticatedMessage,
  type AuthFailureReason,
} from '../../src/auth/auth-error.js';
import { findAuthProblems } from '../../src/auth/auth-problems.js';
import { parseBearerToken } from '../../src/auth/bearer-token.js';
import { KeySourceUnavailableError } from '../../src/auth/key-source.js';
import { maxSubjectLength, parsePrincipal } from '../../src/auth/principal.js';
import { maxTokenTtlSec, parseTokenTtl } from '../../src/auth/token-ttl.js';
import { checkTimes, createTokenVerifier, toAuthError } from '../../src/auth/token-verifier.js';
import { createVerifiedTokenCache } from '../../src/auth/verified-token-cache.js';
import {
  audience,
  b64url,
  createTestKey,
  goodClaims,
  issuer,
  sign,
  t0,
  tempDir,
  writeJwksFile,
  type TestKey,
} from './auth-fixtures.js';

function reason(expected: AuthFailureReason) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof AuthError, `expected AuthError, got ${String(error)}`);
    assert.equal(error.reason, expected);
    return true;
  };
}

void describe('AuthError', () => {
  void it('is a 401 with the generic message, or a 403 for forbidden, carrying its cause', () => {
    const cause = new Error('jose said no');
    const e = new AuthError('expired', { cause });
    assert.equal(e.name, 'AuthError');
    assert.equal(e.code, 'UNAUTHENTICATED');
    assert.equal(e.status, 401);
    assert.equal(e.message, 'invalid or missing bearer token');
    assert.equal(unauthenticatedMessage, 'invalid or missing bearer token');
    assert.equal(e.cause, cause);
    assert.equal(e.requiredScope, undefined);
    const f = new AuthError('forbidden', { requiredScope: 'infer:iris' });
    assert.equal(f.code, 'FORBIDDEN');
    assert.equal(f.status, 403);
    assert.equal(f.message, 'the token does not grant access to this resource');
    assert.equal(forbiddenMessage, f.message);
    assert.equal(f.requiredScope, 'infer:iris');
    assert.equal('cause' in f, false);
    assert.equal(isAuthError(e), true);
    assert.equal(isAuthError(new Error('x')), false);
    assert.equal(isAuthError(undefined), false);
  });
});

void describe('toAuthError', () => {
  const map = (error: unknown) => toAuthError(error);

  void it('keeps an AuthError as it is, and keeps every cause', () => {
    const original = new AuthError('issued_in_future');
    assert.equal(map(original), original);
    const unavailable = new KeySourceUnavailableError('down');
    assert.equal(unavailable.name, 'KeySourceUnavailableError');
    const mapped = map(unavailable);
    assert.deepEqual([mapped.reason, mapped.cause], ['jwks_unavailable', unavailable]);
    const typeError = new TypeError('bad key type');
    assert.deepEqual([map(typeError).reason, map(typeError).cause], ['malformed', typeError]);
  });

  void it('maps jose errors to reasons, with the jose error as cause', () => {
    const payload = { sub: 'a' };
    const cases: [Error, AuthFailureReason][] = [
      [new errors.JWTExpired('expired', payload, 'exp', 'check_failed'), 'expired'],
      [new errors.JWTClaimValidationFailed('iss', payload, 'iss', 'check_failed'), 'issuer'],
      [new errors.JWTClaimValidationFailed('aud', payload, 'aud', 'check_failed'), 'audience'],
      [new errors.JWTClaimValidationFailed('nbf', payload, 'nbf', 'check_failed'), 'not_yet_valid'],
      // A malformed nbf is a claims problem, not "not yet valid".
      [new errors.JWTClaimValidationFailed('nbf', payload, 'nbf', 'invalid'), 'claims'],
      [new errors.JWTClaimValidationFailed('sub', payload, 'sub', 'missing'), 'claims'],
      [new errors.JWTClaimValidationFailed('x', payload, 'x', 'check_failed'), 'claims'],
      [new errors.JOSEAlgNotAllowed('alg'), 'algorithm'],
      [new errors.JOSENotSupported('crit'), 'algorithm'],
      [new errors.JWSSignatureVerificationFailed(), 'signature'],
      [new errors.JWKSNoMatchingKey(), 'unknown_kid'],
      [new errors.JWKSMultipleMatchingKeys(), 'unknown_kid'],
      [new errors.JWSInvalid('bad'), 'malformed'],
      [new errors.JWTInvalid('bad'), 'malformed'],
    ];
    for (const [error, expected] of cases) {
      const mapped = map(error);
      assert.equal(mapped.reason, expected, error.constructor.name);
      assert.equal(mapped.cause, error, error.constructor.name);
    }
  });
});

void describe('checkTimes', () => {
  const now = 1_000_000;
  void it('refuses an iat beyond the tolerance, at the second', () => {
    checkTimes({ iat: now + 30 }, now, 30, undefined);
    assert.throws(() => {
      checkTimes({ iat: now + 31 }, now, 30, undefined);
    }, reason('issued_in_future'));
    checkTimes({}, now, 0, undefined);
  });
  void it('refuses a lifetime over the maximum, from iat or else from now', () => {
    checkTimes({ iat: now, exp: now + 60 }, now, 0, 60);
    assert.throws(() => {
      checkTimes({ iat: now, exp: now + 61 }, now, 0, 60);
    }, reason('lifetime_too_long'));
    checkTimes({ exp: now + 60 }, now, 0, 60);
    assert.throws(() => {
      checkTimes({ exp: now + 61 }, now, 0, 60);
    }, reason('lifetime_too_long'));
    // An old iat with a near exp is a long lifetime even if little of it is left.
    assert.throws(() => {
      checkTimes({ iat: now - 100, exp: now + 1 }, now, 0, 60);
    }, reason('lifetime_too_long'));
    checkTimes({ iat: now, exp: now + 1_000_000 }, now, 0, undefined);
  });
});

void describe('parseBearerToken', () => {
  const max = 100;
  const token = (n: number) => 'a'.repeat(n);
  void it('accepts the scheme in any case and several spaces, up to the length bound', () => {
    assert.equal(parseBearerToken(`Bearer ${token(max)}`, max), token(max));
    assert.equal(parseBearerToken(`bEaReR   ${token(10)}`, max), token(10));
    assert.equal(parseBearerToken(`  Bearer x.y_z-~+/==  `, max), 'x.y_z-~+/==');
    // The raw bound is the token bound plus 64: spaces after the scheme still fit.
    const padded = `Bearer${' '.repeat(58)}${token(max)}`;
    assert.equal(padded.length, max + 64);
    assert.equal(parseBearerToken(padded, max), token(max));
    assert.equal(parseBearerToken(`Bearer ${token(8000)}`), token(8000));
  });
  const cases: [string | undefined, AuthFailureReason][] = [
    [undefined, 'missing'],
    ['', 'missing'],
    ['   ', 'missing'],
    ['Bearer', 'missing'],
    ['Bearer    ', 'missing'],
    ['Basic abc', 'scheme'],
    ['Bearerx abc', 'scheme'],
    [`Bearer ${token(max + 1)}`, 'too_long'],
    [`Bearer${' '.repeat(59)}${token(max)}`, 'too_long'],
    ['Bearer abc def', 'malformed'],
    ['Bearer !abc', 'malformed'],
    ['Bearer abc!', 'malformed'],
    ['Bearer ab=c', 'malformed'],
    ['Bearer a\tb', 'malformed'],
  ];
  for (const [header, expected] of cases) {
    void it(`${JSON.stringify(header)}: ${expected}`, () => {
      assert.throws(() => parseBearerToken(header, max), reason(expected));
    });
  }
});

void describe('parsePrincipal', () => {
  const base = { sub: 'alice', exp: 2_000_000_000 };
  void it('builds a frozen principal with sealed scopes from scope and scp', () => {
    const p = parsePrincipal({ ...base, scope: 'a  b', scp: ['c', '', 'a'], jti: 'id-1' });
    assert.deepEqual([...p.scopes].sort(), ['a', 'b', 'c']);
    assert.equal(p.expiresAt, 2_000_000_000);
    assert.equal(p.tokenId, 'id-1');
    assert.ok(Object.isFrozen(p), 'Object.isFrozen(p)');
    const scopes = p.scopes as Set<string>;
    const changes = [
      () => {
        scopes.add('admin');
      },
      () => {
        scopes.delete('a');
      },
      () => {
        scopes.clear();
      },
    ];
    for (const change of changes) {
      assert.throws(change, { name: 'TypeError', message: 'scopes are read-only' });
    }
    assert.deepEqual([...p.scopes].sort(), ['a', 'b', 'c']);
    assert.deepEqual([...parsePrincipal({ ...base, scp: 'x y' }).scopes], ['x', 'y']);
    assert.equal(parsePrincipal(base).scopes.size, 0);
    assert.equal('tokenId' in parsePrincipal({ ...base, jti: 5 as unknown as string }), false);
    assert.equal(parsePrincipal({ ...base, sub: 's'.repeat(maxSubjectLength) }).sub.length, 256);
  });
  const refused: [string, Record<string, unknown>][] = [
    ['no sub', { exp: base.exp }],
    ['a numeric sub', { ...base, sub: 5 }],
    ['an empty sub', { ...base, sub: '' }],
    ['a sub over 256 characters', { ...base, sub: 's'.repeat(257) }],
    ['no exp', { sub: 'a' }],
    ['a string exp', { ...base, exp: '2000000000' }],
    ['an infinite exp', { ...base, exp: Infinity }],
    ['a numeric scope', { ...base, scope: 5 }],
    ['a numeric scp', { ...base, scp: 5 }],
    ['an scp list with a number', { ...base, scp: ['a', 5] }],
  ];
  for (const [name, payload] of refused) {
    void it(`refuses ${name}: claims`, () => {
      assert.throws(() => parsePrincipal(payload), reason('claims'));
    });
  }
});

void describe('parseTokenTtl', () => {
  void it('reads seconds, minutes and hours in 1 s … 24 h', () => {
    const cases: [string, number | undefined][] = [
      ['1', 1],
      ['1s', 1],
      ['90', 90],
      ['15m', 900],
      ['2h', 7200],
      ['24h', 86_400],
      [' 30s ', 30],
      ['86400', 86_400],
      ['0', undefined],
      ['0m', undefined],
      ['86401', undefined],
      ['25h', undefined],
      ['1d', undefined],
      ['1.5h', undefined],
      ['-1', undefined],
      ['1234567', undefined],
      ['', undefined],
      ['m', undefined],
    ];
    for (const [text, expected] of cases) assert.equal(parseTokenTtl(text), expected, text);
    assert.equal(maxTokenTtlSec, 86_400);
  });
});

void describe('algorithm problems', () => {
  void it('names each problem and the fix, exactly', () => {
    assert.deepEqual(findAlgorithmProblems([], 'jwks'), ['auth.algorithms must not be empty']);
    assert.deepEqual(findAlgorithmProblems([' None ', 'ES256'], 'jwks'), [
      'auth.algorithms must not contain " None ": unsigned tokens are never accepted',
    ]);
    assert.equal(isNoneAlgorithm('NONE'), true);
    assert.equal(isNoneAlgorithm('nonE\t'), true);
    assert.equal(isNoneAlgorithm('ES256'), false);
    assert.deepEqual(findAlgorithmProblems(['HS256'], 'jwks'), [
      'auth.algorithms contains "HS256", which needs a shared secret: remove it, or configure a shared secret instead of a JWKS',
    ]);
    assert.deepEqual(findAlgorithmProblems(['ES256'], 'shared-secret'), [
      'auth.algorithms contains "ES256", which cannot be used with a shared secret: use only HS256, HS384, HS512',
    ]);
    assert.deepEqual(findAlgorithmProblems(['es256'], 'jwks'), [
      // The list itself is the one the verifier accepts; the message joins it with ", ".
      `auth.algorithms contains unsupported "es256": use ${[...asymmetricAlgorithms].join(', ')}`,
    ]);
    assert.deepEqual(findAlgorithmProblems(['HS384', 'HS512'], 'shared-secret'), []);
  });

  void it('plain-http JWKS URLs only to loopback names, never in production', () => {
    const problems = (url: string, mode: 'development' | 'production' = 'development') =>
      findAuthProblems({
        mode,
        devIssuer: false,
        issuer,
        audience,
        keys: { kind: 'jwks-url', url },
      }).map((p) => p.message);
    for (const url of [
      'http://localhost:8080/jwks',
      'http://127.0.0.1/jwks',
      'http://[::1]:9/jwks',
      'https://idp.example/jwks',
    ]) {
      assert.deepEqual(problems(url), [], url);
    }
    const https =
      'auth.jwksUrl must use https (plain http only to a loopback address, not in production)';
    assert.deepEqual(problems('http://localhost.example/jwks'), [https]);
    assert.deepEqual(problems('http://127.0.0.2/jwks'), [https]);
    assert.deepEqual(problems('http://localhost/jwks', 'production'), [https]);
  });
});

void describe('verified-token cache bounds', () => {
  void it('accepts one entry and a zero ttl, refuses less, by message', () => {
    assert.equal(createVerifiedTokenCache({ maxEntries: 1 }).stats().size, 0);
    assert.equal(createVerifiedTokenCache({ ttlMs: 0 }).stats().size, 0);
    for (const maxEntries of [0, -1, 1.5]) {
      assert.throws(() => createVerifiedTokenCache({ maxEntries }), {
        name: 'RangeError',
        message: 'cache maxEntries must be a positive integer',
      });
    }
    for (const ttlMs of [-1, Number.NaN]) {
      assert.throws(() => createVerifiedTokenCache({ ttlMs }), {
        name: 'RangeError',
        message: 'cache ttlMs must not be negative',
      });
    }
  });
});

void describe('the verifier without a cache, and its option problems', () => {
  let key: TestKey;
  before(async () => {
    key = await createTestKey('k');
  });

  async function uncached(t: TestContext) {
    const dir = await tempDir(t);
    const path = await writeJwksFile(dir, key);
    const verifier = await createTokenVerifier({
      issuer,
      audience,
      keys: { kind: 'jwks-file', path, checkIntervalMs: 0 },
      now: () => t0,
      cache: false,
    });
    return { verifier, dir };
  }

  void it('verifies again and again, and survives a key rotation, with no cache', async (t) => {
    const { verifier, dir } = await uncached(t);
    const header = `Bearer ${await sign(key)}`;
    assert.equal((await verifier.verify(header)).sub, 'alice');
    assert.equal((await verifier.verify(header)).sub, 'alice');
    assert.deepEqual(verifier.cacheStats(), { hits: 0, misses: 0, size: 0, rotationEvictions: 0 });
    const other = await createTestKey('other');
    await writeJwksFile(dir, other);
    await verifier.refreshKeys();
    await assert.rejects(verifier.verify(header), reason('unknown_kid'));
  });

  void it('maps an unrecognized critical header to algorithm', async (t) => {
    const { verifier } = await uncached(t);
    // jose will not sign an unknown critical header, so the JWS is assembled here (ES256 is
    // the raw r||s signature WebCrypto gives).
    const input = `${b64url({ alg: 'ES256', kid: 'k', crit: ['x-ext'], 'x-ext': 1 })}.${b64url(goodClaims())}`;
    const signature = await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      key.privateKey,
      new TextEncoder().encode(input),
    );
    const token = `${input}.${Buffer.from(signature).toString('base64url')}`;
    await assert.rejects(verifier.verify(`Bearer ${token}`), reason('algorithm'));
    // And a token whose claims are not JSON is malformed, not a server error.
    const [h, , s] = token.split('.') as [string, string, string];
    await assert.rejects(
      verifier.verify(`Bearer ${h}.${b64url('not json')}.${s}`),
      (error: unknown) => {
        assert.ok(error instanceof AuthError, 'error instanceof AuthError');
        return true;
      },
    );
  });

  void it('lists every option problem in one message', async () => {
    await assert.rejects(
      createTokenVerifier({
        issuer: '',
        audience: '',
        keys: { kind: 'jwks-file', path: '/nonexistent' },
        algorithms: ['none'],
      }),
      {
        message:
          'auth.algorithms must not contain "none": unsigned tokens are never accepted; auth.issuer must not be empty; auth.audience must not be empty',
      },
    );
  });
});
