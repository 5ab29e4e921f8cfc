/** The body plugins on their own: the JSON parser, the edge's refusals and content decoding. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { BastionError } from '../../../src/errors.js';
import { jsonBodyPlugin } from '../../../src/http/json-body.js';
import { bodyDecodingPlugin, requestBodyPlugin } from '../../../src/http/request-body.js';
import {
  assertError,
  assertInternalError,
  type Cleanup,
  leakyFault,
  pluginApp,
} from './plugin-app.js';

void describe('body plugins', () => {
  const withJson = (t: Cleanup) =>
    pluginApp(t, async (app) => {
      await app.register(jsonBodyPlugin, { limit: 1024 });
      app.post('/echo', (request) => ({ body: request.body, sha256: request.inputSha256 }));
      app.post('/fault', () => {
        throw leakyFault();
      });
    });

  void it('json body: parsed, its SHA-256 recorded for the audit log', async (t) => {
    const { app } = await withJson(t);
    const payload = '{"a":[1,2]}';
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    assert.deepEqual(res.json(), {
      body: { a: [1, 2] },
      sha256: createHash('sha256').update(payload).digest('hex'),
    });
  });

  const refusals: { name: string; type: string; payload: string; status: number; code: string }[] =
    [
      {
        name: 'not JSON',
        type: 'application/json',
        payload: '{"a"',
        status: 400,
        code: 'MALFORMED_JSON',
      },
      { name: 'empty', type: 'application/json', payload: '', status: 400, code: 'MALFORMED_JSON' },
      {
        name: '__proto__ key',
        type: 'application/json',
        payload: '{"__proto__":{"x":1}}',
        status: 400,
        code: 'MALFORMED_JSON',
      },
      {
        name: 'constructor.prototype',
        type: 'application/json',
        payload: '{"a":{"constructor":{"prototype":{}}}}',
        status: 400,
        code: 'MALFORMED_JSON',
      },
      {
        name: 'over the limit',
        type: 'application/json',
        payload: `[${'1,'.repeat(600)}1]`,
        status: 413,
        code: 'BODY_TOO_LARGE',
      },
      {
        name: 'another media type',
        type: 'text/plain',
        payload: 'x',
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
      },
    ];
  for (const c of refusals) {
    void it(`json body: ${c.name} → ${c.status} ${c.code}`, async (t) => {
      const { app } = await withJson(t);
      const res = await app.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'content-type': c.type },
        payload: c.payload,
      });
      assertError(res, c.status, c.code);
    });
  }

  void it('json body: a handler that throws after parsing is the contract 500', async (t) => {
    const { app, log } = await withJson(t);
    const res = await app.inject({
      method: 'POST',
      url: '/fault',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    assertInternalError(res, log);
  });

  void it('request body: config.refuse answers before the body is parsed', async (t) => {
    let parsed = false;
    const { app } = await pluginApp(t, async (app) => {
      await app.register(jsonBodyPlugin, { limit: 1024 });
      await app.register(requestBodyPlugin, { bodyBytes: 1024 });
      app.addHook('preValidation', (_request, _reply, done) => {
        parsed = true;
        done();
      });
      app.post(
        '/refused',
        { config: { refuse: () => new BastionError('METHOD_NOT_ALLOWED', 'no') } },
        () => 'unreachable',
      );
    });
    const res = await app.inject({
      method: 'POST',
      url: '/refused',
      headers: { 'content-type': 'application/json' },
      payload: '{"a":',
    });
    assertError(res, 405, 'METHOD_NOT_ALLOWED');
    assert.equal(parsed, false);
  });

  void it('body decoding: gzip is inflated, a body without Content-Type is JSON', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      await app.register(jsonBodyPlugin, { limit: 4096 });
      await app.register(bodyDecodingPlugin, { bodyBytes: 4096, jsonBodyBytes: 4096 });
      app.post('/echo', (request) => request.body);
    });
    const gz = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync('{"zipped":true}'),
    });
    assert.deepEqual(gz.json(), { zipped: true });
    const bare = await app.inject({ method: 'POST', url: '/echo', payload: '{"bare":1}' });
    assert.deepEqual(bare.json(), { bare: 1 });
  });

  void it('body decoding: a gzip bomb stops at the limit; an unknown encoding is 415', async (t) => {
    const { app } = await pluginApp(t, async (app) => {
      await app.register(jsonBodyPlugin, { limit: 4096 });
      await app.register(bodyDecodingPlugin, { bodyBytes: 4096, jsonBodyBytes: 4096 });
      app.post('/echo', (request) => request.body);
    });
    const bomb = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync(Buffer.alloc(1024 * 1024, 0x20)),
    });
    assertError(bomb, 413, 'BODY_TOO_LARGE');
    const br = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'content-type': 'application/json', 'content-encoding': 'br' },
      payload: 'x',
    });
    assertError(br, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});
