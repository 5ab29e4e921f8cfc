/**
 * The access plugins on their own: CORS, the token check, the client-certificate check and the
 * rate limit, each in a minimal app with the routes' `config.policy`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { TokenVerifier } from '../../../src/auth/token-verifier.js';
import { authPlugin } from '../../../src/http/auth-hooks.js';
import { clientCertificatePlugin } from '../../../src/http/client-certificate.js';
import { corsPlugin } from '../../../src/http/cors.js';
import { rateLimitPlugin } from '../../../src/http/rate-limit.js';
import type { ServingRegistry } from '../../../src/serving/serving-registry.js';
import {
  assertError,
  assertInternalError,
  bearer,
  demoServing,
  leakyFault,
  pluginApp,
  testVerifier,
} from './plugin-app.js';

/** Routes of each access kind, answering who called. */
function routes(app: FastifyInstance): void {
  const who = (request: { principal: { sub: string } | null }) => ({
    sub: request.principal?.sub ?? null,
  });
  app.get('/token', { config: { policy: { access: 'token', audit: false } } }, who);
  app.get('/m/:model', { config: { policy: { access: 'infer', audit: false } } }, who);
  app.get('/manage', { config: { policy: { access: 'manage', audit: false } } }, who);
  app.get('/fault', { config: { policy: { access: 'token', audit: false } } }, () => {
    throw leakyFault();
  });
}

async function authApp(t: Parameters<typeof pluginApp>[0], verifier?: TokenVerifier) {
  const failures: string[] = [];
  const built = await pluginApp(t, async (app) => {
    await app.register(authPlugin, {
      verifier: verifier ?? (await testVerifier()),
      onFailure: (reason) => failures.push(reason),
    });
    routes(app);
  });
  return { ...built, failures };
}

void describe('access plugins', () => {
  void it('cors: a listed origin gets its preflight; any other a 403 in the error shape', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      await app.register(corsPlugin, { origins: ['https://app.example'] });
      app.get('/x', () => ({ ok: true }));
    });
    const preflight = (origin: string) =>
      app.inject({
        method: 'OPTIONS',
        url: '/x',
        headers: { origin, 'access-control-request-method': 'GET' },
      });
    const allowed = await preflight('https://app.example');
    assert.equal(allowed.statusCode, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://app.example');
    const refused = await preflight('https://evil.example');
    assertError(refused, 403, 'FORBIDDEN');
    assert.equal(refused.headers['access-control-allow-origin'], undefined);
    assert.match(String(refused.headers.vary), /Origin/);
  });

  void it('cors: without origins no CORS header is ever sent', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      await app.register(corsPlugin, { origins: [] });
      app.get('/x', () => ({ ok: true }));
    });
    const res = await app.inject({ url: '/x', headers: { origin: 'https://app.example' } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });

  void it('auth: 401 without or with a bad token, 403 without the scope, 200 with it', async (t) => {
    const { app, failures } = await authApp(t);
    const missing = await app.inject('/token');
    assertError(missing, 401, 'UNAUTHENTICATED');
    assert.equal(missing.headers['www-authenticate'], 'Bearer error="invalid_token"');
    assertError(
      await app.inject({ url: '/token', headers: { authorization: 'Bearer not.a.jwt' } }),
      401,
      'UNAUTHENTICATED',
    );
    const reader = await bearer(['infer:iris']);
    const forbidden = await app.inject({ url: '/m/mlp', headers: { authorization: reader } });
    assertError(forbidden, 403, 'FORBIDDEN');
    assert.equal(
      forbidden.headers['www-authenticate'],
      'Bearer error="insufficient_scope", scope="infer:mlp"',
    );
    assertError(
      await app.inject({ url: '/manage', headers: { authorization: reader } }),
      403,
      'FORBIDDEN',
    );
    const ok = await app.inject({ url: '/m/iris', headers: { authorization: reader } });
    assert.deepEqual(ok.json(), { sub: 'tester' });
    assert.deepEqual(failures, ['missing', 'malformed', 'forbidden', 'forbidden']);
  });

  void it('auth: a verifier that fails unexpectedly is a 401, never a 500', async (t) => {
    const broken: TokenVerifier = {
      verify: () => Promise.reject(leakyFault()),
      refreshKeys: () => Promise.resolve(),
      cacheStats: () => ({ hits: 0, misses: 0, size: 0, rotationEvictions: 0 }),
    };
    const { app } = await authApp(t, broken);
    const res = await app.inject({ url: '/token', headers: { authorization: 'Bearer x' } });
    assertError(res, 401, 'UNAUTHENTICATED');
    assert.doesNotMatch(res.body, /disk on fire/);
  });

  void it('auth: a handler that throws after the token check is the contract 500', async (t) => {
    const { app, log } = await authApp(t);
    const res = await app.inject({
      url: '/fault',
      headers: { authorization: await bearer([]) },
    });
    assertInternalError(res, log);
  });

  void it('client certificate: a request without a verified certificate is 403', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      await app.register(clientCertificatePlugin, { subjects: ['gateway-client'] });
      app.get('/x', () => ({ ok: true }));
    });
    assertError(await app.inject('/x'), 403, 'FORBIDDEN');
  });

  void describe('rate limit', () => {
    const build = async (t: Parameters<typeof pluginApp>[0], registry: ServingRegistry) => {
      let limited = 0;
      const built = await pluginApp(t, async (app) => {
        await app.register(authPlugin, { verifier: await testVerifier() });
        await app.register(rateLimitPlugin, {
          requestsPerMinute: 2,
          unauthenticatedPerMinute: 1,
          registry,
          onLimited: () => limited++,
        });
        routes(app);
      });
      return { ...built, limited: () => limited };
    };

    void it('limits per subject, with Retry-After, in the error shape', async (t) => {
      const { registry } = await demoServing(t);
      const { app, limited } = await build(t, registry);
      const alice = { authorization: await bearer([], 'alice') };
      const bob = { authorization: await bearer([], 'bob') };
      for (let i = 0; i < 2; i++) {
        assert.equal((await app.inject({ url: '/token', headers: alice })).statusCode, 200);
      }
      const refused = await app.inject({ url: '/token', headers: alice });
      assertError(refused, 429, 'RATE_LIMITED');
      assert.match(String(refused.headers['retry-after']), /^[1-9]\d*$/);
      assert.equal((await app.inject({ url: '/token', headers: bob })).statusCode, 200);
      assert.equal(limited(), 1);
    });

    void it('a registry that throws while keying the limit is the contract 500', async (t) => {
      const { registry } = await demoServing(t);
      const throwing: ServingRegistry = {
        ...registry,
        tuningOf: () => {
          throw leakyFault();
        },
      };
      const { app, log } = await build(t, throwing);
      const res = await app.inject({
        url: '/m/iris',
        headers: { authorization: await bearer(['infer:iris']) },
      });
      assertInternalError(res, log);
    });
  });
});
