import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keygenCommand } from '../../src/cli/keygen-command.js';
import { signCommand } from '../../src/cli/sign-command.js';
import { verifyCommand } from '../../src/cli/verify-command.js';
import { captureIo } from '../helpers/capture-io.js';

function createIo(cwd: string) {
  const io = captureIo(cwd);
  return { io, out: io.out, err: io.err };
}

async function workspace(t: { after: (fn: () => Promise<void>) => void }) {
  const cwd = await mkdtemp(join(tmpdir(), 'bastion-cli-'));
  t.after(() => rm(cwd, { recursive: true, force: true }));
  await mkdir(join(cwd, 'models/m/1'), { recursive: true });
  await writeFile(join(cwd, 'models/m/1/model.onnx'), 'weights');
  await writeFile(join(cwd, 'models/m/1/notes.txt'), 'unsigned');
  return cwd;
}

test('keygen, sign, verify round trip with exit codes', async (t) => {
  const cwd = await workspace(t);
  const { io, err } = createIo(cwd);
  assert.equal(await keygenCommand(['--out', 'signer'], io), 0);
  assert.equal((await stat(join(cwd, 'signer.priv.pem'))).mode & 0o777, 0o600);
  assert.match(await readFile(join(cwd, 'signer.pub.pem'), 'utf8'), /BEGIN PUBLIC KEY/);
  assert.equal(await keygenCommand(['--out', 'signer'], io), 2, 'never overwrites');

  const dir = 'models/m/1';
  assert.equal(
    await signCommand([dir, '--key', 'signer.priv.pem', '--ignore-paths', `${dir}/notes.txt`], io),
    0,
  );
  assert.equal(
    await verifyCommand([dir, '--key', 'signer.pub.pem', '--ignore-paths', `${dir}/notes.txt`], io),
    0,
  );
  assert.equal(
    await verifyCommand([dir, '--key', 'signer.pub.pem', '--ignore-paths', 'notes.txt'], io),
    0,
  );

  err.length = 0;
  await writeFile(join(cwd, dir, 'model.onnx'), 'weightz');
  assert.equal(await verifyCommand([dir, '--key', 'signer.pub.pem'], io), 1);
  assert.equal(err.length, 1);
  assert.match(err[0] ?? '', /^verification failed \((digest-mismatch|file-extra)\)/);
});

test('verify refuses an untrusted key with exit 1 and one stderr line', async (t) => {
  const cwd = await workspace(t);
  const { io, err } = createIo(cwd);
  await keygenCommand(['--out', 'a'], io);
  await keygenCommand(['--out', 'b'], io);
  assert.equal(
    await signCommand(['models/m/1', '--key', 'a.priv.pem', '--signature', 'm.sig'], io),
    0,
  );
  err.length = 0;
  assert.equal(
    await verifyCommand(['models/m/1', '--key', 'b.pub.pem', '--signature', 'm.sig'], io),
    1,
  );
  assert.deepEqual(err.length, 1);
  assert.match(err[0] ?? '', /untrusted-key/);
});

test('bad usage exits 2', async (t) => {
  const cwd = await workspace(t);
  const { io } = createIo(cwd);
  await keygenCommand(['--out', 'k'], io);
  const cases: [typeof verifyCommand, string[]][] = [
    [keygenCommand, []],
    [keygenCommand, ['--bogus']],
    [signCommand, ['models/m/1']],
    [signCommand, ['models/m/1', '--key', 'missing.pem']],
    [signCommand, ['models/none', '--key', 'k.priv.pem']],
    [verifyCommand, ['models/m/1']],
    [verifyCommand, ['models/m/1', '--key', 'k.pub.pem', '--certificate-chain', 'k.pub.pem']],
    [verifyCommand, ['models/m/1', '--key', 'k.priv.pem.missing']],
    [verifyCommand, ['models/m/1', '--certificate-chain', 'k.pub.pem']],
    [verifyCommand, ['models/none', '--key', 'k.pub.pem']],
  ];
  for (const [command, argv] of cases) {
    assert.equal(await command(argv, io), 2, argv.join(' '));
  }
});
