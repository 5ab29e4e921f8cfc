import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/gateway.js';
import {
  bin,
  copyDemoModels,
  defaultCheckpoint,
  readAudit,
  root,
  runCli,
  verifyWithCli,
} from '../helpers/observe.js';

/** What one client saw for one request. */
interface Seen {
  readonly id: string;
  readonly status: number;
  readonly echoedId: string | null;
}

const irisInput = JSON.stringify({
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [6.4, 3.2, 4.5, 1.5] }],
});
const mlpInput = JSON.stringify({
  inputs: [
    {
      name: 'input',
      shape: [1, 64],
      datatype: 'FP32',
      data: Array.from({ length: 64 }, (_v, i) => i / 64),
    },
  ],
});

void describe('bastion serve: graceful shutdown under load', () => {
  void it(
    'SIGTERM mid-load: every response a client received has its audit record; the log verifies and ends with server.stop',
    { timeout: 60_000 },
    async (t) => {
      const dir = await tempDir(t);
      const repo = await copyDemoModels(join(dir, 'models'), ['iris', 'mlp']);
      const auditPath = join(dir, 'var/audit.log');
      const config = join(dir, 'bastion.yaml');
      await writeFile(
        config,
        [
          'stateDir: ./var',
          'server:\n  port: 0',
          'auth:\n  devIssuer: true',
          `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(join(root, 'config/keys/demo-publisher.pub.pem'))}]`,
          'metrics:\n  port: 0',
          `audit:\n  path: ${JSON.stringify(auditPath)}`,
          'limits:\n  requestsPerMinute: 1000000',
        ].join('\n'),
      );

      const child = spawn(process.execPath, [bin, 'serve', '--config', config], {
        cwd: root,
        env: { ...process.env, NODE_ENV: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      t.after(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      const exited = new Promise<number | null>((resolve) => {
        child.once('exit', (code) => {
          resolve(code);
        });
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // Keep draining stdout for the whole run: a full pipe would block the server's logger.
      let head = '';
      let listening = false;
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`serve did not start listening in 20 s: ${stderr}${head}`));
        }, 20_000);
        child.stdout.on('data', (d: Buffer) => {
          if (listening) return;
          head += d.toString();
          const match = /"port":(\d+).*"msg":"bastion listening"/.exec(head);
          if (match === null) return;
          clearTimeout(timer);
          listening = true;
          resolve(Number(match[1]));
        });
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`serve exited before listening: ${stderr}${head}`));
        });
      });

      const minted = await runCli([
        'token',
        '--sub',
        'load-test',
        '--scope',
        'infer:*',
        '--state-dir',
        join(dir, 'var/dev-issuer'),
      ]);
      assert.equal(minted.code, 0, minted.stderr);
      const authorization = `Bearer ${minted.stdout.trim()}`;

      // fetch's global pool keeps one connection per busy loop alive, as separate clients would.
      const loops = 16;
      const seen: Seen[] = [];
      const failures: string[] = [];
      let stopping = false;
      let answeredBeforeStop = 0;
      let okAfterStop = 0;
      const client = async (loop: number): Promise<void> => {
        for (let i = 0; ; i++) {
          const id = `load-${loop}-${i}`;
          const [path, body] =
            loop % 2 === 0
              ? ['/v2/models/iris/infer', irisInput]
              : ['/v2/models/mlp/infer', mlpInput];
          let res: Response;
          try {
            res = await fetch(`http://127.0.0.1:${port}${path}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization, 'x-request-id': id },
              body,
            });
            await res.arrayBuffer();
          } catch (error) {
            // Refused or reset while the server goes away: allowed, and this client is done.
            failures.push(String((error as Error).cause ?? error));
            return;
          }
          seen.push({ id, status: res.status, echoedId: res.headers.get('x-request-id') });
          if (!stopping) answeredBeforeStop++;
          else if (res.status === 200) okAfterStop++;
          if (stopping && res.status === 503) return;
        }
      };
      const clients = Array.from({ length: loops }, (_v, loop) => client(loop));

      // SIGTERM once the load is well under way.
      const started = Date.now();
      while (answeredBeforeStop < 100 && Date.now() - started < 10_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      stopping = true;
      child.kill('SIGTERM');
      const code = await Promise.race([
        exited,
        new Promise<string>((resolve) => {
          setTimeout(() => {
            resolve('still running 30 s after SIGTERM');
          }, 30_000).unref();
        }),
      ]);
      await Promise.all(clients);
      assert.equal(code, 0, `serve exits 0 after SIGTERM; stderr: ${stderr}`);

      const records = await readAudit(auditPath);
      const byId = new Map(
        records.filter((r) => r.event === 'request').map((r) => [r.requestId, r] as const),
      );
      const ok = seen.filter((s) => s.status === 200);
      assert.ok(ok.length >= 100, `real load: ${ok.length} answered 200`);
      const unexpected = seen.filter((s) => s.status !== 200 && s.status !== 503);
      assert.deepEqual(unexpected, [], 'only 200, or 503 while shutting down');
      const missing: Seen[] = [];
      for (const s of seen) {
        assert.equal(s.echoedId, s.id, 'x-request-id echoed');
        const record = byId.get(s.id);
        if (record === undefined) missing.push(s);
        else assert.equal(record.status, s.status, `${s.id}: recorded with the status received`);
      }
      assert.deepEqual(missing, [], 'every received response has its audit record');
      // Regression: requests refused while closing were answered by Fastify itself, before any
      // hook, so a received 503 had no audit record. They are now refused by an audited hook.
      const refused = seen.filter((s) => s.status === 503);
      t.diagnostic(
        `${seen.length} responses (${ok.length} × 200, ${okAfterStop} of them after SIGTERM; ${refused.length} × 503), ${failures.length} clients cut off, ${records.length} audit records`,
      );

      assert.equal(records.at(-1)?.event, 'server.stop', 'the last record is server.stop');
      assert.equal(records.filter((r) => r.event === 'server.stop').length, 1);
      const verify = await verifyWithCli(
        [auditPath],
        join(dir, 'var/audit-hmac.key'),
        await defaultCheckpoint(join(dir, 'var')),
      );
      assert.equal(verify.code, 0, verify.stderr);
    },
  );
});
