import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { isOmsVerificationError } from '../../../src/models/oms/oms-verification-error.js';
import { signModelDirectory } from '../../../src/models/oms/sign-model.js';
import {
  verifyModelDirectory,
  verifyModelSignature,
} from '../../../src/models/oms/verify-model.js';
import { createKeyBundle, createTempModel, createTestKeys } from './oms-test-fixtures.js';

const keys = createTestKeys();
const files = { 'model.onnx': 'onnx bytes', 'policy.yaml': 'inputs: {}\n', 'sub/extra.bin': 'x' };

function rejectsWith(reason: string) {
  return (error: unknown): boolean => {
    assert.ok(isOmsVerificationError(error), `expected OmsVerificationError, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.ok(!error.message.includes('\n'));
    return true;
  };
}

async function signedModel(t: { after: (fn: () => Promise<void>) => void }) {
  const model = await createTempModel(files);
  t.after(model.cleanup);
  await signModelDirectory({ root: model.root, privateKeyPem: keys.privatePem });
  return model.root;
}

function statementFor(resources: { name: string; digest: string }[], extra: object = {}) {
  const subject = createHash('sha256');
  for (const r of resources) subject.update(Buffer.from(r.digest, 'hex'));
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'model', digest: { sha256: subject.digest('hex') } }],
    predicateType: 'https://model_signing/signature/v1.0',
    predicate: {
      resources: resources.map((r) => ({ algorithm: 'sha256', ...r })),
      serialization: { method: 'files', hash_type: 'sha256', allow_symlinks: false },
    },
    ...extra,
  };
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

test('round trip: signed folder verifies and returns the hashed bytes', async (t) => {
  const root = await signedModel(t);
  const verified = await verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } });
  assert.deepEqual([...verified.files.keys()].sort(), Object.keys(files).sort());
  assert.equal(verified.files.get('model.onnx')?.toString(), 'onnx bytes');
  assert.equal(verified.signer.method, 'key');
  assert.equal(verified.serialization, 'files');
  const streamed = await verifyModelSignature({ root, trust: { keys: [keys.publicKey] } });
  assert.deepEqual(streamed.digests, verified.digests);
});

test('P-384 and P-521 keys sign and verify with their curve hash', async (t) => {
  for (const curve of ['secp384r1', 'secp521r1']) {
    const k = createTestKeys(curve);
    const model = await createTempModel(files);
    t.after(model.cleanup);
    await signModelDirectory({ root: model.root, privateKeyPem: k.privatePem });
    const result = await verifyModelSignature({ root: model.root, trust: { keys: [k.publicPem] } });
    assert.equal(result.signer.method, 'key');
  }
});

test('the hint orders keys but a second trusted key still verifies', async (t) => {
  const root = await signedModel(t);
  const other = createTestKeys();
  const result = await verifyModelSignature({
    root,
    trust: { keys: [other.publicPem, `header text\n${keys.publicPem}`] },
  });
  assert.deepEqual(result.signer.method === 'key' && result.signer.keyIndex, 1);
});

test('refuses one flipped byte', async (t) => {
  const root = await signedModel(t);
  await writeFile(join(root, 'model.onnx'), 'onnx bytez');
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('digest-mismatch'),
  );
});

test('refuses an extra file, also in a sub-folder', async (t) => {
  const root = await signedModel(t);
  await writeFile(join(root, 'sub', 'evil.onnx'), 'x');
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('file-extra'),
  );
});

test('refuses a missing file', async (t) => {
  const root = await signedModel(t);
  await rm(join(root, 'policy.yaml'));
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('file-missing'),
  );
});

test('refuses an untrusted key and an empty trust list', async (t) => {
  const root = await signedModel(t);
  const other = createTestKeys();
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [other.publicPem] } }),
    rejectsWith('untrusted-key'),
  );
  await assert.rejects(verifyModelDirectory({ root, trust: {} }), rejectsWith('untrusted-key'));
});

test('refuses a forged signature even when the hint matches', async (t) => {
  const root = await signedModel(t);
  const bundle = JSON.parse(await readFile(join(root, 'model.sig'), 'utf8')) as {
    dsseEnvelope: { payload: string };
  };
  const statement = JSON.parse(
    Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString(),
  ) as object;
  bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  await writeFile(join(root, 'model.sig'), JSON.stringify(bundle));
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('bad-signature'),
  );
});

test('refuses a model with no signature', async (t) => {
  const model = await createTempModel(files);
  t.after(model.cleanup);
  await assert.rejects(
    verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('bundle-malformed'),
  );
});

test('refuses malformed bundles', async (t) => {
  const root = await signedModel(t);
  const good = JSON.parse(await readFile(join(root, 'model.sig'), 'utf8')) as Record<
    string,
    unknown
  >;
  const env = good.dsseEnvelope as Record<string, unknown>;
  const cases: [string, string][] = [
    ['', 'bundle-malformed'],
    ['{"truncated": ', 'bundle-malformed'],
    ['[]', 'bundle-malformed'],
    [JSON.stringify({ ...good, mediaType: 'application/json' }), 'media-type'],
    [JSON.stringify({ ...good, dsseEnvelope: undefined }), 'bundle-malformed'],
    [JSON.stringify({ ...good, verificationMaterial: undefined }), 'bundle-malformed'],
    [
      JSON.stringify({ ...good, dsseEnvelope: { ...env, payloadType: 'application/json' } }),
      'payload-type',
    ],
    [JSON.stringify({ ...good, dsseEnvelope: { ...env, signatures: [] } }), 'signature-count'],
    [
      JSON.stringify({
        ...good,
        dsseEnvelope: { ...env, signatures: [env.signatures, env.signatures].flat() },
      }),
      'signature-count',
    ],
    [
      JSON.stringify({ ...good, dsseEnvelope: { ...env, payload: '!!not base64' } }),
      'bundle-malformed',
    ],
  ];
  for (const [text, reason] of cases) {
    await writeFile(join(root, 'model.sig'), text);
    await assert.rejects(
      verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
      rejectsWith(reason),
      text.slice(0, 80),
    );
  }
});

test('refuses a symlinked file and a symlinked signature', async (t) => {
  const root = await signedModel(t);
  await rm(join(root, 'policy.yaml'));
  await writeFile(join(root, '..', 'outside.yaml'), 'inputs: {}\n');
  await symlink(join(root, '..', 'outside.yaml'), join(root, 'policy.yaml'));
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('symlink'),
  );
});

test('refuses a special file', async (t) => {
  const root = await signedModel(t);
  const server = createServer();
  await new Promise<void>((done) => server.listen(join(root, 'sock'), done));
  t.after(
    () =>
      new Promise<void>((done) =>
        server.close(() => {
          done();
        }),
      ),
  );
  await assert.rejects(
    verifyModelDirectory({ root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('special-file'),
  );
});

test('refuses unsafe resource names', async (t) => {
  const model = await createTempModel({ a: 'a' });
  t.after(model.cleanup);
  for (const name of ['../a', 'x/../a', '/etc/passwd', '', 'a\\b', 'a\0b', 'a//b', './a']) {
    const bundle = createKeyBundle(statementFor([{ name, digest: sha('a') }]), keys);
    await writeFile(join(model.root, 'model.sig'), bundle);
    await assert.rejects(
      verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } }),
      rejectsWith('resource-name'),
      name,
    );
  }
  const dup = statementFor([
    { name: 'a', digest: sha('a') },
    { name: 'a', digest: sha('a') },
  ]);
  await writeFile(join(model.root, 'model.sig'), createKeyBundle(dup, keys));
  await assert.rejects(
    verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('resource-name'),
  );
});

test('refuses bad statements', async (t) => {
  const model = await createTempModel({ a: 'a' });
  t.after(model.cleanup);
  const good = statementFor([{ name: 'a', digest: sha('a') }]);
  const cases: [object, string][] = [
    [{ ...good, predicateType: 'https://example.com/wrong' }, 'predicate-type'],
    [{ ...good, _type: 'https://in-toto.io/Statement/v0.1' }, 'statement-invalid'],
    [{ ...good, subject: [] }, 'statement-invalid'],
    [{ ...good, subject: [good.subject[0], good.subject[0]] }, 'statement-invalid'],
    [{ ...good, subject: [{ name: 'm', digest: { sha256: sha('nope') } }] }, 'subject-digest'],
    [{ ...good, predicate: undefined }, 'statement-invalid'],
    [{ ...good, predicate: { ...good.predicate, resources: [] } }, 'statement-invalid'],
    [
      {
        ...good,
        predicate: { ...good.predicate, serialization: { method: 'files', hash_type: 'blake3' } },
      },
      'unsupported',
    ],
  ];
  for (const [statement, reason] of cases) {
    await writeFile(join(model.root, 'model.sig'), createKeyBundle(statement, keys));
    await assert.rejects(
      verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } }),
      rejectsWith(reason),
      reason,
    );
  }
  await writeFile(join(model.root, 'model.sig'), createKeyBundle(good, keys));
  const ok = await verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } });
  assert.equal(ok.files.get('a')?.toString(), 'a');
});

test('exclusions: defaults, recorded and caller paths match by path or folder, never basename', async (t) => {
  const model = await createTempModel({
    'a.onnx': 'a',
    '.git/HEAD': 'ref',
    '.gitignore': 'x',
    'cache/tmp.bin': 'c',
    'deep/cache': 'signed',
  });
  t.after(model.cleanup);
  await signModelDirectory({
    root: model.root,
    privateKeyPem: keys.privatePem,
    ignorePaths: ['cache'],
  });
  await writeFile(join(model.root, 'cache', 'more.bin'), 'more');
  const verified = await verifyModelDirectory({
    root: model.root,
    trust: { keys: [keys.publicPem] },
  });
  assert.deepEqual([...verified.files.keys()].sort(), ['a.onnx', 'deep/cache']);
  // Caller ignore paths apply to bundles that recorded none.
  await writeFile(join(model.root, 'unsigned.txt'), 'u');
  await assert.rejects(
    verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('file-extra'),
  );
  await verifyModelDirectory({
    root: model.root,
    trust: { keys: [keys.publicPem] },
    ignorePaths: ['unsigned.txt'],
  });
});

test('single-file models accept "." and the basename, and "." in a one-file folder', async (t) => {
  const model = await createTempModel({ 'm.onnx': 'weights' });
  t.after(model.cleanup);
  const file = join(model.root, 'm.onnx');
  for (const name of ['.', 'm.onnx']) {
    const sigPath = join(model.root, '..', 'm.sig');
    await writeFile(
      sigPath,
      createKeyBundle(statementFor([{ name, digest: sha('weights') }]), keys),
    );
    const verified = await verifyModelDirectory({
      root: file,
      signatureFile: sigPath,
      trust: { keys: [keys.publicPem] },
    });
    assert.deepEqual([...verified.files.keys()], ['m.onnx']);
  }
  await writeFile(
    join(model.root, 'model.sig'),
    createKeyBundle(statementFor([{ name: '.', digest: sha('weights') }]), keys),
  );
  const inFolder = await verifyModelDirectory({
    root: model.root,
    trust: { keys: [keys.publicPem] },
  });
  assert.deepEqual([...inFolder.files.keys()], ['m.onnx']);
});

test('shards serialization verifies and refuses a changed shard', async (t) => {
  const content = 'abcdefghij';
  const model = await createTempModel({ 'w.bin': content, 'x.bin': 'xyz' });
  t.after(model.cleanup);
  const resources = [
    { name: 'w.bin:0:4', digest: sha('abcd') },
    { name: 'w.bin:4:8', digest: sha('efgh') },
    { name: 'w.bin:8:10', digest: sha('ij') },
    { name: 'x.bin:0:3', digest: sha('xyz') },
  ].map((r) => ({ ...r, algorithm: 'sha256-sharded-4' }));
  const statement = statementFor(resources);
  statement.predicate.serialization = {
    method: 'shards',
    hash_type: 'sha256',
    allow_symlinks: false,
    shard_size: 4,
  } as never;
  statement.predicate.resources = resources;
  await writeFile(join(model.root, 'model.sig'), createKeyBundle(statement, keys));
  const ok = await verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } });
  assert.equal(ok.serialization, 'shards');
  assert.equal(ok.files.get('w.bin')?.toString(), content);
  await writeFile(join(model.root, 'w.bin'), 'abcdefgXij');
  await assert.rejects(
    verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('digest-mismatch'),
  );
  await writeFile(join(model.root, 'w.bin'), content);
  await writeFile(join(model.root, 'empty'), '');
  await assert.rejects(
    verifyModelDirectory({ root: model.root, trust: { keys: [keys.publicPem] } }),
    rejectsWith('file-extra'),
  );
});

test('a signature file placed elsewhere is not part of the model', async (t) => {
  const model = await createTempModel(files);
  t.after(model.cleanup);
  const sigPath = join(model.root, '..', 'elsewhere.sig');
  await signModelDirectory({
    root: model.root,
    privateKeyPem: keys.privatePem,
    signatureFile: sigPath,
  });
  await verifyModelDirectory({
    root: model.root,
    signatureFile: sigPath,
    trust: { keys: [keys.publicPem] },
  });
  // An empty folder holds no file, so it is neither signed nor extra.
  await mkdir(join(model.root, 'nested'));
  const verified = await verifyModelSignature({
    root: model.root,
    signatureFile: sigPath,
    trust: { keys: [keys.publicPem] },
  });
  assert.equal(verified.digests.size, 3);
});
