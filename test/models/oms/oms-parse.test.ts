// Unit tests of the two OMS parsers that read untrusted bytes: the Sigstore bundle (model.sig)
// and the signed in-toto statement. Table-driven, each refusal by reason AND exact message, since
// the message is the one line an operator reads to fix the signature.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  bundleMediaType,
  inTotoPayloadType,
  maxBundleBytes,
  parseOmsBundle,
} from '../../../src/models/oms/oms-bundle.js';
import {
  legacyPredicateType,
  omsPredicateType,
  parseOmsStatement,
  statementType,
} from '../../../src/models/oms/oms-statement.js';
import { refusal } from './oms-refusal.js';

const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64');

void describe('the constants', () => {
  void it('are the Sigstore v0.3 bundle and in-toto media types, and 16 MiB', () => {
    assert.equal(bundleMediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(inTotoPayloadType, 'application/vnd.in-toto+json');
    assert.equal(maxBundleBytes, 16 * 1024 * 1024);
    assert.equal(statementType, 'https://in-toto.io/Statement/v1');
    assert.equal(omsPredicateType, 'https://model_signing/signature/v1.0');
    assert.equal(legacyPredicateType, 'https://model_signing/Digests/v0.1');
  });
});

void describe('parseOmsBundle', () => {
  const envelope = {
    payload: b64('{"a":1}'),
    payloadType: inTotoPayloadType,
    signatures: [{ sig: b64('sig') }],
  };
  const bundle = (patch: Record<string, unknown> = {}) => ({
    mediaType: bundleMediaType,
    verificationMaterial: { publicKey: { hint: 'abc' } },
    dsseEnvelope: envelope,
    ...patch,
  });
  const parse = (value: unknown) =>
    parseOmsBundle(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

  void it('reads the key hint, payload and signature', () => {
    const parsed = parse(bundle());
    assert.deepEqual(parsed.material, { kind: 'public-key', hint: 'abc' });
    assert.equal(parsed.payloadType, inTotoPayloadType);
    assert.equal(parsed.payload.toString(), '{"a":1}');
    assert.equal(parsed.signature.toString(), 'sig');
  });

  void it('an empty, null or absent hint is no hint; a bundle key (rawBytes) is ignored', () => {
    for (const publicKey of [
      { hint: '' },
      { hint: null },
      {},
      { rawBytes: b64('key'), hint: '' },
    ]) {
      assert.deepEqual(parse(bundle({ verificationMaterial: { publicKey } })).material, {
        kind: 'public-key',
        hint: undefined,
      });
    }
  });

  void it('reads a certificate chain in order, and hands a keyless bundle on whole', () => {
    const chain = parse(
      bundle({
        verificationMaterial: {
          x509CertificateChain: {
            certificates: [{ rawBytes: b64('leaf') }, { rawBytes: b64('ca') }],
          },
        },
      }),
    );
    assert.ok(
      chain.material.kind === 'certificate-chain',
      "chain.material.kind === 'certificate-chain'",
    );
    assert.deepEqual(chain.material.certificates.map(String), ['leaf', 'ca']);
    const keylessJson = bundle({ verificationMaterial: { certificate: { rawBytes: b64('c') } } });
    const keyless = parse(keylessJson);
    assert.deepEqual(keyless.material, { kind: 'keyless', bundle: keylessJson });
  });

  void it('accepts padded and unpadded base64', () => {
    for (const payload of ['YQ==', 'YWI=', 'YWJj', 'YQ', 'YWI']) {
      assert.ok(
        parse(bundle({ dsseEnvelope: { ...envelope, payload } })).payload.length > 0,
        payload,
      );
    }
  });

  const malformed = (what: string) => `signature bundle is malformed: ${what}`;
  const cases: [string, unknown, string, string][] = [
    ['not JSON', '{"truncated": ', 'bundle-malformed', 'signature bundle is not valid JSON'],
    ['an array', [], 'bundle-malformed', malformed('top level is not an object')],
    ['null', null, 'bundle-malformed', malformed('top level is not an object')],
    ['a string', 'text', 'bundle-malformed', 'signature bundle is not valid JSON'],
    [
      'another media type',
      bundle({ mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.2' }),
      'media-type',
      `signature bundle media type must be ${bundleMediaType}`,
    ],
    [
      'no verificationMaterial',
      bundle({ verificationMaterial: undefined }),
      'bundle-malformed',
      malformed('verificationMaterial is missing'),
    ],
    [
      'a list as verificationMaterial',
      bundle({ verificationMaterial: [] }),
      'bundle-malformed',
      malformed('verificationMaterial is missing'),
    ],
    [
      'a publicKey that is not an object',
      bundle({ verificationMaterial: { publicKey: 'pem' } }),
      'bundle-malformed',
      malformed('verificationMaterial.publicKey is not an object'),
    ],
    [
      'a hint that is not a string',
      bundle({ verificationMaterial: { publicKey: { hint: 5 } } }),
      'bundle-malformed',
      malformed('verificationMaterial.publicKey.hint is not a string'),
    ],
    [
      'an empty certificate chain',
      bundle({ verificationMaterial: { x509CertificateChain: { certificates: [] } } }),
      'bundle-malformed',
      malformed('x509CertificateChain.certificates is empty'),
    ],
    [
      'a chain without a certificate list',
      bundle({ verificationMaterial: { x509CertificateChain: 'pem' } }),
      'bundle-malformed',
      malformed('x509CertificateChain.certificates is empty'),
    ],
    [
      'a certificate that is not base64',
      bundle({
        verificationMaterial: {
          x509CertificateChain: { certificates: [{ rawBytes: b64('a') }, { rawBytes: '%%' }] },
        },
      }),
      'bundle-malformed',
      malformed('certificates[1].rawBytes is not base64'),
    ],
    [
      'a certificate entry that is not an object',
      bundle({ verificationMaterial: { x509CertificateChain: { certificates: ['abcd'] } } }),
      'bundle-malformed',
      malformed('certificates[0].rawBytes is not base64'),
    ],
    [
      'no key and no certificate',
      bundle({ verificationMaterial: { tlogEntries: [] } }),
      'bundle-malformed',
      malformed('verificationMaterial names no public key or certificate'),
    ],
    [
      'no envelope',
      bundle({ dsseEnvelope: undefined }),
      'bundle-malformed',
      malformed('dsseEnvelope is missing'),
    ],
    [
      'a list as envelope',
      bundle({ dsseEnvelope: [] }),
      'bundle-malformed',
      malformed('dsseEnvelope is missing'),
    ],
    [
      'another payload type',
      bundle({ dsseEnvelope: { ...envelope, payloadType: 'application/json' } }),
      'payload-type',
      `signature payload type must be ${inTotoPayloadType}`,
    ],
    [
      'a payload that is not base64',
      bundle({ dsseEnvelope: { ...envelope, payload: '!!not base64' } }),
      'bundle-malformed',
      malformed('dsseEnvelope.payload is not base64'),
    ],
    [
      'a payload of impossible base64 length',
      bundle({ dsseEnvelope: { ...envelope, payload: 'YWJjZ' } }),
      'bundle-malformed',
      malformed('dsseEnvelope.payload is not base64'),
    ],
    [
      'a payload with three padding characters',
      bundle({ dsseEnvelope: { ...envelope, payload: 'YQ===' } }),
      'bundle-malformed',
      malformed('dsseEnvelope.payload is not base64'),
    ],
    [
      'padding in the middle',
      bundle({ dsseEnvelope: { ...envelope, payload: 'YQ==YQ==' } }),
      'bundle-malformed',
      malformed('dsseEnvelope.payload is not base64'),
    ],
    [
      'a payload that is a number',
      bundle({ dsseEnvelope: { ...envelope, payload: 5 } }),
      'bundle-malformed',
      malformed('dsseEnvelope.payload is not base64'),
    ],
    [
      'an empty payload',
      bundle({ dsseEnvelope: { ...envelope, payload: '' } }),
      'bundle-malformed',
      malformed('dsseEnvelope.payload is empty'),
    ],
    [
      'no signatures',
      bundle({ dsseEnvelope: { ...envelope, signatures: [] } }),
      'signature-count',
      'signature bundle must carry exactly one signature',
    ],
    [
      'two signatures',
      bundle({ dsseEnvelope: { ...envelope, signatures: [{ sig: b64('a') }, { sig: b64('b') }] } }),
      'signature-count',
      'signature bundle must carry exactly one signature',
    ],
    [
      'signatures that are not a list',
      bundle({ dsseEnvelope: { ...envelope, signatures: { sig: b64('a') } } }),
      'signature-count',
      'signature bundle must carry exactly one signature',
    ],
    [
      'a signature entry that is not an object',
      bundle({ dsseEnvelope: { ...envelope, signatures: [b64('a')] } }),
      'bundle-malformed',
      malformed('signatures[0].sig is not base64'),
    ],
    [
      'an empty signature',
      bundle({ dsseEnvelope: { ...envelope, signatures: [{ sig: '' }] } }),
      'bundle-malformed',
      malformed('signatures[0].sig is empty'),
    ],
  ];
  for (const [name, value, reason, message] of cases) {
    void it(`refuses ${name}: ${reason}`, () => {
      assert.throws(() => parse(value), refusal(reason, message));
    });
  }

  void it('refuses a file over the size limit before parsing it', () => {
    const big = Buffer.alloc(maxBundleBytes + 1, 0x20);
    assert.throws(
      () => parseOmsBundle(big),
      refusal('bundle-malformed', malformed('file is too large')),
    );
    // Exactly the limit is parsed (and then fails as JSON of only spaces).
    assert.throws(
      () => parseOmsBundle(Buffer.alloc(maxBundleBytes, 0x20)),
      refusal('bundle-malformed', 'signature bundle is not valid JSON'),
    );
  });

  void it("says why the JSON did not parse: the parser's error is the cause", () => {
    assert.throws(
      () => parseOmsBundle(Buffer.from('{"truncated": ')),
      (error: Error) => {
        assert.ok(error.cause instanceof SyntaxError, String(error.cause));
        return true;
      },
    );
  });
});

void describe('parseOmsStatement', () => {
  const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
  const subjectOf = (digests: string[]): string => {
    const h = createHash('sha256');
    for (const d of digests) h.update(Buffer.from(d, 'hex'));
    return h.digest('hex');
  };
  const resources = [
    { name: 'a.onnx', algorithm: 'sha256', digest: sha('a') },
    { name: 'b/c.txt', algorithm: 'sha256', digest: sha('c') },
  ];
  const statement = (
    patch: { predicate?: object; serialization?: object; [k: string]: unknown } = {},
  ) => {
    const { predicate, serialization, ...top } = patch;
    return {
      _type: statementType,
      subject: [{ name: 'model', digest: { sha256: subjectOf(resources.map((r) => r.digest)) } }],
      predicateType: omsPredicateType,
      predicate: {
        resources,
        serialization: {
          method: 'files',
          hash_type: 'sha256',
          allow_symlinks: false,
          ...serialization,
        },
        ...predicate,
      },
      ...top,
    };
  };
  const parse = (value: unknown) =>
    parseOmsStatement(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

  void it('reads method, ignore paths and resources in document order', () => {
    const parsed = parse(statement({ serialization: { ignore_paths: ['x', 'y/z'] } }));
    assert.equal(parsed.predicateType, omsPredicateType);
    assert.equal(parsed.method, 'files');
    assert.equal(parsed.shardSize, undefined);
    assert.deepEqual(parsed.ignorePaths, ['x', 'y/z']);
    assert.deepEqual(
      [...parsed.resources],
      [
        ['a.onnx', sha('a')],
        ['b/c.txt', sha('c')],
      ],
    );
    assert.deepEqual(parse(statement()).ignorePaths, []);
  });

  void it('lowercases digests, and accepts an uppercase subject digest', () => {
    const upper = resources.map((r) => ({ ...r, digest: r.digest.toUpperCase() }));
    const parsed = parse(
      statement({
        subject: [{ digest: { sha256: subjectOf(resources.map((r) => r.digest)).toUpperCase() } }],
        predicate: { resources: upper },
      }),
    );
    assert.deepEqual([...parsed.resources.values()], [sha('a'), sha('c')]);
  });

  void it('reads shards with their size, and sha256-prefixed algorithms', () => {
    const shards = [
      { name: 'w.bin:0:4', algorithm: 'sha256-sharded-4', digest: sha('abcd') },
      { name: 'w.bin:4:6', algorithm: 'sha256-sharded-4', digest: sha('ef') },
    ];
    const parsed = parse(
      statement({
        subject: [{ digest: { sha256: subjectOf(shards.map((s) => s.digest)) } }],
        predicate: { resources: shards },
        serialization: { method: 'shards', shard_size: 4 },
      }),
    );
    assert.equal(parsed.method, 'shards');
    assert.equal(parsed.shardSize, 4);
    assert.deepEqual([...parsed.resources.keys()], ['w.bin:0:4', 'w.bin:4:6']);
  });

  void it('reads a legacy (v0.2) statement: one subject per file, no serialization block', () => {
    const parsed = parse({
      _type: statementType,
      subject: [
        {
          name: 'a.onnx',
          digest: { sha256: sha('a').toUpperCase() },
          annotations: { actual_hash_algorithm: 'file-sha256' },
        },
        { name: 'b.txt', digest: { sha256: sha('b') } },
      ],
      predicateType: legacyPredicateType,
    });
    assert.equal(parsed.predicateType, legacyPredicateType);
    assert.equal(parsed.method, 'files');
    assert.equal(parsed.shardSize, undefined);
    assert.deepEqual(parsed.ignorePaths, []);
    assert.deepEqual(
      [...parsed.resources],
      [
        ['a.onnx', sha('a')],
        ['b.txt', sha('b')],
      ],
    );
  });

  const invalid = (what: string) => `signed statement is invalid: ${what}`;
  const legacy = (subject: unknown) => ({
    _type: statementType,
    subject,
    predicateType: legacyPredicateType,
  });
  const cases: [string, unknown, string, string][] = [
    ['not JSON', '{', 'statement-invalid', invalid('payload is not JSON')],
    ['an array', [], 'statement-invalid', invalid('payload is not an object')],
    ['null', null, 'statement-invalid', invalid('payload is not an object')],
    [
      'another statement type',
      statement({ _type: 'https://in-toto.io/Statement/v0.1' }),
      'statement-invalid',
      invalid(`_type must be ${statementType}`),
    ],
    [
      'no subject',
      statement({ subject: undefined }),
      'statement-invalid',
      invalid('subject is missing'),
    ],
    [
      'another predicate type',
      statement({ predicateType: 'https://slsa.dev/provenance/v1' }),
      'predicate-type',
      `predicateType must be ${omsPredicateType}`,
    ],
    [
      'no subjects',
      statement({ subject: [] }),
      'statement-invalid',
      invalid('there must be exactly one subject with a digest'),
    ],
    [
      'two subjects',
      statement({ subject: [{ digest: { sha256: sha('x') } }, { digest: { sha256: sha('y') } }] }),
      'statement-invalid',
      invalid('there must be exactly one subject with a digest'),
    ],
    [
      'a subject that is a string',
      statement({ subject: ['model'] }),
      'statement-invalid',
      invalid('there must be exactly one subject with a digest'),
    ],
    [
      'a subject without digest',
      statement({ subject: [{ name: 'model' }] }),
      'statement-invalid',
      invalid('there must be exactly one subject with a digest'),
    ],
    [
      'a subject digest that is not sha256',
      statement({ subject: [{ digest: { sha512: sha('x') } }] }),
      'statement-invalid',
      invalid('subject digest is not sha256'),
    ],
    [
      'a short subject digest',
      statement({ subject: [{ digest: { sha256: 'ab' } }] }),
      'statement-invalid',
      invalid('subject digest is not sha256'),
    ],
    [
      'no predicate',
      { ...statement(), predicate: 'resources' },
      'statement-invalid',
      invalid('predicate is missing'),
    ],
    [
      'no serialization',
      statement({ predicate: { serialization: undefined } }),
      'statement-invalid',
      invalid('predicate.serialization is missing'),
    ],
    [
      'another method',
      statement({ serialization: { method: 'digest' } }),
      'unsupported',
      'serialization method "digest" is not supported',
    ],
    [
      'no method',
      statement({ serialization: { method: undefined } }),
      'unsupported',
      'serialization method undefined is not supported',
    ],
    [
      'another hash type',
      statement({ serialization: { hash_type: 'blake2' } }),
      'unsupported',
      'hash type "blake2" is not supported',
    ],
    [
      'ignore_paths that is not a list',
      statement({ serialization: { ignore_paths: 'x' } }),
      'statement-invalid',
      invalid('serialization.ignore_paths is not a list of strings'),
    ],
    [
      'ignore_paths holding a number',
      statement({ serialization: { ignore_paths: ['x', 1] } }),
      'statement-invalid',
      invalid('serialization.ignore_paths is not a list of strings'),
    ],
    ...([0, -4, 1.5, '4', undefined] as const).map((size): [string, unknown, string, string] => [
      `shard_size ${String(size)}`,
      statement({ serialization: { method: 'shards', shard_size: size } }),
      'statement-invalid',
      invalid('serialization.shard_size is not a positive integer'),
    ]),
    [
      'no resources',
      statement({ predicate: { resources: [] } }),
      'statement-invalid',
      invalid('predicate.resources is empty'),
    ],
    [
      'resources that are not a list',
      statement({ predicate: { resources: {} } }),
      'statement-invalid',
      invalid('predicate.resources is empty'),
    ],
    [
      'a resource that is not an object',
      statement({ predicate: { resources: ['a'] } }),
      'statement-invalid',
      invalid('a resource is not an object'),
    ],
    [
      'a resource digest that is not hex',
      statement({ predicate: { resources: [{ ...resources[0], digest: 'z'.repeat(64) }] } }),
      'statement-invalid',
      invalid('resource digest is not sha256'),
    ],
    [
      // 64 hex digits with one more character before or after: the whole value must be a digest.
      'a resource digest with a character before it',
      statement({ predicate: { resources: [{ ...resources[0], digest: `x${sha('a')}` }] } }),
      'statement-invalid',
      invalid('resource digest is not sha256'),
    ],
    [
      'a resource digest with a character after it',
      statement({ predicate: { resources: [{ ...resources[0], digest: `${sha('a')}0` }] } }),
      'statement-invalid',
      invalid('resource digest is not sha256'),
    ],
    [
      // Not a string, though it would read as one: a list holding the digest.
      'a resource digest in a list',
      statement({ predicate: { resources: [{ ...resources[0], digest: [sha('a')] }] } }),
      'statement-invalid',
      invalid('resource digest is not sha256'),
    ],
    [
      'a resource hashed otherwise',
      statement({ predicate: { resources: [{ ...resources[0], algorithm: 'blake2b' }] } }),
      'unsupported',
      'resource algorithm "blake2b" is not supported',
    ],
    [
      'a resource with no algorithm',
      statement({ predicate: { resources: [{ ...resources[0], algorithm: undefined }] } }),
      'unsupported',
      'resource algorithm undefined is not supported',
    ],
    [
      'a resource with no name',
      statement({ predicate: { resources: [{ ...resources[0], name: undefined }] } }),
      'statement-invalid',
      invalid('a resource has no name'),
    ],
    [
      'a resource listed twice',
      statement({
        subject: [{ digest: { sha256: subjectOf([sha('a'), sha('a')]) } }],
        predicate: { resources: [resources[0], resources[0]] },
      }),
      'resource-name',
      'signature lists resource "a.onnx" twice',
    ],
    [
      'an unsafe file name',
      statement({ predicate: { resources: [{ ...resources[0], name: '../a' }] } }),
      'resource-name',
      'signature lists an unsafe resource name "../a": it contains ".."',
    ],
    [
      'a file name in the shard form under files',
      statement({ predicate: { resources: [{ ...resources[0], name: 'a/./b' }] } }),
      'resource-name',
      'signature lists an unsafe resource name "a/./b": it has an empty or "." segment',
    ],
    [
      'a shard name that is not path:start:end',
      statement({
        subject: [{ digest: { sha256: subjectOf([sha('a')]) } }],
        predicate: { resources: [{ ...resources[0], name: 'a.onnx' }] },
        serialization: { method: 'shards', shard_size: 4 },
      }),
      'resource-name',
      'signature lists an unsafe resource name "a.onnx": it is not path:start:end',
    ],
    [
      'resources that do not hash to the subject',
      statement({ predicate: { resources: [...resources].reverse() } }),
      'subject-digest',
      'subject digest does not match the signed resources',
    ],
    [
      'a legacy statement with no subjects',
      legacy([]),
      'statement-invalid',
      invalid('subject is empty'),
    ],
    [
      'a legacy subject without digest',
      legacy([{ name: 'a' }]),
      'statement-invalid',
      invalid('a subject has no digest'),
    ],
    [
      'a legacy subject that is a string',
      legacy(['a']),
      'statement-invalid',
      invalid('a subject has no digest'),
    ],
    [
      'a legacy subject hashed otherwise',
      legacy([
        {
          name: 'a',
          digest: { sha256: sha('a') },
          annotations: { actual_hash_algorithm: 'sha512' },
        },
      ]),
      'unsupported',
      'legacy signatures hashed with "sha512" are not supported',
    ],
    [
      'a legacy subject with a bad digest',
      legacy([{ name: 'a', digest: { sha256: 'nothex' } }]),
      'statement-invalid',
      invalid('subject digest is not sha256'),
    ],
    [
      'a legacy subject with an unsafe name',
      legacy([{ name: '/etc/passwd', digest: { sha256: sha('a') } }]),
      'resource-name',
      'signature lists an unsafe resource name "/etc/passwd": it is absolute',
    ],
    [
      'a legacy subject with no name',
      legacy([{ digest: { sha256: sha('a') } }]),
      'statement-invalid',
      invalid('a resource has no name'),
    ],
    [
      'a legacy subject listed twice',
      legacy([
        { name: 'a', digest: { sha256: sha('a') } },
        { name: 'a', digest: { sha256: sha('a') } },
      ]),
      'resource-name',
      'signature lists resource "a" twice',
    ],
  ];
  for (const [name, value, reason, message] of cases) {
    void it(`refuses ${name}: ${reason}`, () => {
      assert.throws(() => parse(value), refusal(reason, message));
    });
  }

  void it('shows at most 60 characters of an unsupported value', () => {
    const long = 'm'.repeat(100);
    assert.throws(
      () => parse(statement({ serialization: { method: long } })),
      refusal(
        'unsupported',
        `serialization method ${JSON.stringify(long).slice(0, 60)} is not supported`,
      ),
    );
  });
});
