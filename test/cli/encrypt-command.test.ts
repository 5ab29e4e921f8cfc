import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { decryptCommand } from '../../src/cli/decrypt-command.js';
import { encryptCommand } from '../../src/cli/encrypt-command.js';
import { captureIo } from '../helpers/capture-io.js';

function createIo(cwd: string, env: Record<string, string> = {}) {
  const io = captureIo(cwd, env);
  return { io, out: io.out, err: io.err };
}

async function workspace(t: { after: (fn: () => Promise<void>) => void }) {
  const cwd = await mkdtemp(join(tmpdir(), 'bastion-encrypt-'));
  t.after(() => rm(cwd, { recursive: true, force: true }));
  await writeFile(join(cwd, 'model.onnx'), buildIdentityModel('float32', ['n', 2]));
  return cwd;
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

test('generate-key writes a 0600 hex key and never overwrites', async (t) => {
  const cwd = await workspace(t);
  const { io, out, err } = createIo(cwd);
  assert.equal(await encryptCommand(['--generate-key', 'model.key'], io), 0);
  const key = await readFile(join(cwd, 'model.key'), 'utf8');
  assert.match(key, /^[0-9a-f]{64}\n$/);
  assert.equal(await mode(join(cwd, 'model.key')), 0o600);
  assert.match(out[0] ?? '', /key id [0-9a-f]{16}/);
  assert.doesNotMatch(out[0] ?? '', new RegExp(key.trim()), 'the key is not printed');

  assert.equal(await encryptCommand(['--generate-key', 'model.key'], io), 2);
  assert.match(err.at(-1) ?? '', /refusing to overwrite/);
  assert.equal(await readFile(join(cwd, 'model.key'), 'utf8'), key);
  assert.deepEqual((await readdir(cwd)).sort(), ['model.key', 'model.onnx'], 'no temp file left');
});

test('encrypt then decrypt round trips with the documented files and modes', async (t) => {
  const cwd = await workspace(t);
  const { io, err } = createIo(cwd);
  const model = await readFile(join(cwd, 'model.onnx'));
  assert.equal(await encryptCommand(['--generate-key', 'k'], io), 0);

  assert.equal(await encryptCommand(['model.onnx', '--key-file', 'k'], io), 0);
  const encryptedPath = join(cwd, 'model.onnx.enc');
  const encrypted = await readFile(encryptedPath);
  assert.equal(encrypted.subarray(0, 7).toString('latin1'), 'BASTENC');
  // A probe file shows what the umask lets through (process.umask() is deprecated).
  await writeFile(join(cwd, 'probe'), '', { mode: 0o666 });
  assert.equal(await mode(encryptedPath), 0o644 & (await mode(join(cwd, 'probe'))));
  await rm(join(cwd, 'probe'));

  assert.equal(await encryptCommand(['model.onnx', '--key-file', 'k'], io), 2, 'no overwrite');
  assert.match(err.at(-1) ?? '', /refusing to overwrite model\.onnx\.enc; pass --force/);
  assert.ok((await readFile(encryptedPath)).equals(encrypted));
  assert.equal(await encryptCommand(['model.onnx', '--key-file', 'k', '--force'], io), 0);
  assert.ok(!(await readFile(encryptedPath)).equals(encrypted), 'fresh nonce');

  assert.equal(await decryptCommand(['model.onnx.enc', '--key-file', 'k'], io), 2, '--out needed');
  assert.match(err.at(-1) ?? '', /--out is required/);
  assert.equal(
    await decryptCommand(['model.onnx.enc', '--key-file', 'k', '--out', 'p.onnx'], io),
    0,
  );
  assert.ok((await readFile(join(cwd, 'p.onnx'))).equals(model));
  assert.equal(await mode(join(cwd, 'p.onnx')), 0o600);
  assert.equal(
    await decryptCommand(['model.onnx.enc', '--key-file', 'k', '--out', 'p.onnx'], io),
    2,
    'no overwrite',
  );
  assert.equal(
    await decryptCommand(['model.onnx.enc', '--key-file', 'k', '--out', 'p.onnx', '--force'], io),
    0,
  );
  assert.deepEqual((await readdir(cwd)).sort(), ['k', 'model.onnx', 'model.onnx.enc', 'p.onnx']);
});

test('--key-env reads the key from the environment, hex or base64', async (t) => {
  const cwd = await workspace(t);
  const key = Buffer.alloc(32, 7);
  const { io } = createIo(cwd, {
    MODEL_KEY: `${key.toString('base64')}\n`,
    MODEL_KEY_HEX: key.toString('hex'),
    EMPTY: '',
  });
  assert.equal(
    await encryptCommand(['model.onnx', '--key-env', 'MODEL_KEY', '--out', 'm.enc'], io),
    0,
  );
  assert.equal(
    await decryptCommand(['m.enc', '--key-env', 'MODEL_KEY_HEX', '--out', 'm.onnx'], io),
    0,
  );
  assert.ok((await readFile(join(cwd, 'm.onnx'))).equals(await readFile(join(cwd, 'model.onnx'))));
  for (const name of ['MISSING', 'EMPTY']) {
    const { io: io2, err } = createIo(cwd, { EMPTY: '' });
    assert.equal(await decryptCommand(['m.enc', '--key-env', name, '--out', 'x'], io2), 2);
    assert.match(err[0] ?? '', new RegExp(`environment variable ${name} is not set`));
  }
});

test('a wrong key or a tampered file exits 1 with one line and writes nothing', async (t) => {
  const cwd = await workspace(t);
  const { io } = createIo(cwd);
  await encryptCommand(['--generate-key', 'a'], io);
  await encryptCommand(['--generate-key', 'b'], io);
  assert.equal(await encryptCommand(['model.onnx', '--key-file', 'a'], io), 0);

  const wrong = createIo(cwd);
  assert.equal(
    await decryptCommand(['model.onnx.enc', '--key-file', 'b', '--out', 'p'], wrong.io),
    1,
  );
  assert.equal(wrong.err.length, 1);
  assert.match(wrong.err[0] ?? '', /^cannot decrypt model\.onnx\.enc \(wrong-key\): .*another key/);

  const encrypted = await readFile(join(cwd, 'model.onnx.enc'));
  encrypted[encrypted.length - 20] = (encrypted[encrypted.length - 20] ?? 0) ^ 1;
  await writeFile(join(cwd, 'model.onnx.enc'), encrypted);
  const tampered = createIo(cwd);
  assert.equal(
    await decryptCommand(['model.onnx.enc', '--key-file', 'a', '--out', 'p'], tampered.io),
    1,
  );
  assert.equal(tampered.err.length, 1);
  assert.match(tampered.err[0] ?? '', /\(tampered\)/);

  await writeFile(join(cwd, 'short.enc'), encrypted.subarray(0, 30));
  const truncated = createIo(cwd);
  assert.equal(
    await decryptCommand(['short.enc', '--key-file', 'a', '--out', 'p'], truncated.io),
    1,
  );
  assert.match(truncated.err[0] ?? '', /\(format\)/);

  assert.deepEqual((await readdir(cwd)).sort(), [
    'a',
    'b',
    'model.onnx',
    'model.onnx.enc',
    'short.enc',
  ]);
});

test('bad usage exits 2 with one stderr line', async (t) => {
  const cwd = await workspace(t);
  const { io } = createIo(cwd, { K: 'x' });
  await encryptCommand(['--generate-key', 'k'], io);
  await writeFile(join(cwd, 'garbage.key'), 'not a key at all\n');
  await writeFile(join(cwd, 'huge.key'), Buffer.alloc(10_000, 0x61));
  await encryptCommand(['model.onnx', '--key-file', 'k', '--out', 'enc'], io);
  const cases: [typeof encryptCommand, string[], RegExp][] = [
    [encryptCommand, [], /exactly one model file/],
    [encryptCommand, ['--bogus'], /Unknown option/],
    [encryptCommand, ['model.onnx'], /exactly one of --key-file and --key-env/],
    [encryptCommand, ['model.onnx', '--key-file', 'k', '--key-env', 'K'], /exactly one of/],
    [encryptCommand, ['a.onnx', 'b.onnx', '--key-file', 'k'], /exactly one model file/],
    [encryptCommand, ['missing.onnx', '--key-file', 'k'], /cannot encrypt missing\.onnx/],
    [encryptCommand, ['model.onnx', '--key-file', 'nokey'], /cannot read key file nokey/],
    [encryptCommand, ['model.onnx', '--key-file', 'garbage.key'], /bad key file garbage\.key/],
    [encryptCommand, ['model.onnx', '--key-file', 'huge.key'], /larger than 4096 bytes/],
    [encryptCommand, ['model.onnx', '--key-env', 'K'], /bad environment variable K/],
    [encryptCommand, ['model.onnx', '--key-file', 'k', '--out', 'model.onnx'], /must differ/],
    [encryptCommand, ['enc', '--key-file', 'k', '--out', 'enc2'], /already an encrypted model/],
    [encryptCommand, ['--generate-key', 'k2', 'model.onnx'], /--generate-key takes one file/],
    [encryptCommand, ['--generate-key', 'k2', '--key-file', 'k'], /--generate-key takes one file/],
    [encryptCommand, ['--generate-key', 'nodir/k2'], /cannot write key file/],
    [decryptCommand, [], /exactly one encrypted model/],
    [decryptCommand, ['enc', '--key-file', 'k', '--out', ''], /--out is required/],
    [decryptCommand, ['enc', '--key-file', 'k', '--out', 'enc', '--force'], /must differ/],
    [decryptCommand, ['missing.enc', '--key-file', 'k', '--out', 'p'], /cannot decrypt missing/],
    [decryptCommand, ['enc', '--out', 'p'], /exactly one of --key-file and --key-env/],
    [decryptCommand, ['enc', '--key-file', 'k', '--out', 'nodir/p'], /cannot decrypt enc/],
  ];
  for (const [command, argv, message] of cases) {
    const { io: io2, err } = createIo(cwd, { K: 'x' });
    assert.equal(await command(argv, io2), 2, argv.join(' '));
    assert.equal(err.length, 1, argv.join(' '));
    assert.match(err[0] ?? '', message, argv.join(' '));
  }
  assert.deepEqual(
    (await readdir(cwd)).sort(),
    ['enc', 'garbage.key', 'huge.key', 'k', 'model.onnx'],
    'nothing written by a refused command',
  );
});
