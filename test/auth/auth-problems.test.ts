import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findAuthProblems, type AuthProblemsInput } from '../../src/auth/auth-problems.js';

const good: AuthProblemsInput = {
  mode: 'production',
  devIssuer: false,
  issuer: 'https://idp.example',
  audience: 'bastion',
  keys: { kind: 'jwks-url', url: 'https://idp.example/jwks.json' },
};

describe('findAuthProblems', () => {
  it('accepts a complete production config and the dev issuer in development', () => {
    assert.deepEqual(findAuthProblems(good), []);
    assert.deepEqual(findAuthProblems({ mode: 'development', devIssuer: true }), []);
    assert.deepEqual(
      findAuthProblems({ ...good, keys: { kind: 'jwks-file', path: '/etc/jwks.json' } }),
      [],
    );
    assert.deepEqual(
      findAuthProblems({
        ...good,
        mode: 'development',
        keys: { kind: 'jwks-url', url: 'http://127.0.0.1:9000/jwks' },
      }),
      [],
    );
    assert.deepEqual(
      findAuthProblems({
        ...good,
        algorithms: ['HS512'],
        keys: { kind: 'shared-secret', secret: new Uint8Array(32) },
      }),
      [],
    );
  });

  it('reports every problem, naming the field and the fix', () => {
    const table: [string, AuthProblemsInput, string[], RegExp][] = [
      [
        'dev issuer in production',
        { ...good, devIssuer: true },
        ['auth'],
        /not allowed in production/,
      ],
      ['no issuer', { ...good, issuer: undefined }, ['auth.issuer'], /set it/],
      ['empty issuer', { ...good, issuer: '' }, ['auth.issuer'], /required/],
      ['no audience', { ...good, audience: undefined }, ['auth.audience'], /required/],
      ['no key source', { ...good, keys: undefined }, ['auth.jwksFile'], /auth\.jwksUrl/],
      [
        'no key source, no dev issuer, development',
        { mode: 'development', devIssuer: false },
        ['auth.jwksFile'],
        /auth\.jwksFile/,
      ],
      [
        'http JWKS URL in production',
        { ...good, keys: { kind: 'jwks-url', url: 'http://127.0.0.1/jwks' } },
        ['auth.jwksUrl'],
        /https/,
      ],
      [
        'http JWKS URL to another host',
        { ...good, mode: 'development', keys: { kind: 'jwks-url', url: 'http://idp/jwks' } },
        ['auth.jwksUrl'],
        /https/,
      ],
      [
        'relative JWKS URL',
        { ...good, keys: { kind: 'jwks-url', url: '/jwks' } },
        ['auth.jwksUrl'],
        /absolute/,
      ],
      [
        'short secret',
        { ...good, algorithms: ['HS256'], keys: { kind: 'shared-secret', secret: 'short' } },
        ['auth.sharedSecret'],
        /at least 32/,
      ],
      ['none', { ...good, algorithms: ['ES256', 'none'] }, ['auth.algorithms'], /never/],
      ['NoNe', { ...good, algorithms: ['NoNe'] }, ['auth.algorithms'], /never/],
      ['HS256 with JWKS', { ...good, algorithms: ['HS256'] }, ['auth.algorithms'], /secret/],
      [
        'RS256 with a secret',
        { ...good, algorithms: ['RS256'], keys: { kind: 'shared-secret', secret: 'x'.repeat(32) } },
        ['auth.algorithms'],
        /HS256/,
      ],
      [
        'everything at once',
        { mode: 'production', devIssuer: true, algorithms: ['none'] },
        ['auth', 'auth.issuer', 'auth.audience', 'auth.jwksFile', 'auth.algorithms'],
        /./,
      ],
    ];
    for (const [name, input, fields, message] of table) {
      const problems = findAuthProblems(input);
      assert.deepEqual(
        problems.map((problem) => problem.field),
        fields,
        name,
      );
      assert.match(problems[0]?.message ?? '', message, name);
    }
  });
});
