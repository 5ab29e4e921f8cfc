import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createKeyHint } from '../../../src/models/oms/signing-key.js';
import { signModelDirectory } from '../../../src/models/oms/sign-model.js';
import { createTempModel, createTestKeys, vectorsRoot } from './oms-test-fixtures.js';
import { refusal } from './oms-refusal.js';

interface Layout {
  [key: string]: Layout | string;
}

/** The shape of a JSON value: keys in order, leaves replaced by their type. */
function layout(value: unknown): Layout | string {
  if (Array.isArray(value)) return value.length > 0 ? { '[]': layout(value[0]) } : '[]';
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, layout(v)]));
  }
  return typeof value;
}

function decode(bundleJson: string): { bundle: unknown; statement: unknown } {
  const bundle = JSON.parse(bundleJson) as { dsseEnvelope: { payload: string } };
  const statement: unknown = JSON.parse(
    Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString(),
  );
  return { bundle, statement };
}

test('signed bundle: hint, compact JSON, sorted resources, recorded ignore paths', async (t) => {
  const keys = createTestKeys();
  const model = await createTempModel({
    'b.onnx': 'b',
    'a/z.bin': 'z',
    'ignore-me': '',
    '.git/x': 'x',
  });
  t.after(model.cleanup);
  const signed = await signModelDirectory({
    root: model.root,
    privateKeyPem: keys.privatePem,
    ignorePaths: ['ignore-me'],
  });
  assert.equal(await readFile(join(model.root, 'model.sig'), 'utf8'), signed.bundleJson);
  const { bundle, statement } = decode(signed.bundleJson);
  const b = bundle as { verificationMaterial: { publicKey: { hint: string } } };
  assert.equal(b.verificationMaterial.publicKey.hint, createKeyHint(keys.publicKey));
  const s = statement as {
    subject: { name: string }[];
    predicate: { resources: { name: string }[]; serialization: { ignore_paths: string[] } };
  };
  assert.equal(s.subject[0]?.name, 'model');
  assert.deepEqual(
    s.predicate.resources.map((r) => r.name),
    ['a/z.bin', 'b.onnx'],
  );
  assert.ok(s.predicate.serialization.ignore_paths.includes('ignore-me'));
  assert.ok(s.predicate.serialization.ignore_paths.includes('model.sig'));
});

test('an empty model is not signed', async (t) => {
  const keys = createTestKeys();
  const model = await createTempModel({ '.gitignore': 'x' });
  t.after(model.cleanup);
  await assert.rejects(
    signModelDirectory({ root: model.root, privateKeyPem: keys.privatePem }),
    refusal('statement-invalid', 'model has no files to sign'),
  );
  assert.equal(existsSync(join(model.root, 'model.sig')), false);
});

test('a public key given as the signing key is refused before the model is read', async (t) => {
  // An empty model would be refused as such once read: the key's error coming first shows the
  // key is parsed as a private key up front, not only when the statement is signed.
  const keys = createTestKeys();
  const model = await createTempModel({ '.gitignore': 'x' });
  t.after(model.cleanup);
  await assert.rejects(signModelDirectory({ root: model.root, privateKeyPem: keys.publicPem }), {
    code: 'ERR_OSSL_UNSUPPORTED',
  });
  assert.equal(existsSync(join(model.root, 'model.sig')), false);
});

test('a KeyObject signs like its PEM', async (t) => {
  const keys = createTestKeys();
  const model = await createTempModel({ 'm.onnx': 'weights' });
  t.after(model.cleanup);
  const fromPem = await signModelDirectory({ root: model.root, privateKeyPem: keys.privatePem });
  const fromKey = await signModelDirectory({ root: model.root, privateKeyPem: keys.privateKey });
  const payloadOf = (json: string) =>
    (JSON.parse(json) as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload;
  assert.equal(payloadOf(fromKey.bundleJson), payloadOf(fromPem.bundleJson));
  assert.deepEqual(fromKey.digests, fromPem.digests);
});

const reference = join(vectorsRoot, 'model-transparency/v1.1.0-elliptic-key/model.sig');
test(
  'signed bundle has the reference tool layout (v1.1.0 key mode)',
  { skip: existsSync(reference) ? false : `reference bundle not found at ${reference}` },
  async (t) => {
    const keys = createTestKeys();
    const model = await createTempModel({ 'signme-1': 'a', 'signme-2': 'b' });
    t.after(model.cleanup);
    const signed = await signModelDirectory({ root: model.root, privateKeyPem: keys.privatePem });
    const ours = decode(signed.bundleJson);
    const theirs = decode(await readFile(reference, 'utf8'));
    assert.deepEqual(layout(ours.bundle), layout(theirs.bundle));
    assert.deepEqual(layout(ours.statement), layout(theirs.statement));
    assert.deepEqual(
      Object.keys(JSON.parse(signed.bundleJson) as object),
      Object.keys(JSON.parse(await readFile(reference, 'utf8')) as object),
    );
  },
);
