/** The refusal routes on their own: 405s derived from the routes before them, audited 404s. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recordRoutes } from '../../../src/http/openapi.js';
import { methodNotAllowedPlugin, unknownPathsPlugin } from '../../../src/http/refusal-routes.js';
import { requestBodyPlugin } from '../../../src/http/request-body.js';
import { assertError, assertInternalError, leakyFault, pluginApp } from './plugin-app.js';

void describe('refusal routes', () => {
  void it('405 for every other method of each path registered before, with Allow', async (t) => {
    let refusedBeforeBody = true;
    const { app } = await pluginApp(t, async (app) => {
      const routes = recordRoutes(app);
      await app.register(requestBodyPlugin, { bodyBytes: 1024 });
      app.addHook('preValidation', (_request, _reply, done) => {
        refusedBeforeBody = false;
        done();
      });
      app.get('/things/:id', () => ({ ok: true }));
      app.post('/things/:id/run', () => ({ ran: true }));
      await app.register(methodNotAllowedPlugin, { routes, policy: undefined });
    });
    const post = await app.inject({ method: 'POST', url: '/things/1', payload: 'x' });
    assertError(post, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.match(post.json<{ error: string }>().error, /accepts GET only/);
    const get = await app.inject('/things/1/run');
    assertError(get, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(get.headers.allow, 'POST');
    assertError(
      await app.inject({ method: 'DELETE', url: '/things/1' }),
      405,
      'METHOD_NOT_ALLOWED',
    );
    assert.equal(refusedBeforeBody, true);
    assert.equal((await app.inject('/things/1')).statusCode, 200);
    assert.equal((await app.inject({ method: 'HEAD', url: '/things/1' })).statusCode, 200);
  });

  void it('a covered route registered after the 405s were derived stops the boot', async (t) => {
    await assert.rejects(
      pluginApp(t, async (app) => {
        const routes = recordRoutes(app);
        await app.register(requestBodyPlugin, { bodyBytes: 1024 });
        app.get('/early', () => 'ok');
        await app.register(methodNotAllowedPlugin, { routes, policy: undefined });
        app.get('/late', () => 'ok');
      }),
      /\/late was registered after its 405 routes were derived/,
    );
  });

  void it('unknown paths under a prefix are 404 before any body; a fault elsewhere is a 500', async (t) => {
    const { app, log } = await pluginApp(t, async (app) => {
      await app.register(requestBodyPlugin, { bodyBytes: 1024 });
      await app.register(unknownPathsPlugin, {
        prefixes: ['/v2/models'],
        policy: { access: 'none', audit: true },
      });
      app.get('/v2/models/:model', () => {
        throw leakyFault();
      });
    });
    const res = await app.inject({ method: 'PUT', url: '/v2/models/iris/x/y', payload: '{' });
    assertError(res, 404, 'NOT_FOUND');
    assertInternalError(await app.inject('/v2/models/iris'), log);
  });
});
