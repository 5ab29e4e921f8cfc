/**
 * The edge plugins on their own: request state, request id, the error handler, security
 * headers, and Fastify's dependency checks between plugins.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BastionError } from '../../../src/errors.js';
import { errorHandlerPlugin } from '../../../src/http/error-handler.js';
import { requestStatePlugin } from '../../../src/http/request-state.js';
import { responseCompressionPlugin } from '../../../src/http/response-compression.js';
import {
  computeSecurityHeaders,
  securityHeaderOptions,
  securityHeadersPlugin,
} from '../../../src/http/security-headers.js';
import { assertError, assertInternalError, leakyFault, pluginApp } from './plugin-app.js';

void describe('edge plugins', () => {
  void it('request state: every field starts null on every request', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      app.get('/state', (request) => ({
        principal: request.principal,
        authFailure: request.authFailure,
        failure: request.failure,
        bastionTarget: request.bastionTarget,
        policyReason: request.policyReason,
        inputSha256: request.inputSha256,
      }));
      await Promise.resolve();
    });
    const res = await app.inject('/state');
    assert.deepEqual(res.json(), {
      principal: null,
      authFailure: null,
      failure: null,
      bastionTarget: null,
      policyReason: null,
      inputSha256: null,
    });
  });

  void it('request id: a well-formed incoming id is echoed, anything else replaced', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      app.get('/id', (request) => ({ id: request.id }));
      await Promise.resolve();
    });
    const kept = await app.inject({ url: '/id', headers: { 'x-request-id': 'abc-123.x:y' } });
    assert.equal(kept.headers['x-request-id'], 'abc-123.x:y');
    assert.deepEqual(kept.json(), { id: 'abc-123.x:y' });
    const replaced = await app.inject({ url: '/id', headers: { 'x-request-id': 'bad id\r\n' } });
    assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  void it('error handler: a handler that throws is a 500 in the contract shape, logged', async (t) => {
    const { app, log } = await pluginApp(t, async (app) => {
      app.get('/fault', () => {
        throw leakyFault();
      });
      await Promise.resolve();
    });
    assertInternalError(await app.inject('/fault'), log);
  });

  void it('error handler: a BastionError keeps its status, code, Retry-After, headers and body', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      app.get('/busy', () => {
        throw new BastionError('OVERLOADED', 'too busy', {
          retryAfterSec: 3,
          headers: { 'ratelimit-limit': '5' },
          body: { name: 'iris', ready: false },
        });
      });
      await Promise.resolve();
    });
    const res = await app.inject('/busy');
    assertError(res, 503, 'OVERLOADED');
    assert.equal(res.headers['retry-after'], '3');
    assert.equal(res.headers['ratelimit-limit'], '5');
    assert.deepEqual(res.json(), {
      name: 'iris',
      ready: false,
      error: 'too busy',
      code: 'OVERLOADED',
    });
  });

  void it('error handler: an unknown path is 404 NOT_FOUND, never echoing the URL', async (t) => {
    const { app } = await pluginApp(t, () => Promise.resolve());
    const res = await app.inject('/no/such/<script>');
    assertError(res, 404, 'NOT_FOUND');
    assert.doesNotMatch(res.body, /script/);
  });

  void it('error handler: a Fastify client error becomes a 4xx of ours, not FST_ERR_*', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      app.post('/echo', (request) => request.body);
      await Promise.resolve();
    });
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload: '{"a":',
    });
    assertError(res, 400, 'MALFORMED_JSON');
    assert.doesNotMatch(res.body, /FST_ERR/);
  });

  void it('security headers: every answer carries the computed policy, errors included', async (t) => {
    const helmet = securityHeaderOptions(false);
    const headers = computeSecurityHeaders(helmet);
    const { app } = await pluginApp(t, async (app) => {
      await app.register(securityHeadersPlugin, { helmet, headers });
      app.get('/fault', () => {
        throw leakyFault();
      });
    });
    const res = await app.inject('/fault');
    assert.equal(res.statusCode, 500);
    assert.equal(res.headers['content-security-policy'], headers['content-security-policy']);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['strict-transport-security'], undefined, 'no HSTS without TLS');
  });

  void it('a plugin registered before what it depends on stops the boot', async (t) => {
    // Its declared request decorators are missing (no request state)…
    await assert.rejects(
      pluginApp(t, (app) => app.register(errorHandlerPlugin), { edge: false }),
      { code: 'FST_ERR_PLUGIN_NOT_PRESENT_IN_INSTANCE', message: /bastion-error-handler/ },
    );
    // …or a plugin it must follow (compression after the audit hook) is not registered.
    await assert.rejects(
      pluginApp(t, (app) => app.register(responseCompressionPlugin)),
      { code: 'FST_ERR_PLUGIN_DEPENDENCY_NOT_REGISTERED', message: /bastion-observe/ },
    );
    const { app } = await pluginApp(
      t,
      async (app) => {
        await app.register(requestStatePlugin);
        await app.register(errorHandlerPlugin);
      },
      { edge: false },
    );
    assert.ok(app.hasPlugin('bastion-error-handler'));
  });
});
