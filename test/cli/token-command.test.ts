import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createDevIssuer } from '../../src/auth/dev-issuer.js';
import { parseTokenTtl } from '../../src/auth/token-ttl.js';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { tokenCommand } from '../../src/cli/token-command.js';
import { captureIo } from '../helpers/capture-io.js';

async function workDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bastion-token-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('bastion token', () => {
  it("prints a token from the gateway's issuer, found from its stateDir", async (t) => {
    const cwd = await workDir(t);
    // What the gateway does on its first start: stateDir/dev-issuer.
    const issuer = await createDevIssuer({ stateDir: join(cwd, 'var', 'dev-issuer') });
    const io = captureIo(cwd);
    const code = await tokenCommand(
      ['--sub', 'alice', '--scope', 'infer:* models:manage', '--ttl', '1h', '--state-dir', 'var'],
      io,
    );
    assert.equal(code, 0);
    assert.deepEqual(io.err, []);
    assert.equal(io.out.length, 1);
    const verifier = await createTokenVerifier({
      issuer: issuer.issuer,
      audience: issuer.audience,
      keys: { kind: 'jwks-file', path: issuer.jwksFile },
    });
    const principal = await verifier.verify(`Bearer ${io.out[0] ?? ''}`);
    assert.equal(principal.sub, 'alice');
    assert.deepEqual([...principal.scopes], ['infer:*', 'models:manage']);
    assert.ok(Math.abs(principal.expiresAt - (Date.now() / 1000 + 3600)) < 5);
  });

  it('honours --state-dir and repeated --scope, defaulting ttl to 15m', async (t) => {
    const cwd = await workDir(t);
    const io = captureIo(cwd);
    const args = [
      '--sub',
      'bob',
      '--scope',
      'infer:a',
      '--scope',
      'infer:b',
      '--state-dir',
      'keys',
      '--init',
    ];
    assert.equal(await tokenCommand(args, io), 0);
    const issuer = await createDevIssuer({ stateDir: join(cwd, 'keys') });
    const verifier = await createTokenVerifier({
      issuer: issuer.issuer,
      audience: issuer.audience,
      keys: { kind: 'jwks-file', path: issuer.jwksFile },
    });
    const principal = await verifier.verify(`Bearer ${io.out[0] ?? ''}`);
    assert.deepEqual([...principal.scopes], ['infer:a', 'infer:b']);
    assert.ok(Math.abs(principal.expiresAt - (Date.now() / 1000 + 900)) < 5);
  });

  it('refuses to create an issuer silently: names the folder and how to point it', async (t) => {
    const cwd = await workDir(t);
    const cases: [string[], string][] = [
      [['--state-dir', 'wrong'], join(cwd, 'wrong')],
      [['--state-dir', join(cwd, 'elsewhere')], join(cwd, 'elsewhere', 'dev-issuer')],
    ];
    for (const [extra, named] of cases) {
      const io = captureIo(cwd);
      assert.equal(await tokenCommand(['--sub', 'a', ...extra], io), 2);
      assert.deepEqual(io.out, []);
      assert.equal(io.err.length, 1);
      assert.ok((io.err[0] ?? '').includes(named), io.err[0]);
      assert.match(io.err[0] ?? '', /--state-dir .*--config .*--init/);
      assert.deepEqual(await readdir(cwd), []);
    }
  });

  it("--config reads the gateway's stateDir (and so does the default config)", async (t) => {
    const cwd = await workDir(t);
    await writeFile(
      join(cwd, 'gateway.yaml'),
      'mode: development\nstateDir: ./state\nauth:\n  devIssuer: true\nmodels:\n  repository: ./models\n  allowUnsigned: true\n',
    );
    const missing = captureIo(cwd);
    assert.equal(await tokenCommand(['--sub', 'a', '--config', 'gateway.yaml'], missing), 2);
    assert.ok((missing.err[0] ?? '').includes(join(cwd, 'state', 'dev-issuer')), missing.err[0]);
    await createDevIssuer({ stateDir: join(cwd, 'state', 'dev-issuer') });
    const io = captureIo(cwd);
    assert.equal(await tokenCommand(['--sub', 'a', '--config', 'gateway.yaml'], io), 0, io.err[0]);
    const fromEnv = captureIo(cwd, { BASTION_CONFIG: 'gateway.yaml' });
    assert.equal(await tokenCommand(['--sub', 'a'], fromEnv), 0, fromEnv.err[0]);
    const both = captureIo(cwd);
    assert.equal(await tokenCommand(['--sub', 'a', '--config', 'x', '--state-dir', 'y'], both), 2);
    const badConfig = captureIo(cwd);
    assert.equal(await tokenCommand(['--sub', 'a', '--config', 'nope.yaml'], badConfig), 2);
    assert.match(badConfig.err[0] ?? '', /nope\.yaml/);
  });

  it('exits 2 with one line on bad usage', async (t) => {
    const cwd = await workDir(t);
    const cases: [string[], RegExp][] = [
      [['--scope', 'infer:*'], /--sub is required/],
      [['--sub', ''], /--sub is required/],
      [['--sub', 'a', '--ttl', 'soon'], /--ttl/],
      [['--sub', 'a', '--ttl', '25h'], /at most 24h/],
      [['--sub', 'a', '--ttl', '0s'], /--ttl/],
      [['--sub', 'a', '--ttl', '-5m'], /--ttl|argument/],
      [['--sub', 'a', '--bogus'], /Unknown option/],
      [['--sub', 'a', 'extra'], /positional/],
      [['--sub', 'a', '--scope', 'quote"', '--state-dir', 'x', '--init'], /invalid scope/],
    ];
    for (const [argv, message] of cases) {
      const io = captureIo(cwd);
      assert.equal(await tokenCommand(argv, io), 2, argv.join(' '));
      assert.deepEqual(io.out, []);
      assert.equal(io.err.length, 1);
      assert.match(io.err[0] ?? '', message, argv.join(' '));
      assert.ok(!(io.err[0] ?? '').includes('\n'));
    }
  });
});

describe('parseTokenTtl', () => {
  it('reads s, m, h and bare seconds within 1 s … 24 h', () => {
    const table: [string, number | undefined][] = [
      ['30s', 30],
      ['15m', 900],
      ['1h', 3600],
      ['24h', 86_400],
      ['90', 90],
      [' 2m ', 120],
      ['0', undefined],
      ['25h', undefined],
      ['86401', undefined],
      ['1d', undefined],
      ['1.5h', undefined],
      ['m', undefined],
      ['', undefined],
      ['1H', undefined],
      ['9999999s', undefined],
    ];
    for (const [text, expected] of table) assert.equal(parseTokenTtl(text), expected, text);
  });
});
