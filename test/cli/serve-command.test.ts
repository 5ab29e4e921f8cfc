import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/gateway.js';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'bin/bastion.js');

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, NODE_ENV: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<number | null>((res) => {
    child.once('exit', (code) => {
      res(code);
    });
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return { child, exit, stderr: () => stderr };
}

void describe('bastion CLI', () => {
  void it('serve: starts from a config file, serves, and stops cleanly on SIGTERM', async (t) => {
    const dir = await tempDir(t);
    const config = join(dir, 'bastion.yaml');
    await writeFile(
      config,
      [
        'stateDir: ./var',
        'server:\n  port: 0',
        'auth:\n  devIssuer: true',
        `models:\n  repository: ${JSON.stringify(join(root, 'models'))}\n  trustedKeys: [${JSON.stringify(join(root, 'config/keys/demo-publisher.pub.pem'))}]`,
        'metrics:\n  port: 0',
        'audit:\n  path: ./var/audit.log',
      ].join('\n'),
    );
    const proc = run(['serve', '--config', config]);
    t.after(() => proc.child.kill('SIGKILL'));
    const lines: Record<string, unknown>[] = [];
    let port: number | undefined;
    for await (const line of createInterface({ input: proc.child.stdout })) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.msg === 'bastion listening') {
        port = entry.port as number;
        break;
      }
    }
    assert.ok(port, `listening line seen; stderr: ${proc.stderr()}`);
    const tokenRun = run([
      'token',
      '--sub',
      'cli-test',
      '--scope',
      'infer:iris',
      '--state-dir',
      join(dir, 'var/dev-issuer'),
    ]);
    let token = '';
    tokenRun.child.stdout.on('data', (d: Buffer) => (token += d.toString()));
    assert.equal(await tokenRun.exit, 0, tokenRun.stderr());
    const unauthenticated = await fetch(`http://127.0.0.1:${port}/v2/models/iris`);
    assert.equal(unauthenticated.status, 401);
    const res = await fetch(`http://127.0.0.1:${port}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token.trim()}` },
      body: JSON.stringify({
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
        outputs: [{ name: 'label' }],
      }),
    });
    assert.equal(res.status, 200);
    proc.child.kill('SIGTERM');
    assert.equal(await proc.exit, 0);
    const audit = await readFile(join(dir, 'var/audit.log'), 'utf8');
    const events = audit
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; sub?: string });
    assert.deepEqual(
      events.map((e) => e.event),
      [
        'model.load',
        'model.load',
        'model.load',
        'server.start',
        'request',
        'request',
        'server.stop',
      ],
    );
    assert.equal(events[5]?.sub, 'cli-test');
  });

  const usage: { name: string; args: string[]; says: RegExp }[] = [
    { name: 'no command', args: [], says: /usage: bastion/ },
    { name: 'unknown command', args: ['launch'], says: /unknown command "launch"/ },
    { name: 'unknown option', args: ['serve', '--port', '1'], says: /bastion serve: .*--port/ },
    {
      name: 'missing config',
      args: ['serve', '--config', '/nonexistent.yaml'],
      says: /no such file/,
    },
  ];
  for (const { name, args, says } of usage) {
    void it(`exits 2 with one clear message: ${name}`, async () => {
      const proc = run(args);
      assert.equal(await proc.exit, 2);
      assert.match(proc.stderr(), says);
    });
  }

  void it('serve refuses unsigned models in production with a message naming the fix', async (t) => {
    const dir = await tempDir(t);
    const config = join(dir, 'bastion.yaml');
    await writeFile(config, 'models:\n  allowUnsigned: true\n');
    const proc = run(['serve', '--config', config], { NODE_ENV: 'production' });
    assert.equal(await proc.exit, 2);
    assert.match(
      proc.stderr(),
      /refused in production: models.allowUnsigned: .*\(fix: sign the models/,
    );
  });
});
