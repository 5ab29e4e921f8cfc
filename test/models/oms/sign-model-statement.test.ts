// The signer's output pinned byte for byte: the statement it signs (written out here from the
// files' own digests), the ignore paths it records, the resource order (UTF-8 byte order, not
// JavaScript's UTF-16 sort), the bundle around it, and a signature checked with node:crypto over
// a PAE written by hand.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createKeyHint } from '../../../src/models/oms/signing-key.js';
import { signModelDirectory } from '../../../src/models/oms/sign-model.js';
import { createTempModel, createTestKeys } from './oms-test-fixtures.js';
import { refusal } from './oms-refusal.js';

const sha = (data: string): string => createHash('sha256').update(data).digest('hex');
const type = 'application/vnd.in-toto+json';

/** The statement the reference tool would sign for `files` (name → content), in this order. */
function expectedStatement(subject: string, files: [string, string][], ignorePaths: string[]) {
  const root = createHash('sha256');
  for (const [, content] of files) root.update(Buffer.from(sha(content), 'hex'));
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: subject, digest: { sha256: root.digest('hex') } }],
    predicateType: 'https://model_signing/signature/v1.0',
    predicate: {
      resources: files.map(([name, content]) => ({
        algorithm: 'sha256',
        name,
        digest: sha(content),
      })),
      serialization: {
        allow_symlinks: false,
        method: 'files',
        hash_type: 'sha256',
        ignore_paths: ignorePaths,
      },
    },
  };
}

interface Bundle {
  mediaType: string;
  verificationMaterial: { publicKey: { hint: string }; tlogEntries: unknown[] };
  dsseEnvelope: {
    payload: string;
    payloadType: string;
    signatures: { sig: string; keyid: string }[];
  };
}

test('the statement and bundle, exactly, with a verifying P-384 signature', async (t) => {
  const keys = createTestKeys('secp384r1');
  const files = { 'b.onnx': 'bee', 'a/z.bin': 'zed', 'extra/skip.txt': 's', '.git/HEAD': 'ref' };
  const model = await createTempModel(files);
  t.after(model.cleanup);
  const signed = await signModelDirectory({
    root: model.root,
    privateKeyPem: keys.privatePem,
    ignorePaths: ['./extra/', 'extra', '/abs/path', '../up', '.gitignore'],
  });
  assert.equal(signed.signaturePath, join(model.root, 'model.sig'));
  assert.equal(await readFile(signed.signaturePath, 'utf8'), signed.bundleJson);
  assert.deepEqual(
    [...signed.digests],
    [
      ['a/z.bin', sha('zed')],
      ['b.onnx', sha('bee')],
    ],
  );

  const bundle = JSON.parse(signed.bundleJson) as Bundle;
  const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
  const statement = expectedStatement(
    'model',
    [
      ['a/z.bin', 'zed'],
      ['b.onnx', 'bee'],
    ],
    ['.git', '.gitattributes', '.github', '.gitignore', 'model.sig', 'extra'],
  );
  // Pretty-printed with two spaces, keys in this order, as the reference tool writes it.
  assert.equal(payload.toString('utf8'), JSON.stringify(statement, null, 2));
  const sig = bundle.dsseEnvelope.signatures[0]?.sig ?? '';
  assert.deepEqual(bundle, {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: createKeyHint(keys.publicKey) }, tlogEntries: [] },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: type,
      signatures: [{ sig, keyid: '' }],
    },
  });
  assert.equal(signed.bundleJson, JSON.stringify(bundle), 'compact JSON');
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} ${type} ${payload.length} `),
    payload,
  ]);
  const checks = (hash: string) =>
    verify(hash, pae, { key: keys.publicKey, dsaEncoding: 'der' }, Buffer.from(sig, 'base64'));
  assert.equal(checks('sha384'), true, 'signed with SHA-384 for P-384');
  assert.equal(checks('sha256'), false);
});

test('resources are ordered by UTF-8 bytes, not by UTF-16 code units', async (t) => {
  const keys = createTestKeys();
  // U+FF5A sorts after U+1F600 in UTF-16 (0xFF5A > 0xD83D) but before it in UTF-8 (EF < F0).
  const model = await createTempModel({
    '\u{1F600}.bin': 'emoji',
    '\uFF5A.bin': 'wide',
    'a.bin': 'a',
  });
  t.after(model.cleanup);
  const signed = await signModelDirectory({ root: model.root, privateKeyPem: keys.privateKey });
  assert.deepEqual([...signed.digests.keys()], ['a.bin', '\uFF5A.bin', '\u{1F600}.bin']);
  const bundle = JSON.parse(signed.bundleJson) as Bundle;
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString()) as {
    subject: { digest: { sha256: string } }[];
  };
  const expected = expectedStatement(
    'model',
    [
      ['a.bin', 'a'],
      ['\uFF5A.bin', 'wide'],
      ['\u{1F600}.bin', 'emoji'],
    ],
    [],
  );
  assert.equal(statement.subject[0]?.digest.sha256, expected.subject[0]?.digest.sha256);
});

test('a signature written elsewhere is not recorded as ignored; a single file is named alone', async (t) => {
  const keys = createTestKeys();
  const model = await createTempModel({ 'm.onnx': 'weights' });
  t.after(model.cleanup);
  const elsewhere = join(model.root, '..', 'm.sig');
  const signed = await signModelDirectory({
    root: model.root,
    privateKeyPem: keys.privatePem,
    signatureFile: elsewhere,
  });
  assert.equal(signed.signaturePath, elsewhere);
  const read = (json: string) =>
    JSON.parse(
      Buffer.from((JSON.parse(json) as Bundle).dsseEnvelope.payload, 'base64').toString(),
    ) as unknown;
  assert.deepEqual(
    read(signed.bundleJson),
    expectedStatement(
      'model',
      [['m.onnx', 'weights']],
      ['.git', '.gitattributes', '.github', '.gitignore'],
    ),
  );

  // The model as one file: its signature goes beside it and it is the only resource.
  const single = await signModelDirectory({
    root: join(model.root, 'm.onnx'),
    privateKeyPem: keys.privatePem,
  });
  assert.equal(single.signaturePath, join(model.root, 'model.sig'));
  assert.deepEqual(
    read(single.bundleJson),
    expectedStatement(
      'm.onnx',
      [['m.onnx', 'weights']],
      ['.git', '.gitattributes', '.github', '.gitignore'],
    ),
  );
  assert.deepEqual([...single.digests.keys()], ['m.onnx']);
});

test('refusals: no files, an unsafe file name, a key of another type', async (t) => {
  const keys = createTestKeys();
  const empty = await createTempModel({ '.gitignore': 'x', 'model.sig': 'old' });
  t.after(empty.cleanup);
  await assert.rejects(
    signModelDirectory({ root: empty.root, privateKeyPem: keys.privatePem }),
    refusal('statement-invalid', 'model has no files to sign'),
  );
  const odd = await createTempModel({ 'ok.bin': 'x' });
  t.after(odd.cleanup);
  await writeFile(join(odd.root, 'back\\slash'), 'y');
  await assert.rejects(
    signModelDirectory({ root: odd.root, privateKeyPem: keys.privatePem }),
    refusal(
      'resource-name',
      'signature lists an unsafe resource name "back\\\\slash": it contains a backslash',
    ),
  );
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  await assert.rejects(
    signModelDirectory({ root: odd.root, privateKeyPem: rsa }),
    refusal('unsupported', 'signing key must be ECDSA P-256, P-384 or P-521'),
  );
});
