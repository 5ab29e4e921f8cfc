import assert from 'node:assert/strict';
import { ConfigError, parseConfigText } from '../../src/config/load-config.js';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { cp, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, type JWK } from 'jose';
import {
  forbiddenMessage,
  unauthenticatedMessage,
  type AuthFailureReason,
} from '../../src/auth/auth-error.js';
import { createTestKey, startJwksServer, type TestKey } from '../auth/auth-fixtures.js';
import { startEdgeGateway, type EdgeGateway } from '../helpers/edge-gateway.js';
import { createCleanup, tempDir } from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';

const irisBody = JSON.stringify({
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
});
const maxTokenBytes = 1024;

/** A repository with the demo iris and mlp models only (fewer models, faster start). */
async function irisAndMlp(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const repo = await tempDir(t);
  for (const model of ['iris', 'mlp']) {
    await cp(join(demoModels, model), join(repo, model), { recursive: true });
  }
  return repo;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

async function call(
  origin: string,
  method: 'GET' | 'POST',
  path: string,
  authorization: string | undefined,
  extra: Record<string, string> = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...extra };
  if (authorization !== undefined) headers.authorization = authorization;
  if (method === 'POST') headers['content-type'] = 'application/json';
  const res = await fetch(`${origin}${path}`, {
    method,
    headers,
    ...(method === 'POST' ? { body: path.endsWith('/infer') ? irisBody : '{}' } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? undefined : JSON.parse(text),
  };
}

function assertUnauthenticated(res: Answer): void {
  assert.equal(res.status, 401, JSON.stringify(res.body));
  assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
  // The same body for every failed check: nothing tells a caller which one it was.
  assert.deepEqual(res.body, { error: unauthenticatedMessage, code: 'UNAUTHENTICATED' });
}

function assertForbidden(res: Answer): void {
  assert.equal(res.status, 403, JSON.stringify(res.body));
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer error="insufficient_scope"/);
  assert.deepEqual(res.body, { error: forbiddenMessage, code: 'FORBIDDEN' });
}

/** `bastion_auth_failures_total{reason}` as scraped from the gateway's registry. */
async function authFailures(gw: EdgeGateway, reason: AuthFailureReason): Promise<number> {
  const metrics = gw.gateway.metrics;
  assert.ok(metrics, 'metrics are enabled');
  const text = await metrics.registry.metrics();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`bastion_auth_failures_total{reason="${reason}"} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** What the bad-token rows need: the dev issuer's keys and claims, and a valid token. */
interface Fixtures {
  readonly iss: string;
  readonly aud: string;
  readonly kid: string;
  readonly devKey: KeyObject;
  readonly publicJwk: JWK;
  readonly strangerKey: KeyObject;
  readonly valid: string;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);

function claimsOf(f: Fixtures, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    iss: f.iss,
    aud: f.aud,
    sub: 'mallory',
    scope: 'infer:* models:manage',
    iat: nowSec(),
    exp: nowSec() + 300,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
}

function signWith(
  key: KeyObject | Uint8Array,
  claims: Record<string, unknown>,
  header: Record<string, unknown>,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...header }).sign(key);
}

/** Correctly signed by the dev issuer's own private key, with the claims given. */
function signDev(f: Fixtures, overrides: Record<string, unknown> = {}): Promise<string> {
  return signWith(f.devKey, claimsOf(f, overrides), { kid: f.kid });
}

function algNone(f: Fixtures, alg: string): string {
  return `${b64url({ alg, typ: 'JWT' })}.${b64url(claimsOf(f))}.`;
}

const badTokens: {
  name: string;
  reason: AuthFailureReason;
  authorization: (f: Fixtures) => Promise<string | undefined> | string | undefined;
}[] = [
  { name: 'no Authorization header', reason: 'missing', authorization: () => undefined },
  { name: 'Bearer with no token', reason: 'missing', authorization: () => 'Bearer' },
  { name: 'garbage', reason: 'malformed', authorization: () => 'Bearer garbage' },
  { name: 'three garbage segments', reason: 'malformed', authorization: () => 'Bearer a.b.c' },
  { name: 'not a b64token', reason: 'malformed', authorization: () => 'Bearer eyJ@{}<>' },
  ...['none', 'None', 'NONE', 'nOnE'].map((alg) => ({
    name: `alg "${alg}", unsigned`,
    reason: 'algorithm' as const,
    authorization: (f: Fixtures) => `Bearer ${algNone(f, alg)}`,
  })),
  {
    name: 'HS256 keyed with the public key PEM (algorithm confusion)',
    reason: 'algorithm',
    authorization: async (f) => {
      const pem = createPublicKey({ key: f.publicJwk, format: 'jwk' })
        .export({ type: 'spki', format: 'pem' })
        .toString();
      const token = await signWith(new TextEncoder().encode(pem), claimsOf(f), {
        alg: 'HS256',
        kid: f.kid,
      });
      return `Bearer ${token}`;
    },
  },
  {
    name: 'HS256 keyed with the public JWK (algorithm confusion)',
    reason: 'algorithm',
    authorization: async (f) => {
      const secret = new TextEncoder().encode(JSON.stringify(f.publicJwk));
      return `Bearer ${await signWith(secret, claimsOf(f), { alg: 'HS256', kid: f.kid })}`;
    },
  },
  {
    name: 'expired (beyond the clock tolerance)',
    reason: 'expired',
    authorization: async (f) =>
      `Bearer ${await signDev(f, { iat: nowSec() - 900, exp: nowSec() - 120 })}`,
  },
  {
    name: 'not yet valid (nbf in the future)',
    reason: 'not_yet_valid',
    authorization: async (f) => `Bearer ${await signDev(f, { nbf: nowSec() + 600 })}`,
  },
  {
    name: 'no exp',
    reason: 'claims',
    authorization: async (f) => `Bearer ${await signDev(f, { exp: undefined })}`,
  },
  {
    name: 'no sub',
    reason: 'claims',
    authorization: async (f) => `Bearer ${await signDev(f, { sub: undefined })}`,
  },
  {
    name: 'scope of the wrong type',
    reason: 'claims',
    authorization: async (f) => `Bearer ${await signDev(f, { scope: ['infer:*'] })}`,
  },
  {
    name: 'wrong iss',
    reason: 'issuer',
    authorization: async (f) => `Bearer ${await signDev(f, { iss: 'https://evil.example' })}`,
  },
  {
    name: 'wrong aud',
    reason: 'audience',
    authorization: async (f) => `Bearer ${await signDev(f, { aud: 'someone-else' })}`,
  },
  {
    name: 'unknown kid',
    reason: 'unknown_kid',
    authorization: async (f) =>
      `Bearer ${await signWith(f.devKey, claimsOf(f), { kid: 'no-such-key' })}`,
  },
  {
    name: "signed by an unknown key under the issuer's kid",
    reason: 'signature',
    authorization: async (f) =>
      `Bearer ${await signWith(f.strangerKey, claimsOf(f), { kid: f.kid })}`,
  },
  {
    name: 'tampered payload (scopes widened)',
    reason: 'signature',
    authorization: (f) => {
      const [header = '', payload = '', signature = ''] = f.valid.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as object;
      return `Bearer ${header}.${b64url({ ...claims, scope: 'infer:* models:manage' })}.${signature}`;
    },
  },
  {
    name: 'tampered signature',
    reason: 'signature',
    authorization: (f) => {
      const [header = '', payload = '', signature = ''] = f.valid.split('.');
      // The first character carries six significant bits (the last one may be padding only).
      const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
      return `Bearer ${header}.${payload}.${flipped}`;
    },
  },
  { name: 'Basic scheme', reason: 'scheme', authorization: () => 'Basic YWRtaW46YWRtaW4=' },
  {
    name: 'a valid token under another scheme',
    reason: 'scheme',
    authorization: (f) => `Token ${f.valid}`,
  },
  {
    name: `a correctly signed token longer than auth.maxTokenBytes (${maxTokenBytes})`,
    reason: 'too_long',
    authorization: async (f) => {
      const token = await signDev(f, { pad: 'x'.repeat(maxTokenBytes) });
      assert.ok(token.length > maxTokenBytes);
      return `Bearer ${token}`;
    },
  },
];

/** Requests a token must be refused for, and one it must be allowed for, with its scopes. */
const scopeChecks: {
  name: string;
  scopes: string[];
  method: 'GET' | 'POST';
  path: string;
  status: number;
  code?: string;
}[] = [
  {
    name: 'infer:mlp calling iris',
    scopes: ['infer:mlp'],
    method: 'POST',
    path: '/v2/models/iris/infer',
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'infer:mlp reading iris metadata',
    scopes: ['infer:mlp'],
    method: 'GET',
    path: '/v2/models/iris',
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'an unknown model without infer:* (same 403: names are not revealed)',
    scopes: ['infer:mlp'],
    method: 'POST',
    path: '/v2/models/no-such-model/infer',
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    // Regression: the challenge named scope "infer:\0" and the reply failed with ERR_INVALID_CHAR.
    name: 'regression: a malformed model name without infer:* (clean challenge)',
    scopes: ['infer:mlp'],
    method: 'GET',
    path: '/v2/models/NO..SUCH/ready',
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'the repository index without models:manage',
    scopes: ['infer:*'],
    method: 'POST',
    path: '/v2/repository/index',
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'repository load without models:manage',
    scopes: ['infer:iris'],
    method: 'POST',
    path: '/v2/repository/models/iris/load',
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'models:manage calling infer (least privilege)',
    scopes: ['models:manage'],
    method: 'POST',
    path: '/v2/models/iris/infer',
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'infer:* on an unknown model',
    scopes: ['infer:*'],
    method: 'POST',
    path: '/v2/models/no-such-model/infer',
    status: 404,
    code: 'MODEL_NOT_FOUND',
  },
  {
    name: 'infer:iris calling iris',
    scopes: ['infer:iris'],
    method: 'POST',
    path: '/v2/models/iris/infer',
    status: 200,
  },
  {
    name: 'infer:* calling iris',
    scopes: ['infer:*'],
    method: 'POST',
    path: '/v2/models/iris/infer',
    status: 200,
  },
  {
    name: 'infer:mlp reading mlp metadata',
    scopes: ['infer:mlp'],
    method: 'GET',
    path: '/v2/models/mlp',
    status: 200,
  },
  {
    name: 'models:manage reading the repository index',
    scopes: ['models:manage'],
    method: 'POST',
    path: '/v2/repository/index',
    status: 200,
  },
  {
    name: 'a token with no scopes on GET /v2',
    scopes: [],
    method: 'GET',
    path: '/v2',
    status: 200,
  },
];

void describe('auth: tokens and scopes at the HTTP edge', () => {
  const cleanup = createCleanup();
  let gw: EdgeGateway;
  let f: Fixtures;
  after(() => cleanup.run());
  before(async () => {
    gw = await startEdgeGateway(cleanup, {
      repo: await irisAndMlp(cleanup),
      config: {
        auth: { devIssuer: true, maxTokenBytes },
        metrics: { enabled: true, port: 0 },
        // Every refused request below comes from 127.0.0.1: keep the per-IP limit out of the way.
        limits: { unauthenticatedPerMinute: 10_000 },
      },
    });
    const issuer = gw.gateway.auth.devIssuer;
    assert.ok(issuer);
    const jwks = JSON.parse(await readFile(issuer.jwksFile, 'utf8')) as { keys: JWK[] };
    const publicJwk = jwks.keys[0];
    assert.ok(publicJwk);
    f = {
      iss: issuer.issuer,
      aud: issuer.audience,
      kid: issuer.kid,
      devKey: createPrivateKey(
        await readFile(join(dirname(issuer.jwksFile), 'private-key.pem'), 'utf8'),
      ),
      publicJwk,
      strangerKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      valid: await gw.token(['infer:iris'], 'alice'),
    };
  });

  void it('the fixtures are sound: a token signed the same way is accepted', async () => {
    assert.equal((await call(gw.origin, 'GET', '/v2', `Bearer ${f.valid}`)).status, 200);
    const own = await signDev(f);
    assert.equal(
      (await call(gw.origin, 'POST', '/v2/models/iris/infer', `Bearer ${own}`)).status,
      200,
    );
  });

  for (const row of badTokens) {
    void it(`401 UNAUTHENTICATED (${row.reason}): ${row.name}`, async () => {
      const before = await authFailures(gw, row.reason);
      const res = await call(
        gw.origin,
        'POST',
        '/v2/models/iris/infer',
        await row.authorization(f),
      );
      assertUnauthenticated(res);
      assert.equal(await authFailures(gw, row.reason), before + 1, 'auth failure metric');
    });
  }

  for (const row of scopeChecks) {
    void it(`${row.status}${row.code === undefined ? '' : ` ${row.code}`}: ${row.name}`, async () => {
      const token = await gw.token(row.scopes, 'scoped');
      const forbiddenBefore = await authFailures(gw, 'forbidden');
      const res = await call(gw.origin, row.method, row.path, `Bearer ${token}`);
      assert.equal(res.status, row.status, JSON.stringify(res.body));
      if (row.code === 'FORBIDDEN') {
        assertForbidden(res);
        assert.equal(await authFailures(gw, 'forbidden'), forbiddenBefore + 1);
      } else if (row.code !== undefined) {
        assert.deepEqual(Object.keys(res.body as object).sort(), ['code', 'error']);
        assert.equal((res.body as { code: string }).code, row.code);
      }
    });
  }

  void it('403 for an unknown model is indistinguishable from 403 for a known one', async () => {
    const token = `Bearer ${await gw.token(['infer:mlp'])}`;
    const known = await call(gw.origin, 'POST', '/v2/models/iris/infer', token);
    const unknown = await call(gw.origin, 'POST', '/v2/models/zzz/infer', token);
    assert.deepEqual(unknown.body, known.body);
    assert.equal(unknown.status, known.status);
    assert.equal(
      known.headers.get('www-authenticate'),
      'Bearer error="insufficient_scope", scope="infer:iris"',
    );
  });

  void it('GET /v2 needs a token; the health routes do not', async () => {
    assertUnauthenticated(await call(gw.origin, 'GET', '/v2', undefined));
    for (const path of ['/v2/health/live', '/v2/health/ready']) {
      assert.equal((await call(gw.origin, 'GET', path, undefined)).status, 200, path);
      assert.equal((await call(gw.origin, 'GET', path, 'Bearer garbage')).status, 200, path);
    }
  });

  void it('edge hygiene: helmet headers, no x-powered-by, no CORS by default', async () => {
    const token = `Bearer ${f.valid}`;
    const origin = { origin: 'https://evil.example' };
    const answers = [
      await call(gw.origin, 'GET', '/v2', token, origin),
      await call(gw.origin, 'GET', '/v2', undefined, origin),
      await call(gw.origin, 'GET', '/v2/health/live', undefined, origin),
      await call(gw.origin, 'POST', '/v2/models/iris/infer', token, origin),
    ];
    const preflight = await fetch(`${gw.origin}/v2/models/iris/infer`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    await preflight.arrayBuffer();
    for (const res of [...answers, preflight]) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.equal(res.headers.get('x-powered-by'), null);
      for (const name of res.headers.keys()) {
        assert.ok(!name.startsWith('access-control-'), `no CORS header (${name})`);
      }
      // Plain HTTP: no HSTS (it would pin a host to https that does not serve it).
      assert.equal(res.headers.get('strict-transport-security'), null);
    }
    assert.notEqual(preflight.status, 204);
  });
});

void describe('auth: JWKS rotation over a real JWKS URL', () => {
  const cleanup = createCleanup();
  after(() => cleanup.run());
  const issuer = 'https://issuer.test';
  const audience = 'bastion-rotation';

  async function tokenFor(key: TestKey, sub: string): Promise<string> {
    return new SignJWT({ scope: 'infer:*' })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key.privateKey);
  }

  void it('a published key works without restart; a withdrawn key stops, cache included', async (t) => {
    const keyA = await createTestKey('key-a');
    const keyB = await createTestKey('key-b');
    const jwks = await startJwksServer(cleanup, keyA);
    const gw = await startEdgeGateway(cleanup, {
      repo: await tempDir(cleanup),
      config: {
        auth: {
          issuer,
          audience,
          jwksUrl: jwks.url,
          algorithms: ['ES256'],
          jwksCacheMaxAgeSec: 1,
        },
      },
    });
    assert.equal(gw.gateway.auth.devIssuer, undefined);
    const tokenA = `Bearer ${await tokenFor(keyA, 'alice')}`;
    const tokenB = `Bearer ${await tokenFor(keyB, 'bob')}`;
    const status = async (token: string): Promise<number> => {
      const res = await call(gw.origin, 'GET', '/v2', token);
      if (res.status === 401) assertUnauthenticated(res);
      return res.status;
    };

    assert.equal(await status(tokenA), 200);
    assert.equal(await status(tokenA), 200); // served from the verified-token cache
    assert.equal(await status(tokenB), 401, 'key B is not published yet');
    const fetchesBefore = jwks.fetches();

    // The issuer publishes key B. jose re-fetches on an unknown kid only after a 30 s cooldown,
    // but never serves a set older than jwksCacheMaxAgeSec (1 s): let that much time pass (jose
    // keeps the set's age with Date.now, mocked here), no restart.
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    jwks.serve(keyA, keyB);
    t.mock.timers.tick(1100);
    assert.equal(await status(tokenB), 200, 'key B works without a restart');
    assert.ok(jwks.fetches() > fetchesBefore, 'the JWKS was fetched again');

    // Key A is withdrawn: token A (cached as verified) must stop working once the set is re-read.
    jwks.serve(keyB);
    t.mock.timers.tick(1100);
    assert.equal(await status(tokenA), 401, 'key A no longer works, cached or not');
    assert.equal(await status(tokenB), 200);
    assert.equal(await status(tokenA), 401);
  });
});

void describe('auth: the dev issuer with a configured issuer and audience', () => {
  // Regression: the dev issuer minted iss "bastion-dev" / aud "bastion" while the verifier
  // expected auth.issuer / auth.audience, so every token it minted (and every token printed by
  // `npx bastion token`) was refused. The combination is now refused at start-up instead.
  void it('regression: devIssuer with auth.issuer/audience is a config error naming the fix', () => {
    assert.throws(
      () =>
        parseConfigText(
          'auth:\n  devIssuer: true\n  issuer: https://dev.example\n  audience: gateway\n',
          '/etc/bastion/config.yaml',
        ),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(
          error.problems.some((p) =>
            /auth\.devIssuer: .*remove auth\.issuer, auth\.audience/.test(p),
          ),
          error.problems.join(' | '),
        );
        return true;
      },
    );
  });
});
