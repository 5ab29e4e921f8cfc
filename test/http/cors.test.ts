import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCleanup, tempDir } from '../helpers/gateway.js';
import { type EdgeGateway, startEdgeGateway } from '../helpers/edge-gateway.js';

void describe('CORS: only for configured origins', () => {
  const cleanup = createCleanup();
  let gw: EdgeGateway;
  after(() => cleanup.run());
  before(async () => {
    gw = await startEdgeGateway(cleanup, {
      repo: await tempDir(cleanup),
      config: { server: { cors: { origins: ['https://app.example'] } } },
    });
  });

  void it('a listed origin gets Access-Control-Allow-Origin on real responses, 401s included', async () => {
    const res = await fetch(`${gw.origin}/v2`, { headers: { origin: 'https://app.example' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(res.headers.get('vary'), 'Origin');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
  });

  void it('another origin gets no CORS header; Vary: Origin on every answer alike', async () => {
    const res = await fetch(`${gw.origin}/v2/health/live`, {
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('vary'), 'Origin');
    const none = await fetch(`${gw.origin}/v2/health/live`);
    assert.equal(none.headers.get('vary'), 'Origin');
    const listed = await fetch(`${gw.origin}/openapi.json`, {
      headers: { origin: 'https://app.example' },
    });
    assert.equal(listed.headers.get('access-control-allow-origin'), 'https://app.example');
    // fetch accepts gzip and the document is large: compressed, so it varies by both.
    assert.equal(listed.headers.get('vary'), 'Origin, accept-encoding');
  });

  void it('a real browser preflight with traceparent passes, then the request itself', async () => {
    const preflight = await fetch(`${gw.origin}/v2/models/iris/infer`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,traceparent',
      },
    });
    assert.equal(preflight.status, 204);
    const allowed = (preflight.headers.get('access-control-allow-headers') ?? '').split(/,\s*/);
    for (const h of [
      'authorization',
      'content-type',
      'traceparent',
      'inference-header-content-length',
    ]) {
      assert.ok(allowed.includes(h), h);
    }
    assert.equal(preflight.headers.get('access-control-max-age'), '600');
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(preflight.headers.get('vary') ?? '', /Origin/);
    assert.equal(await preflight.text(), '');
    const token = await gw.token(['infer:*']);
    const res = await fetch(`${gw.origin}/v2`, {
      headers: {
        origin: 'https://app.example',
        authorization: `Bearer ${token}`,
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
  });

  void it('a preflight without Origin is refused in the error shape, not in plain text', async () => {
    const res = await fetch(`${gw.origin}/v2/models/iris/infer`, {
      method: 'OPTIONS',
      headers: { 'access-control-request-method': 'POST' },
    });
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { error: 'origin not allowed', code: 'FORBIDDEN' });
  });

  void it('preflight: 204 with methods and headers for a listed origin, 403 for others', async () => {
    const ok = await fetch(`${gw.origin}/v2/models/iris/infer`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-methods'), 'GET, HEAD, POST');
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/);
    const refused = await fetch(`${gw.origin}/v2/models/iris/infer`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });
});

void describe('CORS: off without origins', () => {
  const cleanup = createCleanup();
  let gw: EdgeGateway;
  after(() => cleanup.run());
  before(async () => {
    gw = await startEdgeGateway(cleanup, { repo: await tempDir(cleanup) });
  });

  void it('sends no CORS header and answers a preflight 404', async () => {
    const res = await fetch(`${gw.origin}/v2/health/live`, {
      headers: { origin: 'https://app.example' },
    });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('vary'), null);
    const preflight = await fetch(`${gw.origin}/v2/models/iris/infer`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 404);
    assert.equal(preflight.headers.get('access-control-allow-origin'), null);
  });
});
