// Edges of model verification that a loosened check would let through: the legacy (v0.2) PAE
// accepted only for legacy statements, the single-file "." names mapped only when the model is
// one file, and shard names of a single-file model. Real files, real ECDSA signatures; the
// legacy PAE bytes are written out here by hand (DSSEV1 and Python's repr of the payload), not
// built with the code under test.
import assert from 'node:assert/strict';
import { createHash, sign, type KeyObject } from 'node:crypto';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { maxBundleBytes } from '../../../src/models/oms/oms-bundle.js';
import { createKeyHint } from '../../../src/models/oms/signing-key.js';
import {
  verifyModelDirectory,
  verifyModelSignature,
} from '../../../src/models/oms/verify-model.js';
import { createKeyBundle, createTempModel, createTestKeys } from './oms-test-fixtures.js';
import { refusal } from './oms-refusal.js';

const keys = createTestKeys();
const payloadType = 'application/vnd.in-toto+json';
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

/** An OMS v1.0 `files` statement over `resources`, its subject digest computed here. */
function v1Statement(resources: { name: string; digest: string }[], method = 'files') {
  const subject = createHash('sha256');
  for (const r of resources) subject.update(Buffer.from(r.digest, 'hex'));
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'model', digest: { sha256: subject.digest('hex') } }],
    predicateType: 'https://model_signing/signature/v1.0',
    predicate: {
      resources: resources.map((r) => ({
        algorithm: method === 'files' ? 'sha256' : 'sha256-sharded',
        ...r,
      })),
      serialization:
        method === 'files'
          ? { method: 'files', hash_type: 'sha256', allow_symlinks: false }
          : { method: 'shards', hash_type: 'sha256', allow_symlinks: false, shard_size: 4 },
    },
  };
}

/** A `model_signing` v0.2 statement: one subject per file. */
function legacyStatement(files: Record<string, string>) {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: Object.entries(files).map(([name, content]) => ({
      name,
      digest: { sha256: sha(content) },
      annotations: { actual_hash_algorithm: 'file-sha256' },
    })),
    predicateType: 'https://model_signing/Digests/v0.1',
    predicate: {},
  };
}

/**
 * A key-mode bundle signed over the v0.2 encoding: `DSSEV1 <len> <type> <len> b'<payload>'`,
 * always hashed with SHA-256. The payload is compact JSON (no `'`, `\` or control bytes), so
 * Python's repr is just the text between `b'` and `'`.
 */
function legacyBundle(statement: unknown, key: KeyObject, publicKey: KeyObject): string {
  const payload = JSON.stringify(statement);
  assert.doesNotMatch(payload, /['\\\n]/);
  const pae = `DSSEV1 ${payloadType.length} ${payloadType} ${Buffer.byteLength(payload)} b'${payload}'`;
  const sig = sign('sha256', Buffer.from(pae), { key, dsaEncoding: 'der' });
  return JSON.stringify({
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { publicKey: { hint: createKeyHint(publicKey) }, tlogEntries: [] },
    dsseEnvelope: {
      payload: Buffer.from(payload).toString('base64'),
      payloadType,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    },
  });
}

async function modelWith(
  t: { after: (fn: () => Promise<void>) => void },
  files: Record<string, string>,
) {
  const model = await createTempModel(files);
  t.after(model.cleanup);
  return model.root;
}

const files = { 'model.onnx': 'weights', 'labels.txt': 'a\nb\n' };

test('a legacy statement signed with the legacy encoding verifies as legacy', async (t) => {
  const root = await modelWith(t, files);
  await writeFile(
    join(root, 'model.sig'),
    legacyBundle(legacyStatement(files), keys.privateKey, keys.publicKey),
  );
  const verified = await verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } });
  assert.equal(verified.legacyFormat, true);
  assert.equal(verified.serialization, 'files');
  assert.deepEqual([...verified.files.keys()].sort(), ['labels.txt', 'model.onnx']);
});

test('the legacy encoding hashes with SHA-256 whatever the curve', async (t) => {
  const p384 = createTestKeys('secp384r1');
  const root = await modelWith(t, files);
  await writeFile(
    join(root, 'model.sig'),
    legacyBundle(legacyStatement(files), p384.privateKey, p384.publicKey),
  );
  const verified = await verifyModelSignature({ root, trust: { keys: [p384.publicPem] } });
  assert.equal(verified.legacyFormat, true);
  assert.equal(verified.signer.method, 'key');
});

test('a legacy statement signed with the v1 encoding verifies too', async (t) => {
  const root = await modelWith(t, files);
  await writeFile(join(root, 'model.sig'), createKeyBundle(legacyStatement(files), keys));
  const verified = await verifyModelSignature({ root, trust: { keys: [keys.publicPem] } });
  assert.equal(verified.legacyFormat, true);
});

test('a v1.0 statement under the legacy encoding is a downgrade and is refused', async (t) => {
  const root = await modelWith(t, files);
  const statement = v1Statement(
    Object.entries(files).map(([name, content]) => ({ name, digest: sha(content) })),
  );
  // The same statement verifies with the v1 encoding: only the encoding is wrong below.
  await writeFile(join(root, 'model.sig'), createKeyBundle(statement, keys));
  const v1 = await verifyModelSignature({ root, trust: { keys: [keys.publicPem] } });
  assert.equal(v1.legacyFormat, false);
  await writeFile(
    join(root, 'model.sig'),
    legacyBundle(statement, keys.privateKey, keys.publicKey),
  );
  await assert.rejects(
    verifyModelSignature({ root, trust: { keys: [keys.publicPem] } }),
    refusal('bad-signature', 'legacy signature encoding is only accepted for legacy statements'),
  );
});

test('"." names the only file: an extra unsigned file beside it fails', async (t) => {
  // The signed file sorts last, so a "." mapped onto every file would end on its digest.
  const root = await modelWith(t, { 'a-unsigned.txt': 'not signed', 'model.onnx': 'weights' });
  await writeFile(
    join(root, 'model.sig'),
    createKeyBundle(v1Statement([{ name: '.', digest: sha('weights') }]), keys),
  );
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
    refusal('file-missing', 'signed file missing from the model: "."'),
  );
  // Alone in its folder (the signature excluded), the same file verifies under ".".
  const alone = await modelWith(t, { 'model.onnx': 'weights' });
  await writeFile(
    join(alone, 'model.sig'),
    createKeyBundle(v1Statement([{ name: '.', digest: sha('weights') }]), keys),
  );
  const verified = await verifyModelDirectory({ root: alone, trust: { keys: [keys.publicPem] } });
  assert.deepEqual([...verified.digests], [['model.onnx', sha('weights')]]);
});

test('"." with other names is not the single-file form', async (t) => {
  const root = await modelWith(t, { 'model.onnx': 'weights' });
  const statement = v1Statement([
    { name: '.', digest: sha('weights') },
    { name: 'other.bin', digest: sha('other') },
  ]);
  await writeFile(join(root, 'model.sig'), createKeyBundle(statement, keys));
  await assert.rejects(
    verifyModelSignature({ root, trust: { keys: [keys.publicPem] } }),
    refusal('file-missing', 'signed file missing from the model: ".", "other.bin"'),
  );
  // A real name for the one file is not turned into ".".
  await writeFile(
    join(root, 'model.sig'),
    createKeyBundle(v1Statement([{ name: 'model.onnx', digest: sha('weights') }]), keys),
  );
  const verified = await verifyModelSignature({ root, trust: { keys: [keys.publicPem] } });
  assert.deepEqual([...verified.digests.keys()], ['model.onnx']);
});

test('shards of a single-file model may be named ".:start:end"', async (t) => {
  const root = await modelWith(t, { 'w.bin': 'abcdefghij' });
  const shards = [
    { name: '.:0:4', digest: sha('abcd') },
    { name: '.:4:8', digest: sha('efgh') },
    { name: '.:8:10', digest: sha('ij') },
  ];
  await writeFile(join(root, 'model.sig'), createKeyBundle(v1Statement(shards, 'shards'), keys));
  const verified = await verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } });
  assert.equal(verified.serialization, 'shards');
  assert.equal(verified.files.get('w.bin')?.toString(), 'abcdefghij');
  // With a second file the "." shards no longer name anything.
  await writeFile(join(root, 'x.bin'), 'xyz');
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
    refusal('file-missing', 'signed shard missing from the model: ".:0:4", ".:4:8", ".:8:10"'),
  );
});

test('shards named by path in a one-file folder keep their path', async (t) => {
  const root = await modelWith(t, { 'w.bin': 'abcdef' });
  const shards = [
    { name: 'w.bin:0:4', digest: sha('abcd') },
    { name: 'w.bin:4:6', digest: sha('ef') },
  ];
  await writeFile(join(root, 'model.sig'), createKeyBundle(v1Statement(shards, 'shards'), keys));
  const verified = await verifyModelSignature({ root, trust: { keys: [keys.publicPem] } });
  assert.deepEqual([...verified.digests.keys()], ['w.bin']);
  // Mixing "." and path names is not the single-file form either.
  const mixed = [
    { name: '.:0:4', digest: sha('abcd') },
    { name: 'w.bin:4:6', digest: sha('ef') },
  ];
  await writeFile(join(root, 'model.sig'), createKeyBundle(v1Statement(mixed, 'shards'), keys));
  await assert.rejects(
    verifyModelSignature({ root, trust: { keys: [keys.publicPem] } }),
    refusal('file-missing', 'signed shard missing from the model: ".:0:4"'),
  );
});

test('an empty file cannot be covered by shard signatures', async (t) => {
  const root = await modelWith(t, { 'w.bin': 'abcd', 'empty.bin': '' });
  await writeFile(
    join(root, 'model.sig'),
    createKeyBundle(v1Statement([{ name: 'w.bin:0:4', digest: sha('abcd') }], 'shards'), keys),
  );
  await assert.rejects(
    verifyModelSignature({ root, trust: { keys: [keys.publicPem] } }),
    refusal('file-extra', 'model has an empty file "empty.bin" that shard signatures cannot cover'),
  );
});

test('a signature kept in a subfolder of the model is never taken for an unsigned file', async (t) => {
  // The statement does not list the signature among its ignored paths (only the reference
  // signer records it): the verifier must leave its own signature file out by itself, with the
  // folder separator kept in the path it excludes.
  const root = await modelWith(t, files);
  const statement = v1Statement(
    Object.entries(files).map(([name, content]) => ({ name, digest: sha(content) })),
  );
  await mkdir(join(root, 'meta'));
  await writeFile(join(root, 'meta', 'model.sig'), createKeyBundle(statement, keys));
  const verified = await verifyModelSignature({
    root,
    signatureFile: 'meta/model.sig',
    trust: { keys: [keys.publicPem] },
  });
  assert.deepEqual([...verified.digests.keys()].sort(), ['labels.txt', 'model.onnx']);
  // Another file in that subfolder is still an unsigned extra file.
  await writeFile(join(root, 'meta', 'notes.txt'), 'unsigned');
  await assert.rejects(
    verifyModelSignature({
      root,
      signatureFile: 'meta/model.sig',
      trust: { keys: [keys.publicPem] },
    }),
    refusal('file-extra'),
  );
});

test('a signature file of exactly the size limit is read; one byte more is refused unread', async (t) => {
  const root = await modelWith(t, files);
  const path = join(root, 'model.sig');
  await writeFile(path, '');
  await truncate(path, maxBundleBytes); // sparse: 16 MiB of zero bytes, not valid JSON
  await assert.rejects(
    verifyModelSignature({ root, trust: { keys: [keys.publicPem] } }),
    refusal('bundle-malformed', 'signature bundle is not valid JSON'),
  );
  await truncate(path, maxBundleBytes + 1);
  await assert.rejects(
    verifyModelSignature({ root, trust: { keys: [keys.publicPem] } }),
    refusal('bundle-malformed', 'signature file is too large'),
  );
});

test('a signature path the file system refuses for another reason than absence passes through', async (t) => {
  // ENOENT means "unsigned" (bundle-malformed); any other error (here ENAMETOOLONG) is the
  // operator's file system problem and is not reworded as a missing signature.
  const root = await modelWith(t, files);
  await assert.rejects(
    verifyModelSignature({
      root,
      signatureFile: 'x'.repeat(300),
      trust: { keys: [keys.publicPem] },
    }),
    (error: NodeJS.ErrnoException) => {
      assert.equal(error.code, 'ENAMETOOLONG');
      return true;
    },
  );
  await assert.rejects(
    verifyModelSignature({ root, signatureFile: 'absent.sig', trust: { keys: [keys.publicPem] } }),
    refusal('bundle-malformed', 'signature file absent.sig not found; the model is unsigned'),
  );
});
