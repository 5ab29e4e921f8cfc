import assert from 'node:assert/strict';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  sendRequest,
  startEdgeGateway,
  type EdgeGateway,
  type RawResponse,
} from '../helpers/edge-gateway.js';
import { missingBinary } from '../helpers/system-tools.js';
import { createCleanup, tempDir } from '../helpers/gateway.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { demoModels } from '../helpers/observe.js';

const requestsPerMinute = 5;

/** A repository with iris (its config.yaml sets `requestsPerMinute: 2`) and mlp (no override). */
async function repoWithIrisOverride(t: {
  after: (fn: () => Promise<void>) => void;
}): Promise<string> {
  const repo = await tempDir(t);
  await cp(join(demoModels, 'iris'), join(repo, 'iris'), { recursive: true });
  await cp(join(demoModels, 'mlp'), join(repo, 'mlp'), { recursive: true });
  await writeFile(join(repo, 'iris', 'config.yaml'), 'requestsPerMinute: 2\n');
  return repo;
}

async function get(gw: EdgeGateway, path: string, sub?: string): Promise<RawResponse> {
  const headers: Record<string, string> =
    sub === undefined ? {} : { authorization: `Bearer ${await gw.token(['infer:*'], sub)}` };
  return sendRequest(`${gw.origin}${path}`, { headers });
}

function assertRateLimited(res: RawResponse): void {
  assert.equal(res.status, 429, JSON.stringify(res.body));
  const retryAfter = Number(res.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, 'Retry-After');
  const body = res.body as { error: string; code: string };
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error']);
  assert.equal(body.code, 'RATE_LIMITED');
}

/** Sends `count` requests in a row and returns their statuses. */
async function statuses(count: number, send: (i: number) => Promise<RawResponse>) {
  const out: number[] = [];
  for (let i = 0; i < count; i += 1) out.push((await send(i)).status);
  return out;
}

void describe('rate limits per subject, per IP and per model', () => {
  const cleanup = createCleanup();
  let gw: EdgeGateway;
  after(() => cleanup.run());
  before(async () => {
    gw = await startEdgeGateway(cleanup, {
      repo: await repoWithIrisOverride(cleanup),
      config: { limits: { requestsPerMinute, unauthenticatedPerMinute: 3 } },
    });
  });

  void it('one subject flooding gets 429 with Retry-After; another is still served', async () => {
    const ok = await statuses(requestsPerMinute, () => get(gw, '/v2', 'flooder'));
    assert.deepEqual(ok, new Array<number>(requestsPerMinute).fill(200));
    const limited = await get(gw, '/v2', 'flooder');
    assertRateLimited(limited);
    assert.match((limited.body as { error: string }).error, /5 requests per minute/);
    // A fresh token for the same subject does not reset the budget: the key is `sub`.
    assertRateLimited(await get(gw, '/v2', 'flooder'));
    assert.equal((await get(gw, '/v2', 'bystander')).status, 200);
  });

  void it('unauthenticated requests are limited per IP (limits.unauthenticatedPerMinute)', async () => {
    const refused = await statuses(3, () => get(gw, '/v2'));
    assert.deepEqual(refused, [401, 401, 401]);
    assertRateLimited(await get(gw, '/v2'));
    const garbage = await sendRequest(`${gw.origin}/v2`, {
      headers: { authorization: 'Bearer not-a-token' },
    });
    assertRateLimited(garbage);
    // The same IP with a valid token is keyed by its subject, not by the IP.
    assert.equal((await get(gw, '/v2', 'from-the-same-ip')).status, 200);
    // Health routes are outside the limited scope.
    assert.equal((await sendRequest(`${gw.origin}/v2/health/live`)).status, 200);
  });

  void it("a model's config.yaml requestsPerMinute applies to that model only", async () => {
    const sub = 'per-model';
    assert.deepEqual(await statuses(2, () => get(gw, '/v2/models/iris', sub)), [200, 200]);
    const limited = await get(gw, '/v2/models/iris', sub);
    assertRateLimited(limited);
    assert.match((limited.body as { error: string }).error, /2 requests per minute/);
    // mlp has no override: the subject's own budget (5) is untouched by the iris calls.
    const mlp = await statuses(requestsPerMinute, () => get(gw, '/v2/models/mlp', sub));
    assert.deepEqual(mlp, new Array<number>(requestsPerMinute).fill(200));
    assertRateLimited(await get(gw, '/v2/models/mlp', sub));
    // Another subject still has its own iris budget.
    assert.equal((await get(gw, '/v2/models/iris', 'someone-else')).status, 200);
  });
});

void describe('rate limits shared through one real redis-server', () => {
  const cleanup = createCleanup();
  after(() => cleanup.run());

  void it('two gateways on one Redis enforce one budget per subject', async (t) => {
    const missing = missingBinary('redis-server', 'redis-server');
    if (missing !== undefined) {
      t.skip(missing);
      return;
    }
    const redisServer = await startRedisServer(cleanup);
    const redis = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    cleanup.after(() => redis.quit().then(() => undefined));

    const repo = await repoWithIrisOverride(cleanup);
    // One state folder: both gateways trust the same dev issuer, as replicas behind one issuer.
    const stateDir = await tempDir(cleanup);
    const config = { limits: { requestsPerMinute, redisUrl: redisServer.url } };
    const a = await startEdgeGateway(cleanup, { repo, stateDir, config });
    const b = await startEdgeGateway(cleanup, { repo, stateDir, config });

    // The limiter fails open while its Redis client connects: wait until each gateway has
    // written a counter (with a subject of its own) before counting anything.
    for (const [gw, sub] of [
      [a, 'warm-up-a'],
      [b, 'warm-up-b'],
    ] as const) {
      for (let tries = 0; (await redis.get(`bastion-rl:sub:${sub}`)) === null; tries += 1) {
        assert.ok(tries < 40, `gateway for ${sub} never wrote to Redis`);
        assert.equal((await get(gw, '/v2', sub)).status, 200);
        await sleep(50);
      }
    }

    const sub = 'replicated';
    const alternating = await statuses(requestsPerMinute, (i) =>
      get(i % 2 === 0 ? a : b, '/v2', sub),
    );
    assert.deepEqual(alternating, new Array<number>(requestsPerMinute).fill(200));
    assertRateLimited(await get(b, '/v2', sub));
    assertRateLimited(await get(a, '/v2', sub));
    assert.equal(await redis.get(`bastion-rl:sub:${sub}`), String(requestsPerMinute + 2));
    // Another subject has its own budget on either gateway.
    assert.equal((await get(b, '/v2', 'other')).status, 200);
    assert.equal((await get(a, '/v2', 'other')).status, 200);
    for (const gw of [a, b]) {
      assert.ok(
        !gw.log.some((l) => String(l.msg).includes('Redis) error')),
        'no Redis error was logged',
      );
    }
  });
});
