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

  void it('another origin gets no CORS header', async () => {
    const res = await fetch(`${gw.origin}/v2/health/live`, {
      headers: { origin: 'https://evil.example' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  void it('preflight: 204 with methods and headers for a listed origin, 403 for others', async () => {
    const ok = await fetch(`${gw.origin}/v2/models/iris/infer`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-methods'), 'GET, POST');
    assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/);
    const refused = await fetch(`${gw.origin}/v2/models/iris/infer`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });
});
