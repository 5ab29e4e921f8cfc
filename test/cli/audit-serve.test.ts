// The audit log's tamper evidence with the shipped defaults, end to end: a real `bastion serve`
// child over real files, stopped by SIGKILL or SIGTERM, tampered with while stopped, restarted.
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { parseConfigText } from '../../src/config/load-config.js';
import { startupProblems } from '../../src/server.js';
import { tempDir } from '../helpers/gateway.js';
import {
  copyDemoModels,
  defaultCheckpoint,
  readAudit,
  root,
  runCli,
  verifyWithCli,
} from '../helpers/observe.js';
import { spawnServe } from '../helpers/serve-process.js';

const irisInput = JSON.stringify({
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [6.4, 3.2, 4.5, 1.5] }],
});

interface Serve {
  readonly port: number;
  readonly exited: Promise<number | null>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly kill: (signal: NodeJS.Signals) => void;
}

/** Starts `bastion serve`; resolves once it listens, or with its exit code and stderr. */
async function serve(
  t: TestContext,
  config: string,
  extra: readonly string[] = [],
): Promise<Serve | { code: number | null; stderr: string }> {
  const child = spawnServe(t, config, extra);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number | undefined>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`serve did not start in 30 s: ${err}${out}`));
    }, 30_000);
    const poll = setInterval(() => {
      const match = /"port":(\d+).*"msg":"bastion listening"/.exec(out);
      if (match === null) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolve(Number(match[1]));
    }, 20);
    void exited.then(() => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  if (port === undefined) return { code: await exited, stderr: err };
  return {
    port,
    exited,
    stdout: () => out,
    stderr: () => err,
    kill: (signal) => child.kill(signal),
  };
}

function isRunning(s: Serve | { code: number | null; stderr: string }): s is Serve {
  return 'port' in s;
}

async function setUp(t: TestContext) {
  const dir = await tempDir(t);
  const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
  const config = join(dir, 'bastion.yaml');
  const yaml = (audit: string): string =>
    [
      'stateDir: ./var',
      'server:\n  port: 0',
      'auth:\n  devIssuer: true',
      `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(join(root, 'config/keys/demo-publisher.pub.pem'))}]`,
      'metrics:\n  enabled: false',
      `audit:\n  path: ./var/audit/audit.log\n${audit}`,
      'limits:\n  requestsPerMinute: 1000000',
    ].join('\n');
  await writeFile(config, yaml(''));
  const minted = await runCli(
    ['token', '--init', '--sub', 'audit-kill', '--scope', 'infer:*', '--state-dir'].concat(
      join(dir, 'var/dev-issuer'),
    ),
  );
  assert.equal(minted.code, 0, minted.stderr);
  return {
    dir,
    config,
    yaml,
    log: join(dir, 'var/audit/audit.log'),
    key: join(dir, 'var/audit-hmac.key'),
    authorization: `Bearer ${minted.stdout.trim()}`,
  };
}

async function refusedStart(t: TestContext, config: string, ...patterns: RegExp[]) {
  const result = await serve(t, config);
  assert.ok(!isRunning(result), 'the start is refused');
  assert.equal(result.code, 2, result.stderr);
  for (const pattern of patterns) assert.match(result.stderr, pattern);
}

void describe('bastion serve: the audit log is tamper-evident by default', () => {
  void it(
    'dev key and checkpoint under stateDir; SIGKILL after 200s loses no answered record; tampering while stopped is refused; --recover-audit records the finding',
    { timeout: 180_000 },
    async (t) => {
      const s = await setUp(t);
      const first = await serve(t, s.config);
      assert.ok(isRunning(first), 'starts');
      const keyInfo = await stat(s.key);
      assert.equal(keyInfo.mode & 0o777, 0o600, 'the dev audit key is 0600');
      assert.ok((await readFile(s.key, 'utf8')).trim().length >= 32);

      // 32 concurrent clients; SIGKILL as soon as the last of them has its 200.
      const answered: string[] = [];
      await Promise.all(
        Array.from({ length: 32 }, async (_v, loop) => {
          for (let i = 0; i < 8; i++) {
            const id = `kill-${loop}-${i}`;
            const res = await fetch(`http://127.0.0.1:${first.port}/v2/models/iris/infer`, {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                authorization: s.authorization,
                'x-request-id': id,
              },
              body: irisInput,
            });
            await res.arrayBuffer();
            assert.equal(res.status, 200);
            answered.push(id);
          }
        }),
      );
      first.kill('SIGKILL');
      await first.exited;
      const checkpoint = await defaultCheckpoint(join(s.dir, 'var'));
      const records = await readAudit(s.log);
      const ids = new Set(records.map((r) => r.requestId));
      const missing = answered.filter((id) => !ids.has(id));
      assert.deepEqual(missing, [], 'every answered request has its record after SIGKILL');
      assert.ok(!records.some((r) => r.event === 'server.stop'), 'it really was killed');
      const afterKill = await verifyWithCli([s.log], s.key, checkpoint);
      assert.equal(afterKill.code, 0, afterKill.stderr);

      // A start after the crash is accepted (the checkpoint may lag the log, never lead it).
      const second = await serve(t, s.config);
      assert.ok(isRunning(second), 'restarts after SIGKILL');
      second.kill('SIGTERM');
      assert.equal(await second.exited, 0);
      const witness = second
        .stdout()
        .split('\n')
        .filter((line) => line.includes('"msg":"audit head checkpoint"'))
        .at(-1);
      assert.ok(witness !== undefined, 'a witness line is logged at stop');
      const witnessFile = join(s.dir, 'witness.json');
      await writeFile(witnessFile, witness);
      const byWitness = await verifyWithCli([s.log], s.key, witnessFile);
      assert.equal(byWitness.code, 0, byWitness.stderr);

      // Records cut from the end while stopped.
      const text = await readFile(s.log, 'utf8');
      const lines = text.split('\n').filter((l) => l !== '');
      await writeFile(s.log, `${lines.slice(0, -3).join('\n')}\n`);
      await refusedStart(t, s.config, /shorter than the checkpoint/, /--recover-audit/);
      const cut = await verifyWithCli([s.log], s.key, checkpoint);
      assert.equal(cut.code, 1);
      assert.match(cut.stderr, /TRUNCATED.*3 record\(s\) cut from the end/);

      // The deliberate recovery starts a new segment saying what it found.
      const recovered = await serve(t, s.config, ['--recover-audit']);
      assert.ok(isRunning(recovered), 'starts with --recover-audit');
      recovered.kill('SIGTERM');
      assert.equal(await recovered.exited, 0);
      const segment = (await readAudit(s.log)).find((r) => r.event === 'audit.segment');
      assert.ok(segment, 'a segment record');
      assert.match(segment.reason ?? '', /recovery requested: .*shorter than the checkpoint/);
      const afterRecovery = await verifyWithCli([s.log], s.key, checkpoint);
      assert.equal(afterRecovery.code, 0, afterRecovery.stderr);

      // Rewritten and re-hashed without the key (plain SHA-256, as an unkeyed log would be).
      const { canonicalJson, computeAuditHash } = await import('../../src/audit/audit-hash.js');
      let prevHash = '0'.repeat(64);
      const forged = (await readAudit(s.log)).map((r: AuditRecord) => {
        const { hash: _h, ...body } = r;
        const next = { ...body, prevHash: r.prevHash === '0'.repeat(64) ? r.prevHash : prevHash };
        prevHash = computeAuditHash(next);
        return canonicalJson({ ...next, hash: prevHash });
      });
      const saved = await readFile(s.log);
      await writeFile(s.log, `${forged.join('\n')}\n`);
      await refusedStart(t, s.config, /does not match its hash/, /--recover-audit/);
      const rehashed = await verifyWithCli([s.log], s.key);
      assert.equal(rehashed.code, 1);
      assert.match(rehashed.stderr, /seq 1: hash does not match/);

      // The whole file deleted.
      await writeFile(s.log, saved);
      await rm(s.log);
      await refusedStart(t, s.config, /audit\.log is missing/, /--recover-audit/);
    },
  );

  void it('a short audit key is refused; production without audit.hmacKeyFile is refused', async (t) => {
    const s = await setUp(t);
    const short = join(s.dir, 'short.key');
    await writeFile(short, 'x'.repeat(31));
    await writeFile(s.config, s.yaml(`  hmacKeyFile: ${JSON.stringify(short)}\n`));
    await refusedStart(t, s.config, /short\.key holds 31 bytes; at least 32/);
    const production = parseConfigText(
      'mode: production\nserver:\n  host: 127.0.0.1\naudit:\n  path: /tmp/x/audit.log\n',
      join(s.dir, 'prod.yaml'),
    );
    assert.ok(
      (await startupProblems(production)).some((p) =>
        /^refused in production: audit\.hmacKeyFile: the audit chain is not keyed/.test(p),
      ),
    );
    const withKey = parseConfigText(
      `mode: production\nserver:\n  host: 127.0.0.1\naudit:\n  hmacKeyFile: ${JSON.stringify(short)}\n`,
      join(s.dir, 'prod.yaml'),
    );
    assert.ok(
      !(await startupProblems(withKey)).some((p) =>
        p.includes('audit.hmacKeyFile: the audit chain is not keyed'),
      ),
    );
  });
});
