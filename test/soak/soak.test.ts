/**
 * A bounded soak of a real `bastion serve` process: mixed valid, invalid, unauthorized, forbidden
 * and oversized traffic, slow clients, and a model reload mid-run, all on 127.0.0.1. Afterwards:
 * no 5xx, the server's RSS stayed within a bound, every answer on a model or repository route
 * has its audit record (same request id, same status) and the chain verifies.
 *
 * `BASTION_SOAK_SECONDS` sets the traffic time (default 12 s; e.g. 600 for a long run).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempDir } from '../helpers/gateway.js';
import {
  auditFiles,
  bin,
  demoModels,
  readAudit,
  root,
  runCli,
  verifyWithCli,
} from '../helpers/observe.js';

const seconds = Number(process.env.BASTION_SOAK_SECONDS ?? '12');
const bodyBytes = 1024 * 1024;
const rssBoundBytes = 256 * 1024 * 1024;

interface Answer {
  readonly status: number;
  readonly requestId: string | undefined;
  readonly path: string;
}

function vmRssBytes(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((text) => {
    const kb = /VmRSS:\s+(\d+) kB/.exec(text)?.[1];
    return kb === undefined ? 0 : Number(kb) * 1024;
  });
}

void describe('soak: a real serve process under mixed traffic', () => {
  void it(`${seconds} s of mixed traffic: no 5xx, bounded RSS, every answer audited`, async (t) => {
    const dir = await tempDir(t, 'bastion-soak-');
    const repo = join(dir, 'models');
    await cp(demoModels, repo, { recursive: true });
    const config = join(dir, 'bastion.yaml');
    await writeFile(
      config,
      [
        'stateDir: ./var',
        'server:\n  port: 0',
        'auth:\n  devIssuer: true',
        `models:\n  repository: ./models\n  trustedKeys: [${JSON.stringify(join(root, 'config/keys/demo-publisher.pub.pem'))}]`,
        'metrics:\n  port: 0',
        'audit:\n  path: ./var/audit.log\n  fsync: always',
        `limits:\n  bodyBytes: ${bodyBytes}\n  requestsPerMinute: 1000000\n  unauthenticatedPerMinute: 1000000`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, [bin, 'serve', '--config', config], {
      cwd: dir,
      env: { ...process.env, NODE_ENV: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', res));
    t.after(() => {
      child.kill('SIGKILL');
    });
    let port: number | undefined;
    const lines = createInterface({ input: child.stdout });
    for await (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg === 'bastion listening') {
        port = entry.port as number;
        break;
      }
    }
    lines.on('line', () => undefined); // keep draining the app log
    assert.ok(port !== undefined, `listening; stderr: ${stderr}`);
    const pid = child.pid ?? 0;

    const mint = async (scope: string): Promise<string> => {
      const run = await runCli([
        'token',
        '--sub',
        'soak',
        '--scope',
        scope,
        '--state-dir',
        join(dir, 'var/dev-issuer'),
      ]);
      assert.equal(run.code, 0, run.stderr);
      return run.stdout.trim();
    };
    const inferToken = await mint('infer:iris infer:mlp');
    const manageToken = await mint('models:manage');
    const wildcardToken = await mint('infer:*');
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    t.after(() => {
      agent.destroy();
    });

    const answers: Answer[] = [];
    const send = (
      method: string,
      path: string,
      headers: Record<string, string>,
      body?: Buffer | string,
    ): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, method, path, headers, agent },
          (res) => {
            res.resume();
            res.on('end', () => {
              const id = res.headers['x-request-id'];
              answers.push({
                status: res.statusCode ?? 0,
                requestId: typeof id === 'string' ? id : undefined,
                path,
              });
              resolve();
            });
          },
        );
        req.setTimeout(20_000, () => req.destroy(new Error(`timeout ${method} ${path}`)));
        req.on('error', (error: NodeJS.ErrnoException) => {
          // The server may close the connection after refusing an oversized body unread.
          if (error.code === 'ECONNRESET' || error.code === 'EPIPE') resolve();
          else reject(error);
        });
        req.end(body);
      });
    const json = { 'content-type': 'application/json' };
    const iris = JSON.stringify({
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
    });
    const mlp = JSON.stringify({
      inputs: [
        {
          name: 'input',
          shape: [2, 64],
          datatype: 'FP32',
          data: Array.from({ length: 128 }, (_, i) => (i % 7) / 7),
        },
      ],
    });
    const oversized = Buffer.alloc(bodyBytes * 2, 0x20);
    const kinds: (() => Promise<void>)[] = [
      () =>
        send(
          'POST',
          '/v2/models/iris/infer',
          { ...json, authorization: `Bearer ${inferToken}` },
          iris,
        ),
      () =>
        send(
          'POST',
          '/v2/models/mlp/infer',
          { ...json, authorization: `Bearer ${inferToken}` },
          mlp,
        ),
      () =>
        send(
          'POST',
          '/v2/models/iris/infer',
          { ...json, authorization: `Bearer ${inferToken}` },
          '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]}',
        ),
      () => send('POST', '/v2/models/iris/infer', json, iris),
      () =>
        send(
          'POST',
          '/v2/models/iris/infer',
          { ...json, authorization: 'Bearer not.a.token' },
          iris,
        ),
      () =>
        send(
          'POST',
          '/v2/models/tensor-types/infer',
          { ...json, authorization: `Bearer ${inferToken}` },
          iris,
        ),
      () =>
        send(
          'POST',
          '/v2/models/iris/infer',
          { ...json, authorization: `Bearer ${inferToken}` },
          oversized,
        ),
      () => send('GET', '/v2/models/iris', { authorization: `Bearer ${inferToken}` }),
      () =>
        send(
          'POST',
          '/v2/repository/index',
          { ...json, authorization: `Bearer ${manageToken}` },
          '{}',
        ),
      () => send('GET', '/v2/health/ready', {}),
      () => send('GET', '/v2/models/iris/infer', { authorization: `Bearer ${inferToken}` }),
      () =>
        send(
          'POST',
          '/v2/models/no-such-model/infer',
          { ...json, authorization: `Bearer ${wildcardToken}` },
          iris,
        ),
    ];

    /** A client that sends its request a few bytes at a time. */
    const slowClient = (): Promise<void> =>
      new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1');
        const head =
          `POST /v2/models/iris/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          `Authorization: Bearer ${inferToken}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(iris)}\r\nConnection: close\r\n\r\n`;
        const bytes = Buffer.from(head + iris);
        let at = 0;
        let reply = '';
        socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);
          const id = /\r\nx-request-id: ([^\r]+)/i.exec(reply)?.[1];
          if (status !== 0) answers.push({ status, requestId: id, path: '/v2/models/iris/infer' });
          resolve();
        });
        const tick = setInterval(() => {
          if (at >= bytes.length) {
            clearInterval(tick);
            return;
          }
          socket.write(bytes.subarray(at, at + 64));
          at += 64;
        }, 25);
      });

    const rss: number[] = [await vmRssBytes(pid)];
    const deadline = Date.now() + seconds * 1000;
    const sampler = setInterval(() => {
      void vmRssBytes(pid).then((v) => rss.push(v));
    }, 500);
    let reloaded = false;
    const worker = async (n: number): Promise<void> => {
      let i = n;
      while (Date.now() < deadline) {
        const kind = kinds[i++ % kinds.length];
        await kind?.();
      }
    };
    const slow = async (): Promise<void> => {
      while (Date.now() < deadline) await slowClient();
    };
    const reloader = async (): Promise<void> => {
      await sleep((seconds * 1000) / 2);
      await send(
        'POST',
        '/v2/repository/models/iris/load',
        { ...json, authorization: `Bearer ${manageToken}` },
        '{}',
      );
      reloaded = true;
    };
    await Promise.all([
      ...Array.from({ length: 8 }, (_, n) => worker(n)),
      slow(),
      slow(),
      reloader(),
    ]);
    clearInterval(sampler);
    assert.ok(reloaded);

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);

    const fiveHundreds = answers.filter((a) => a.status >= 500);
    assert.deepEqual(fiveHundreds, [], 'no 5xx');
    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    t.diagnostic(`${answers.length} answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
    for (const expected of [200, 400, 401, 403, 404, 405, 413]) {
      assert.ok(statuses.has(expected), `saw a ${expected}`);
    }
    const peak = Math.max(...rss);
    t.diagnostic(`RSS start ${(rss[0] ?? 0) >> 20} MiB, peak ${peak >> 20} MiB`);
    assert.ok(
      peak - (rss[0] ?? 0) < rssBoundBytes,
      `RSS grew by ${(peak - (rss[0] ?? 0)) >> 20} MiB`,
    );

    const auditPath = join(dir, 'var/audit.log');
    const records = await readAudit(auditPath);
    const byId = new Map(records.filter((r) => r.event === 'request').map((r) => [r.requestId, r]));
    const audited = answers.filter(
      (a) => a.path.startsWith('/v2/models/') || a.path.startsWith('/v2/repository/'),
    );
    const missing = audited.filter((a) => a.requestId === undefined || !byId.has(a.requestId));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} answers without a record`);
    for (const a of audited) {
      assert.equal(byId.get(a.requestId ?? '')?.status, a.status, `status of ${a.requestId ?? ''}`);
    }
    const verified = await verifyWithCli(
      await auditFiles(auditPath),
      join(dir, 'var/audit-hmac.key'),
    );
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });
});
