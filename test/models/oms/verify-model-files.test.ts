// How the model verifier finds and reads the signature file and which files it then requires:
// the signature's location (relative to the folder, or to a single file's folder), every refusal
// of the signature file by exact message, and which paths are left out (the signature itself when
// inside the model, the statement's and the caller's ignore paths). Real files and signatures.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, open, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { maxBundleBytes } from '../../../src/models/oms/oms-bundle.js';
import { signModelDirectory } from '../../../src/models/oms/sign-model.js';
import {
  verifyModelDirectory,
  verifyModelSignature,
} from '../../../src/models/oms/verify-model.js';
import { refusal } from './oms-refusal.js';
import { createKeyBundle, createTempModel, createTestKeys } from './oms-test-fixtures.js';

const keys = createTestKeys();
const trust = { keys: [keys.publicPem] };
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

async function model(
  t: { after: (fn: () => Promise<void>) => void },
  files: Record<string, string>,
) {
  const m = await createTempModel(files);
  t.after(m.cleanup);
  return m.root;
}

test('a missing signature says the model is unsigned, naming the file', async (t) => {
  const root = await model(t, { 'm.onnx': 'w' });
  await assert.rejects(
    verifyModelDirectory({ root, trust }),
    refusal('bundle-malformed', 'signature file model.sig not found; the model is unsigned'),
  );
  await assert.rejects(
    verifyModelDirectory({ root, trust, signatureFile: 'other.sig' }),
    refusal('bundle-malformed', 'signature file other.sig not found; the model is unsigned'),
  );
});

test('the signature file must be a regular file of at most 16 MiB', async (t) => {
  const root = await model(t, { 'm.onnx': 'w' });
  await mkdir(join(root, 'model.sig'));
  await assert.rejects(
    verifyModelDirectory({ root, trust }),
    refusal('special-file', 'signature file is not a regular file'),
  );
  const other = await model(t, { 'm.onnx': 'w' });
  await signModelDirectory({
    root: other,
    privateKeyPem: keys.privatePem,
    signatureFile: join(other, '..', 'real.sig'),
  });
  await symlink(join(other, '..', 'real.sig'), join(other, 'model.sig'));
  await assert.rejects(
    verifyModelDirectory({ root: other, trust }),
    refusal('symlink', 'signature file is a symlink'),
  );
  const big = await model(t, { 'm.onnx': 'w' });
  const handle = await open(join(big, 'model.sig'), 'w');
  await handle.truncate(maxBundleBytes + 1);
  await handle.close();
  await assert.rejects(
    verifyModelDirectory({ root: big, trust }),
    refusal('bundle-malformed', 'signature file is too large'),
  );
});

test('a model path that is a symlink is refused', async (t) => {
  const root = await model(t, { 'm.onnx': 'w' });
  await signModelDirectory({ root, privateKeyPem: keys.privatePem });
  const link = join(root, '..', 'link');
  await symlink(root, link);
  await assert.rejects(
    verifyModelDirectory({ root: link, trust }),
    refusal('symlink', 'model path is a symlink'),
  );
  await assert.rejects(verifyModelDirectory({ root: join(root, '..', 'absent'), trust }), {
    code: 'ENOENT',
  });
});

test('a relative signature path is taken from the model folder, or from a single file’s folder', async (t) => {
  const root = await model(t, { 'm.onnx': 'w', 'sigs/.keep': '' });
  await signModelDirectory({
    root,
    privateKeyPem: keys.privatePem,
    signatureFile: 'sigs/m.sig',
    ignorePaths: ['sigs/.keep'],
  });
  const inFolder = await verifyModelSignature({
    root,
    trust,
    signatureFile: 'sigs/m.sig',
    ignorePaths: ['sigs/.keep'],
  });
  assert.equal(inFolder.signaturePath, join(root, 'sigs', 'm.sig'));
  // The signature inside the model is left out of it, at its own path.
  assert.deepEqual([...inFolder.digests.keys()], ['m.onnx']);

  const file = join(root, 'm.onnx');
  await writeFile(join(root, 'single.sig'), createKeyBundle(statementOf([['.', 'w']]), keys));
  const single = await verifyModelDirectory({ root: file, trust, signatureFile: 'single.sig' });
  assert.equal(single.signaturePath, join(root, 'single.sig'));
  assert.deepEqual([...single.files.keys()], ['m.onnx']);
  assert.equal(single.files.get('m.onnx')?.toString(), 'w');
});

test('the statement’s ignore paths and the caller’s are both left out; nothing else is', async (t) => {
  const root = await model(t, {
    'm.onnx': 'w',
    'notes.txt': 'n',
    'cache/x.bin': 'x',
    'extra.txt': 'e',
  });
  const statement = statementOf([['m.onnx', 'w']], ['notes.txt', 'cache']);
  await writeFile(join(root, 'model.sig'), createKeyBundle(statement, keys));
  await assert.rejects(
    verifyModelDirectory({ root, trust }),
    refusal('file-extra', 'model has unsigned files: "extra.txt"'),
  );
  const verified = await verifyModelDirectory({ root, trust, ignorePaths: ['extra.txt'] });
  assert.deepEqual([...verified.files.keys()], ['m.onnx']);
  assert.deepEqual([...verified.digests], [['m.onnx', sha('w')]]);
  assert.equal(verified.legacyFormat, false);
  assert.equal(verified.serialization, 'files');
  // The streaming check keeps no bytes.
  const streamed = await verifyModelSignature({ root, trust, ignorePaths: ['extra.txt'] });
  assert.equal('files' in streamed, false);
  assert.equal(streamed.signaturePath, join(root, 'model.sig'));
});

/** An OMS v1.0 files statement over (name, content) pairs, with recorded ignore paths. */
function statementOf(files: [string, string][], ignorePaths?: string[]) {
  const subject = createHash('sha256');
  for (const [, content] of files) subject.update(Buffer.from(sha(content), 'hex'));
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'model', digest: { sha256: subject.digest('hex') } }],
    predicateType: 'https://model_signing/signature/v1.0',
    predicate: {
      resources: files.map(([name, content]) => ({
        algorithm: 'sha256',
        name,
        digest: sha(content),
      })),
      serialization: {
        method: 'files',
        hash_type: 'sha256',
        allow_symlinks: false,
        ...(ignorePaths === undefined ? {} : { ignore_paths: ignorePaths }),
      },
    },
  };
}
