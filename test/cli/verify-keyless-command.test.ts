// `bastion verify DIR --identity I --identity-provider URL [--trusted-root FILE]`: keyless
// verification on the command line, with the reference tool's option names and exit codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { verifyCommand } from '../../src/cli/verify-command.js';
import { captureIo } from '../helpers/capture-io.js';
import { projectRoot, vectorsRoot } from '../models/oms/oms-test-fixtures.js';
import { createTestSigstore, editBundle } from '../models/oms/sigstore-test-instance.js';
import { tempDir } from '../helpers/gateway.js';

const vector = join(vectorsRoot, 'model-transparency/v1.1.0-sigstore');
const absent = existsSync(vector) ? false : `OMS vectors not found at ${vectorsRoot}`;
const identity = ['--identity', 'stefanb@us.ibm.com'];
const provider = ['--identity-provider', 'https://sigstore.verify.ibm.com/oauth2'];
const ignore = ['--ignore-paths', 'ignore-me'];

async function workspace(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const cwd = await tempDir(t, 'bastion-cli-keyless-');
  await cp(vector, join(cwd, 'model'), { recursive: true });
  return cwd;
}

describe('bastion verify, keyless, on the public-good vectors', { skip: absent }, () => {
  test('exit 0 with the signer identity and log time on stdout', async (t) => {
    const io = captureIo(await workspace(t));
    assert.equal(await verifyCommand(['model', ...identity, ...provider, ...ignore], io), 0);
    assert.deepEqual(io.err, []);
    assert.match(
      io.out[0] ?? '',
      /^verified model: 2 file\(s\) signed by stefanb@us\.ibm\.com \(issuer https:\/\/sigstore\.verify\.ibm\.com\/oauth2\), logged in Rekor at 2025-10-10T02:12:20\.000Z/,
    );
  });

  const refusals: [string, string[], (cwd: string) => Promise<void>, RegExp][] = [
    [
      'a wrong identity',
      ['--identity', 'mallory@us.ibm.com', ...provider],
      () => Promise.resolve(),
      /untrusted-identity/,
    ],
    [
      'a wrong issuer',
      [...identity, '--identity-provider', 'https://accounts.google.com'],
      () => Promise.resolve(),
      /untrusted-identity/,
    ],
    [
      'a tampered file',
      [...identity, ...provider],
      (cwd) => writeFile(join(cwd, 'model/signme-2'), 'changed'),
      /digest-mismatch/,
    ],
    [
      'an altered Rekor entry',
      [...identity, ...provider],
      (cwd) =>
        editBundle(join(cwd, 'model/model.sig'), (bundle) => {
          const entry = bundle.verificationMaterial.tlogEntries[0] as { integratedTime: string };
          entry.integratedTime = String(Number(entry.integratedTime) - 3600);
        }),
      /tlog-invalid/,
    ],
  ];
  for (const [name, argv, change, reason] of refusals) {
    test(`exit 1 on ${name}, one stderr line with the reason`, async (t) => {
      const cwd = await workspace(t);
      await change(cwd);
      const io = captureIo(cwd);
      assert.equal(await verifyCommand(['model', ...argv, ...ignore], io), 1);
      assert.equal(io.err.length, 1);
      assert.match(io.err[0] ?? '', new RegExp(`^verification failed \\(${reason.source}\\): `));
      assert.doesNotMatch(io.err[0] ?? '', /\n/);
    });
  }

  test('a signature file elsewhere (--signature) and the spec bundle', async (t) => {
    const cwd = await workspace(t);
    const io = captureIo(cwd);
    const spec = join(vectorsRoot, 'spec-v1.0/valid/sigstore.bundle.json');
    const argv = ['model', ...identity, ...provider, '--signature', spec, ...ignore];
    assert.equal(await verifyCommand([...argv, '--ignore-paths', 'model/model.sig'], io), 0);
  });

  test('the installed CLI (bin/bastion.js) gives the same exit codes', async (t) => {
    const cwd = await workspace(t);
    const bin = join(projectRoot, 'bin/bastion.js');
    const run = (...argv: string[]) =>
      spawnSync(process.execPath, [bin, 'verify', 'model', ...argv], {
        cwd,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const ok = run(...identity, ...provider, ...ignore);
    assert.equal(ok.status, 0, ok.stderr);
    const wrong = run('--identity', 'x@example.com', ...provider, ...ignore);
    assert.equal(wrong.status, 1, wrong.stderr);
    assert.match(wrong.stderr, /untrusted-identity/);
    assert.doesNotMatch(wrong.stderr, /\s+at .*:\d+:\d+/);
  });
});

describe('bastion verify, keyless, with a private instance (--trusted-root)', () => {
  const sigstore = createTestSigstore();
  const who = { identity: 'ci@example.com', issuer: 'https://issuer.example.com' };

  async function signed(t: Parameters<typeof tempDir>[0], validTo?: Date) {
    const cwd = await tempDir(t, 'bastion-cli-private-');
    await mkdir(join(cwd, 'm'));
    await writeFile(join(cwd, 'm/model.onnx'), 'weights');
    await writeFile(join(cwd, 'root.json'), sigstore.trustedRootJson);
    const at = new Date('2024-01-01T00:00:00Z');
    await sigstore.signKeyless(join(cwd, 'm'), {
      ...who,
      integratedTime: at,
      ...(validTo === undefined ? {} : { validFrom: new Date(at.getTime() - 600_000), validTo }),
    });
    return cwd;
  }
  const args = ['m', '--identity', who.identity, '--identity-provider', who.issuer];

  test('exit 0 with --trusted-root, exit 1 (tlog-invalid: unknown log) without it', async (t) => {
    const io = captureIo(await signed(t));
    assert.equal(await verifyCommand([...args, '--trusted-root', 'root.json'], io), 0);
    assert.equal(await verifyCommand(args, io), 1);
    assert.match(io.err[0] ?? '', /^verification failed \(tlog-invalid\): .*does not list/);
  });

  test('exit 1 (certificate-expired) for a certificate expired at the log time', async (t) => {
    const io = captureIo(await signed(t, new Date('2023-12-31T23:59:00Z')));
    assert.equal(await verifyCommand([...args, '--trusted-root', 'root.json'], io), 1);
    assert.match(io.err[0] ?? '', /^verification failed \(certificate-expired\)/);
  });
});

test('keyless usage errors exit 2', async (t) => {
  const cwd = await tempDir(t, 'bastion-cli-usage-');
  await mkdir(join(cwd, 'm'));
  await writeFile(join(cwd, 'bad-root.json'), '{"mediaType":"nope"}');
  await writeFile(join(cwd, 'k.pem'), 'x');
  const io = captureIo(cwd);
  const cases = [
    ['m', '--identity', 'a@example.com'],
    ['m', '--identity-provider', 'https://i.example.com'],
    ['m', '--identity', '', '--identity-provider', 'https://i.example.com'],
    ['m', '--identity', 'a', '--identity-provider', 'https://i', '--key', 'k.pem'],
    ['m', '--trusted-root', 'bad-root.json', '--key', 'k.pem'],
    ['m', '--identity', 'a', '--identity-provider', 'https://i', '--trusted-root', 'missing.json'],
    ['m', '--identity', 'a', '--identity-provider', 'https://i', '--trusted-root', 'bad-root.json'],
    ['m', '--identity', 'a', '--identity', 'b', '--identity-provider', 'https://i'],
  ];
  for (const argv of cases) {
    io.err.length = 0;
    assert.equal(await verifyCommand(argv, io), 2, argv.join(' '));
    assert.equal(io.err.length, 1, argv.join(' '));
  }
});
