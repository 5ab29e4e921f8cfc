import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { createMetrics } from '../../src/metrics/metrics.js';
import { createMetricsServer } from '../../src/metrics/metrics-server.js';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('metrics server without a token serves /metrics over loopback', async (t) => {
  const metrics = createMetrics({ knownModels: ['iris'] });
  metrics.requests.inc({ model: 'iris', version: 1, status: 200 });
  const server = createMetricsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry });
  const address = await server.listen();
  t.after(() => server.close());
  assert.equal(address.host, '127.0.0.1');
  assert.ok(address.port > 0);

  const ok = await get(address.port, '/metrics');
  assert.equal(ok.status, 200);
  assert.match(String(ok.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(ok.body, /bastion_requests_total\{model="iris",version="1",status="200"\} 1/);
  assert.match(ok.body, /process_cpu_seconds_total/);
  assert.equal((await get(address.port, '/metrics?x=1')).status, 200);
  assert.equal((await get(address.port, '/')).status, 404);
  assert.equal((await get(address.port, '/v2/health/live')).status, 404);
  const post = await get(address.port, '/metrics', {}, 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers['allow'], 'GET, HEAD');
});

test('metrics server with a bearer token refuses a missing or wrong one', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const server = createMetricsServer({
    host: '127.0.0.1',
    port: 0,
    registry: metrics.registry,
    bearerToken: 's3cret-token',
  });
  const { port } = await server.listen();
  t.after(() => server.close());

  for (const headers of [
    {},
    { authorization: 'Bearer wrong' },
    { authorization: 'Bearer s3cret-toke' },
    { authorization: 'Basic s3cret-token' },
    { authorization: 'Bearer' },
  ]) {
    const reply = await get(port, '/metrics', headers);
    assert.equal(reply.status, 401, JSON.stringify(headers));
    assert.equal(reply.headers['www-authenticate'], 'Bearer realm="metrics"');
    assert.doesNotMatch(reply.body, /bastion_/);
  }
  assert.equal((await get(port, '/other')).status, 401);
  const ok = await get(port, '/metrics', { authorization: 'Bearer s3cret-token' });
  assert.equal(ok.status, 200);
  assert.match(ok.body, /# TYPE bastion_requests_total counter/);
  assert.equal((await get(port, '/other', { authorization: 'Bearer s3cret-token' })).status, 404);
});

test('listen fails on a taken port; close is idempotent', async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const first = createMetricsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry });
  const { port } = await first.listen();
  const second = createMetricsServer({ host: '127.0.0.1', port, registry: metrics.registry });
  await assert.rejects(second.listen(), { code: 'EADDRINUSE' });
  await second.close();
  await first.close();
  await first.close();
});

test('the management listener answers the health probes without the metrics token', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  let ready = false;
  const server = createMetricsServer({
    host: '127.0.0.1',
    port: 0,
    registry: metrics.registry,
    bearerToken: 's3cret-token',
    isReady: () => ready,
  });
  const { port } = await server.listen();
  t.after(() => server.close());

  const live = await get(port, '/v2/health/live');
  assert.equal(live.status, 200);
  assert.deepEqual(JSON.parse(live.body), { live: true });
  const notReady = await get(port, '/v2/health/ready?probe=1');
  assert.equal(notReady.status, 503);
  assert.equal(notReady.headers['retry-after'], '5');
  assert.deepEqual(JSON.parse(notReady.body), { ready: false });
  ready = true;
  const isReady = await get(port, '/v2/health/ready', { authorization: 'Bearer wrong' });
  assert.equal(isReady.status, 200);
  assert.deepEqual(JSON.parse(isReady.body), { ready: true });
  assert.equal((await get(port, '/v2/health/ready', {}, 'HEAD')).body, '');
  const post = await get(port, '/v2/health/live', {}, 'POST');
  assert.equal(post.status, 405);
  // Everything else still needs the token: the probes open nothing more.
  assert.equal((await get(port, '/metrics')).status, 401);
  assert.equal((await get(port, '/v2/health')).status, 401);
  assert.equal((await get(port, '/v2/health/live/x')).status, 401);
});
