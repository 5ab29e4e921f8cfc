/**
 * `bastion doctor` and the production start-up refusals it shares with `serve`, as real
 * processes: exit codes, one line per refusal naming the key and the fix, and the shipped
 * production example passing (its absolute paths mapped onto a folder holding real files).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.js';
import { runDoctor } from '../../src/doctor/run-doctor.js';
import { demoPublisherKey, tempDir } from '../helpers/gateway.js';
import { bin, copyDemoModels, root } from '../helpers/observe.js';
import { createDoctorFixture } from '../doctor/doctor-fixture.js';

function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...process.env, NODE_ENV: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

void describe('bastion doctor (CLI)', () => {
  void it('exit 0 clean, 1 at or above --fail-on, 2 on bad usage', async (t) => {
    const f = await createDoctorFixture(t);
    const clean = join(f.dir, 'clean.yaml');
    await writeFile(clean, f.yaml());
    const medium = join(f.dir, 'medium.yaml');
    await writeFile(medium, f.yaml({ limits: 'limits:\n  requestsPerMinute: 5000000' }));
    const high = join(f.dir, 'high.yaml');
    await writeFile(high, f.yaml({ metrics: 'metrics:\n  host: 0.0.0.0\n  port: 0' }));

    const ok = await cli(['doctor', '--config', clean]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /no findings/);
    assert.equal((await cli(['doctor', '--config', medium])).code, 0);
    const strict = await cli(['doctor', '--config', medium, '--fail-on', 'medium']);
    assert.equal(strict.code, 1);
    assert.match(strict.stdout, /MEDIUM limits\.requestsPerMinute \[rate-limit-off\]/);
    const bad = await cli(['doctor', '--config', high]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /HIGH {3}metrics\.bearerTokenFile \[metrics-open\]/);
    assert.match(bad.stdout, /fix: set metrics\.bearerTokenFile/);
    const json = await cli(['doctor', '--config', high, '--json']);
    const parsed = JSON.parse(json.stdout) as { findings: { id: string; fix: string }[] };
    assert.deepEqual(
      parsed.findings.map((x) => x.id),
      ['metrics-open'],
    );

    assert.equal((await cli(['doctor', '--help'])).code, 0);
    for (const args of [
      ['doctor', '--fail-on', 'critical'],
      ['doctor', '--bogus'],
      ['doctor', 'extra'],
      ['doctor', '--config', join(f.dir, 'missing.yaml')],
    ]) {
      const run = await cli(args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stderr.trim().split('\n').length >= 1, true);
    }
  });

  void it('config/production.example.yaml has no high finding once its files exist', async (t) => {
    const dir = await tempDir(t);
    const text = (await readFile(join(root, 'config/production.example.yaml'), 'utf8'))
      .replaceAll('/etc/bastion/', `${dir}/etc/bastion/`)
      .replaceAll('/var/lib/bastion', `${dir}/var/lib/bastion`)
      .replaceAll('/srv/bastion/models', `${dir}/srv/models`);
    const secret = async (path: string, content: string): Promise<void> => {
      await mkdir(dirname(path), { recursive: true, mode: 0o750 });
      await writeFile(path, content, { mode: 0o600 });
    };
    const etc = join(dir, 'etc/bastion');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await secret(
      join(etc, 'tls/server.key'),
      String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
    );
    await secret(join(etc, 'tls/server.crt'), 'certificate');
    await secret(join(etc, 'tls/clients-ca.crt'), 'client CA');
    await secret(join(etc, 'model-key'), randomBytes(32).toString('hex'));
    await secret(join(etc, 'audit-hmac.key'), randomBytes(32).toString('base64'));
    await secret(join(etc, 'metrics-token'), randomBytes(32).toString('base64url'));
    await mkdir(join(etc, 'keys'), { recursive: true });
    for (const name of ['ml-platform.pub.pem', 'team-fraud.pub.pem']) {
      await copyFile(demoPublisherKey, join(etc, 'keys', name));
    }
    await mkdir(join(dir, 'var/lib/bastion/audit'), { recursive: true, mode: 0o750 });
    await copyDemoModels(join(dir, 'srv/models'), ['iris']);
    const config = parseConfigText(text, join(etc, 'bastion.yaml'));
    const findings = await runDoctor(config, { verifyModels: true });
    assert.deepEqual(
      findings.filter((x) => x.severity === 'high'),
      [],
    );
  });
});

void describe("bastion serve in production: refuses on the doctor's high findings", () => {
  const refusals: { name: string; section: Record<string, string>; says: RegExp }[] = [
    {
      name: 'metrics beyond loopback without a bearer token',
      section: { metrics: 'metrics:\n  host: 0.0.0.0\n  port: 0' },
      says: /metrics\.bearerTokenFile: .*\(fix: set metrics\.bearerTokenFile/,
    },
    {
      name: 'fail-open audit',
      section: { audit: 'audit:\n  failClosed: false' },
      says: /audit\.failClosed: .*\(fix: set audit\.failClosed: true/,
    },
  ];
  for (const { name, section, says } of refusals) {
    void it(name, async (t) => {
      const f = await createDoctorFixture(t);
      const file = join(f.dir, 'bastion.yaml');
      await writeFile(file, f.yaml(section));
      const run = await cli(['serve', '--config', file], { NODE_ENV: 'production' });
      assert.equal(run.code, 2);
      assert.match(run.stderr, /refused in production/);
      assert.match(run.stderr, says);
    });
  }
  for (const [name, secret] of [
    ['a short HS secret', randomBytes(12).toString('hex')],
    ['an HS secret of 32 × "a"', 'a'.repeat(32)],
    ['a patterned HS secret', 'ab'.repeat(32)],
  ] as const) {
    void it(name, async (t) => {
      const f = await createDoctorFixture(t);
      const path = await f.secret('hs.key', secret);
      const file = join(f.dir, 'bastion.yaml');
      await writeFile(
        file,
        f.yaml({
          auth: `auth:\n  issuer: https://issuer.test/\n  audience: bastion\n  algorithms: [HS256]\n  hsSecretFile: ${JSON.stringify(path)}`,
        }),
      );
      const run = await cli(['serve', '--config', file], { NODE_ENV: 'production' });
      assert.equal(run.code, 2);
      assert.match(
        run.stderr,
        /auth\.hsSecretFile: the secret in .* is (short|guessable).*\(fix: replace it with random bytes/,
      );
    });
  }
});
