import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/gateway.js';
import { copyDemoModels, root, runCli } from '../helpers/observe.js';
import { spawnServe } from '../helpers/serve-process.js';
import { missingBinary } from '../helpers/system-tools.js';
import { startRedisServer } from '../helpers/redis-server.js';

/** Starts `bastion serve` as its own process; resolves with its port once it listens. */
async function serve(
  t: { after: (fn: () => void) => void },
  config: string,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawnServe(t, config);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    for await (const line of lines) {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'bastion listening' && typeof entry.port === 'number') {
        return { child, port: entry.port };
      }
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`bastion serve did not start: ${stderr}`);
}

void describe('two gateway processes share one rate limit through a real redis-server', () => {
  void it(
    'one subject alternating between the processes gets 429 once the shared budget is spent',
    { timeout: 60_000 },
    async (t) => {
      const missing = missingBinary('redis-server', 'redis-server');
      if (missing !== undefined) {
        t.skip(missing);
        return;
      }
      const redis = await startRedisServer(t);
      const dir = await tempDir(t);
      const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
      const configs: string[] = [];
      for (const name of ['a', 'b']) {
        const config = join(dir, `${name}.yaml`);
        await writeFile(
          config,
          [
            // One state folder: both processes trust the same dev issuer's key.
            'stateDir: ./var',
            'server:\n  port: 0',
            'auth:\n  devIssuer: true',
            `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(join(root, 'config/keys/demo-publisher.pub.pem'))}]`,
            'metrics:\n  enabled: false',
            `audit:\n  path: ${JSON.stringify(join(dir, `var/audit-${name}.log`))}`,
            `limits:\n  requestsPerMinute: 5\n  redisUrl: ${redis.url}`,
          ].join('\n'),
        );
        configs.push(config);
      }
      const [a, b] = [await serve(t, configs[0]!), await serve(t, configs[1]!)];
      const minted = await runCli([
        'token',
        '--sub',
        'flooder',
        '--scope',
        'infer:iris',
        '--state-dir',
        join(dir, 'var/dev-issuer'),
      ]);
      assert.equal(minted.code, 0, minted.stderr);
      const other = await runCli([
        'token',
        '--sub',
        'neighbour',
        '--scope',
        'infer:iris',
        '--state-dir',
        join(dir, 'var/dev-issuer'),
      ]);
      const call = (port: number, token: string) =>
        fetch(`http://127.0.0.1:${port}/v2/models/iris/ready`, {
          headers: { authorization: `Bearer ${token.trim()}` },
        });
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await call(i % 2 === 0 ? a.port : b.port, minted.stdout);
        statuses.push(res.status);
        if (res.status === 429) {
          assert.ok(Number(res.headers.get('retry-after')) >= 1, 'Retry-After on 429');
          assert.equal(((await res.json()) as { code: string }).code, 'RATE_LIMITED');
        } else {
          await res.arrayBuffer();
        }
      }
      assert.deepEqual(
        statuses,
        [200, 200, 200, 200, 200, 429, 429, 429],
        'five across both processes',
      );
      assert.equal(
        (await call(b.port, other.stdout)).status,
        200,
        'another subject is still served',
      );
      for (const { child } of [a, b]) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    },
  );
});
