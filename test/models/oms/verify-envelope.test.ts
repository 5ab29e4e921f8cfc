// Unit tests of the envelope check and the certificate chain rules, on real keys, real DER
// certificates (test/models/oms/x509-builder.ts) and real ECDSA signatures. The signed bytes are
// the DSSE PAE written out here, not built with the code under test.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  parseCertificatesPem,
  verifyCertificateChain,
} from '../../../src/models/oms/certificate-chain.js';
import type { OmsBundle } from '../../../src/models/oms/oms-bundle.js';
import { createKeyHint } from '../../../src/models/oms/signing-key.js';
import { parseTrustedRoots, verifyOmsEnvelope } from '../../../src/models/oms/verify-envelope.js';
import {
  buildCertificate,
  ekuCodeSigning,
  ekuServerAuth,
  keyUsageBits,
  toPem,
  type CertificateSpec,
} from './x509-builder.js';
import { refusal } from './oms-refusal.js';

const ec = (namedCurve = 'prime256v1') => generateKeyPairSync('ec', { namedCurve });
const payloadType = 'application/vnd.in-toto+json';
const payload = Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}');
const pae = `DSSEv1 ${payloadType.length} ${payloadType} ${payload.length} ${payload.toString()}`;
const legacyPae = `DSSEV1 ${payloadType.length} ${payloadType} ${payload.length} b'${payload.toString()}'`;
const signWith = (key: KeyObject, text: string, hash = 'sha256') =>
  sign(hash, Buffer.from(text), { key, dsaEncoding: 'der' });
const now = new Date('2026-06-01T12:00:00Z');
const day = 86_400_000;
const validity = { from: new Date(now.getTime() - day), to: new Date(now.getTime() + day) };

function keyBundle(signature: Buffer, hint: string | undefined): OmsBundle {
  return { material: { kind: 'public-key', hint }, payloadType, payload, signature };
}

void describe('key mode', () => {
  const signer = ec();
  const other = ec();
  const hint = createKeyHint(signer.publicKey);
  const good = keyBundle(signWith(signer.privateKey, pae), hint);

  void it('verifies with the trusted key and reports its index and hint', () => {
    const verified = verifyOmsEnvelope(good, { keys: [other.publicKey, signer.publicKey] }, now);
    assert.deepEqual(verified.signer, { method: 'key', keyIndex: 1, keyHint: hint });
    assert.equal(verified.payload, payload);
    assert.equal(verified.legacyEncoding, false);
  });

  void it('a hint naming another trusted key still lets the signing key verify', () => {
    const misleading = keyBundle(good.signature, createKeyHint(other.publicKey));
    const verified = verifyOmsEnvelope(
      misleading,
      { keys: [other.publicKey, signer.publicKey] },
      now,
    );
    assert.deepEqual(verified.signer, { method: 'key', keyIndex: 1, keyHint: hint });
  });

  void it('verifies without a hint', () => {
    const verified = verifyOmsEnvelope(
      keyBundle(good.signature, undefined),
      { keys: [signer.publicKey] },
      now,
    );
    assert.equal(verified.signer.method === 'key' && verified.signer.keyIndex, 0);
  });

  void it('reports the legacy encoding, hashed with SHA-256 even on P-384', () => {
    const legacy = keyBundle(signWith(signer.privateKey, legacyPae), hint);
    assert.equal(verifyOmsEnvelope(legacy, { keys: [signer.publicKey] }, now).legacyEncoding, true);
    const p384 = ec('secp384r1');
    const legacy384 = keyBundle(signWith(p384.privateKey, legacyPae, 'sha256'), undefined);
    assert.equal(
      verifyOmsEnvelope(legacy384, { keys: [p384.publicKey] }, now).legacyEncoding,
      true,
    );
  });

  void it('the v1 encoding uses the curve’s hash: P-384 with SHA-384, not SHA-256', () => {
    const p384 = ec('secp384r1');
    const right = keyBundle(signWith(p384.privateKey, pae, 'sha384'), undefined);
    assert.equal(verifyOmsEnvelope(right, { keys: [p384.publicKey] }, now).legacyEncoding, false);
    const wrong = keyBundle(signWith(p384.privateKey, pae, 'sha256'), undefined);
    assert.throws(
      () => verifyOmsEnvelope(wrong, { keys: [p384.publicKey] }, now),
      refusal('bad-signature', 'model signature does not verify with the trusted key'),
    );
  });

  void it('a trusted key of another type is skipped, not fatal', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const verified = verifyOmsEnvelope(good, { keys: [rsa, 'not a pem', signer.publicKey] }, now);
    assert.equal(verified.signer.method === 'key' && verified.signer.keyIndex, 2);
  });

  const cases: [string, OmsBundle, readonly (KeyObject | string)[] | undefined, string, string][] =
    [
      [
        'no trusted keys',
        good,
        [],
        'untrusted-key',
        'model is signed with a key, but no trusted keys are configured',
      ],
      [
        'no keys at all in the trust',
        good,
        undefined,
        'untrusted-key',
        'model is signed with a key, but no trusted keys are configured',
      ],
      [
        'only keys of other types',
        good,
        [generateKeyPairSync('ed25519').publicKey, 'garbage'],
        'unsupported',
        'none of the trusted keys is an ECDSA P-256, P-384 or P-521 public key',
      ],
      [
        'a hint no trusted key has',
        good,
        [other.publicKey],
        'untrusted-key',
        'model was signed by a key that is not trusted',
      ],
      [
        'a forged signature under a trusted key’s hint',
        keyBundle(signWith(other.privateKey, pae), hint),
        [signer.publicKey],
        'bad-signature',
        'model signature does not verify with the trusted key',
      ],
      [
        // Several trusted keys, one of them the hint's: the signature is bad, the signer is not
        // unknown (whether any, not every, trusted key matches the hint decides the reason).
        'a forged signature under the hint of one of several trusted keys',
        keyBundle(signWith(other.privateKey, pae), hint),
        [ec().publicKey, signer.publicKey],
        'bad-signature',
        'model signature does not verify with the trusted key',
      ],
      [
        'no hint and an untrusted signer',
        keyBundle(signWith(other.privateKey, pae), undefined),
        [signer.publicKey],
        'bad-signature',
        'model signature does not verify with the trusted key',
      ],
      [
        'a signature that is not DER',
        keyBundle(Buffer.from('not a signature'), hint),
        [signer.publicKey],
        'bad-signature',
        'model signature does not verify with the trusted key',
      ],
      [
        'a signature over other bytes',
        keyBundle(signWith(signer.privateKey, `${pae} `), hint),
        [signer.publicKey],
        'bad-signature',
        'model signature does not verify with the trusted key',
      ],
    ];
  for (const [name, bundle, keys, reason, message] of cases) {
    void it(`refuses ${name}: ${reason}`, () => {
      assert.throws(
        () => verifyOmsEnvelope(bundle, keys === undefined ? {} : { keys }, now),
        refusal(reason, message),
      );
    });
  }
});

/** A CA (self-signed), its key and PEM. */
function createCa(cn: string, extra: Partial<CertificateSpec> = {}) {
  const keys = ec();
  const der = buildCertificate({
    cn,
    publicKey: keys.publicKey,
    selfKey: keys.privateKey,
    ca: true,
    keyUsage: keyUsageBits.keyCertSign | keyUsageBits.cRLSign,
    ...validity,
    ...extra,
  });
  return { cn, key: keys.privateKey, der, pem: toPem(der), cert: new X509Certificate(der) };
}

/** A certificate for `cn` issued by `issuer`, with the signing key returned too. */
function issue(
  issuer: { cn: string; key: KeyObject },
  cn: string,
  extra: Partial<CertificateSpec> = {},
) {
  const keys = ec();
  const der = buildCertificate({
    cn,
    publicKey: keys.publicKey,
    issuer,
    ca: false,
    keyUsage: keyUsageBits.digitalSignature,
    eku: [ekuCodeSigning],
    ...validity,
    ...extra,
  });
  return { cn, key: keys.privateKey, der, pem: toPem(der) };
}

void describe('certificate chains', () => {
  const root = createCa('root');
  const otherRoot = createCa('other root');
  const leaf = issue(root, 'signer');

  void it('a leaf issued by a configured root verifies, with that root’s index and fingerprint', () => {
    const chain = verifyCertificateChain([leaf.der], [otherRoot.cert, root.cert], now);
    assert.equal(chain.rootIndex, 1);
    assert.equal(chain.rootFingerprint, root.cert.fingerprint256);
    assert.equal(chain.leaf.subject, 'CN=signer');
  });

  void it('walks intermediates by signature, in any order, ignoring unrelated certificates', () => {
    const mid1 = {
      ...issue(root, 'mid 1', { ca: true, keyUsage: keyUsageBits.keyCertSign, eku: undefined }),
    };
    const mid2 = issue(mid1, 'mid 2', {
      ca: true,
      keyUsage: keyUsageBits.keyCertSign,
      eku: undefined,
    });
    const deep = issue(mid2, 'deep signer');
    const chain = verifyCertificateChain(
      [deep.der, otherRoot.der, mid1.der, mid2.der],
      [root.cert],
      now,
    );
    assert.equal(chain.rootIndex, 0);
    assert.equal(chain.leaf.subject, 'CN=deep signer');
  });

  void it('a leaf that is itself a configured root verifies (direct trust)', () => {
    const selfKeys = ec();
    const self = buildCertificate({
      cn: 'self',
      publicKey: selfKeys.publicKey,
      selfKey: selfKeys.privateKey,
      keyUsage: keyUsageBits.digitalSignature,
      ...validity,
    });
    const chain = verifyCertificateChain([self], [root.cert, new X509Certificate(self)], now);
    assert.equal(chain.rootIndex, 1);
  });

  void it('follows at most eight certificates from the leaf', () => {
    const build = (count: number) => {
      const mids: ReturnType<typeof issue>[] = [];
      let issuer: { cn: string; key: KeyObject } = root;
      for (let i = 0; i < count; i++) {
        const mid = issue(issuer, `mid ${i}`, {
          ca: true,
          keyUsage: keyUsageBits.keyCertSign,
          eku: undefined,
        });
        mids.push(mid);
        issuer = mid;
      }
      return [issue(issuer, 'leaf').der, ...mids.map((m) => m.der)];
    };
    assert.equal(verifyCertificateChain(build(7), [root.cert], now).rootIndex, 0);
    assert.throws(
      () => verifyCertificateChain(build(8), [root.cert], now),
      refusal('untrusted-key', 'signing certificate does not chain to a configured root CA'),
    );
  });

  void it('is valid from its first to its last second, not outside', () => {
    const from = new Date('2026-05-01T00:00:00Z');
    const to = new Date('2026-07-01T00:00:00Z');
    const longRoot = createCa('long root', {
      from: new Date('2020-01-01T00:00:00Z'),
      to: new Date('2040-01-01T00:00:00Z'),
    });
    const timed = issue(longRoot, 'timed', { from, to });
    for (const at of [from, to]) verifyCertificateChain([timed.der], [longRoot.cert], at);
    for (const at of [new Date(from.getTime() - 1000), new Date(to.getTime() + 1000)]) {
      assert.throws(
        () => verifyCertificateChain([timed.der], [longRoot.cert], at),
        refusal(
          'certificate-expired',
          `signing certificate "CN=timed" is not valid at ${at.toISOString()} (valid May  1 00:00:00 2026 GMT to Jul  1 00:00:00 2026 GMT)`,
        ),
      );
    }
  });

  const noCa = issue(root, 'not a ca', {
    ca: false,
    keyUsage: keyUsageBits.keyCertSign,
    eku: undefined,
  });
  const noCertSign = issue(root, 'no cert sign', {
    ca: true,
    keyUsage: keyUsageBits.cRLSign,
    eku: undefined,
  });
  const expiredRoot = createCa('old root', {
    from: new Date('2020-01-01Z'),
    to: new Date('2021-01-01Z'),
  });
  const refused: [string, Buffer[], X509Certificate[], string, string | RegExp][] = [
    [
      'an empty chain',
      [],
      [root.cert],
      'certificate-invalid',
      'signature bundle holds no certificate',
    ],
    [
      'bytes that are not a certificate',
      [Buffer.from('not DER')],
      [root.cert],
      'certificate-invalid',
      'signature bundle holds a certificate that cannot be parsed',
    ],
    [
      'a leaf of another CA',
      [leaf.der],
      [otherRoot.cert],
      'untrusted-key',
      'signing certificate does not chain to a configured root CA',
    ],
    [
      'no configured roots',
      [leaf.der],
      [],
      'untrusted-key',
      'signing certificate does not chain to a configured root CA',
    ],
    [
      'an intermediate that is not a CA',
      [issue(noCa, 'under a non-CA').der, noCa.der],
      [root.cert],
      'certificate-invalid',
      'issuing certificate "CN=not a ca" is not a CA',
    ],
    [
      // OpenSSL's CA check already requires keyCertSign when keyUsage is present.
      'an intermediate without keyCertSign',
      [issue(noCertSign, 'under no cert sign').der, noCertSign.der],
      [root.cert],
      'certificate-invalid',
      'issuing certificate "CN=no cert sign" is not a CA',
    ],
    [
      'an expired root',
      [issue(expiredRoot, 'young leaf').der],
      [expiredRoot.cert],
      'certificate-expired',
      /^issuing certificate "CN=old root" is not valid at 2026-06-01T12:00:00.000Z/,
    ],
    [
      'a leaf without digitalSignature',
      [issue(root, 'encipher', { keyUsage: keyUsageBits.keyEncipherment }).der],
      [root.cert],
      'certificate-invalid',
      'signing certificate keyUsage does not allow digitalSignature',
    ],
    [
      'a leaf for server auth only',
      [issue(root, 'server', { keyUsage: undefined, eku: [ekuServerAuth] }).der],
      [root.cert],
      'certificate-invalid',
      'signing certificate extendedKeyUsage does not allow code signing',
    ],
    [
      'a leaf with neither usage',
      [issue(root, 'bare', { keyUsage: undefined, eku: undefined }).der],
      [root.cert],
      'certificate-invalid',
      'signing certificate has neither keyUsage nor code-signing extendedKeyUsage',
    ],
    [
      'a leaf with an unreadable keyUsage',
      [issue(root, 'garbled', { rawKeyUsage: Buffer.from([0x04, 0x01, 0x80]) }).der],
      [root.cert],
      'certificate-invalid',
      'signing certificate has an unreadable keyUsage extension',
    ],
    [
      'a leaf with a secp256k1 key',
      [issue(root, 'k1', { publicKey: ec('secp256k1').publicKey }).der],
      [root.cert],
      'unsupported',
      'signing key must be ECDSA P-256, P-384 or P-521',
    ],
  ];
  for (const [name, chain, roots, reason, message] of refused) {
    void it(`refuses ${name}: ${reason}`, () => {
      assert.throws(() => verifyCertificateChain(chain, roots, now), refusal(reason, message));
    });
  }

  void it('accepts a leaf with only the code-signing EKU, or only digitalSignature', () => {
    verifyCertificateChain(
      [issue(root, 'eku only', { keyUsage: undefined }).der],
      [root.cert],
      now,
    );
    verifyCertificateChain([issue(root, 'ku only', { eku: undefined }).der], [root.cert], now);
    verifyCertificateChain(
      [issue(root, 'both ekus', { keyUsage: undefined, eku: [ekuServerAuth, ekuCodeSigning] }).der],
      [root.cert],
      now,
    );
  });

  void it('splits PEM text into certificates, ignoring text around them', () => {
    const text = `bundle\n${root.pem}between\n${otherRoot.pem}after`;
    const certs = parseCertificatesPem(text);
    assert.deepEqual(
      certs.map((c) => c.subject),
      ['CN=root', 'CN=other root'],
    );
    assert.deepEqual(parseCertificatesPem('no certificates here'), []);
    assert.deepEqual(
      parseTrustedRoots([text, leaf.pem, root.cert]).map((c) => c.subject),
      ['CN=root', 'CN=other root', 'CN=signer', 'CN=root'],
    );
  });
});

void describe('certificate mode envelopes', () => {
  const root = createCa('envelope root');
  const otherRoot = createCa('envelope other');
  const leaf = issue(root, 'envelope signer');
  const bundle = (signature: Buffer, chain = [leaf.der]): OmsBundle => ({
    material: { kind: 'certificate-chain', certificates: chain },
    payloadType,
    payload,
    signature,
  });

  void it('verifies and names the root (after splitting PEM bundles) and the leaf', () => {
    const verified = verifyOmsEnvelope(
      bundle(signWith(leaf.key, pae)),
      { roots: [`${otherRoot.pem}${root.pem}`] },
      now,
    );
    assert.deepEqual(verified.signer, {
      method: 'certificate',
      rootIndex: 1,
      rootFingerprint: root.cert.fingerprint256,
      leafSubject: 'CN=envelope signer',
    });
    assert.equal(verified.legacyEncoding, false);
    assert.equal(verified.payload, payload);
  });

  void it('reports the legacy encoding', () => {
    const verified = verifyOmsEnvelope(
      bundle(signWith(leaf.key, legacyPae)),
      { roots: [root.cert] },
      now,
    );
    assert.equal(verified.legacyEncoding, true);
  });

  void it('refuses without roots, and a signature by another key', () => {
    assert.throws(
      () => verifyOmsEnvelope(bundle(signWith(leaf.key, pae)), { keys: [ec().publicKey] }, now),
      refusal(
        'untrusted-key',
        'model is signed with a certificate, but no trusted root CAs are configured',
      ),
    );
    assert.throws(
      () => verifyOmsEnvelope(bundle(signWith(leaf.key, pae)), { roots: ['no pem here'] }, now),
      refusal(
        'untrusted-key',
        'model is signed with a certificate, but no trusted root CAs are configured',
      ),
    );
    assert.throws(
      () => verifyOmsEnvelope(bundle(signWith(ec().privateKey, pae)), { roots: [root.pem] }, now),
      refusal('bad-signature', 'model signature does not verify with the signing certificate'),
    );
  });

  void it('checks the chain at the given time', () => {
    assert.throws(
      () =>
        verifyOmsEnvelope(
          bundle(signWith(leaf.key, pae)),
          { roots: [root.pem] },
          new Date(now.getTime() + 2 * day),
        ),
      refusal('certificate-expired', /^signing certificate "CN=envelope signer" is not valid at/),
    );
  });
});
