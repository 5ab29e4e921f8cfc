// The certificate-chain rules one at a time, on certificates built here (x509-builder): path
// building by signature with backtracking, a pinned self-signed signer, issuers that may not sign
// or say nothing about it, leaves whose usage extensions are empty or absent, and the messages an
// operator reads for each refusal.
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { verifyCertificateChain } from '../../../src/models/oms/certificate-chain.js';
import { refusal } from './oms-refusal.js';
import {
  buildCertificate,
  type CertificateSpec,
  ekuCodeSigning,
  keyUsageBits,
} from './x509-builder.js';

const now = new Date('2026-06-01T00:00:00Z');
const from = new Date('2026-01-01T00:00:00Z');
const to = new Date('2027-01-01T00:00:00Z');

interface Party {
  readonly cn: string;
  readonly key: KeyObject;
  readonly publicKey: KeyObject;
}

function party(cn: string): Party {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { cn, key: privateKey, publicKey };
}

function ca(subject: Party, issuer?: Party, extra: Partial<CertificateSpec> = {}): Buffer {
  return buildCertificate({
    cn: subject.cn,
    publicKey: subject.publicKey,
    ...(issuer === undefined
      ? { selfKey: subject.key }
      : { issuer: { cn: issuer.cn, key: issuer.key } }),
    from,
    to,
    ca: true,
    keyUsage: keyUsageBits.keyCertSign,
    ...extra,
  });
}

function leaf(subject: Party, issuer: Party, extra: Partial<CertificateSpec> = {}): Buffer {
  return buildCertificate({
    cn: subject.cn,
    publicKey: subject.publicKey,
    issuer: { cn: issuer.cn, key: issuer.key },
    from,
    to,
    keyUsage: keyUsageBits.digitalSignature,
    eku: [ekuCodeSigning],
    ...extra,
  });
}

const x509 = (der: Buffer) => new X509Certificate(der);

void describe('certificate chain: paths', () => {
  void it('backtracks past an intermediate that leads nowhere', () => {
    const root = party('root');
    const stranger = party('stranger root');
    // Two intermediate certificates for one key: the first issued by a root nobody trusts.
    const intermediate = party('intermediate');
    const dead = ca(intermediate, stranger);
    const live = ca(intermediate, root);
    const signer = party('signer');
    const verified = verifyCertificateChain(
      [leaf(signer, intermediate), dead, live],
      [x509(ca(root))],
      now,
    );
    assert.equal(verified.rootIndex, 0);
    assert.equal(verified.leaf.subject, 'CN=signer');
  });

  void it('a self-signed signing certificate pinned as the first root verifies', () => {
    const signer = party('pinned signer');
    const self = buildCertificate({
      cn: signer.cn,
      publicKey: signer.publicKey,
      selfKey: signer.key,
      from,
      to,
      keyUsage: keyUsageBits.digitalSignature,
    });
    const verified = verifyCertificateChain([self], [x509(self), x509(ca(party('other')))], now);
    assert.equal(verified.rootIndex, 0);
    assert.equal(verified.rootFingerprint, x509(self).fingerprint256);
  });

  void it('a certificate that cannot be parsed is refused with its cause', () => {
    assert.throws(
      () => verifyCertificateChain([Buffer.from('junk')], [], now),
      (error: unknown) => {
        refusal(
          'certificate-invalid',
          'signature bundle holds a certificate that cannot be parsed',
        )(error);
        assert.ok((error as Error).cause instanceof Error, 'the parse error is kept');
        return true;
      },
    );
  });

  void it('an expired signer is named by its whole subject, on one line', () => {
    const root = party('root');
    const signer = party('signer');
    const expired = leaf(signer, root, { org: 'acme', to: new Date('2026-02-01T00:00:00Z') });
    assert.throws(
      () => verifyCertificateChain([expired], [x509(ca(root))], now),
      refusal(
        'certificate-expired',
        `signing certificate "O=acme, CN=signer" is not valid at ${now.toISOString()} (valid ${x509(expired).validFrom} to ${x509(expired).validTo})`,
      ),
    );
  });
});

void describe('certificate chain: issuers', () => {
  const root = party('root');
  const intermediate = party('intermediate');
  const signer = party('signer');

  void it('an issuer whose key usage lacks keyCertSign, or cannot be read, is not a CA', () => {
    for (const extra of [
      { keyUsage: keyUsageBits.digitalSignature },
      { rawKeyUsage: Buffer.from([0x05, 0x00]) },
    ]) {
      const weak = ca(intermediate, root, extra);
      assert.throws(
        () => verifyCertificateChain([leaf(signer, intermediate), weak], [x509(ca(root))], now),
        refusal('certificate-invalid', 'issuing certificate "CN=intermediate" is not a CA'),
      );
    }
  });

  void it('an issuer without a key usage extension is not refused for it', () => {
    const silent = ca(intermediate, root, { keyUsage: undefined });
    const verified = verifyCertificateChain(
      [leaf(signer, intermediate), silent],
      [x509(ca(root))],
      now,
    );
    assert.equal(verified.rootIndex, 0);
  });
});

void describe('certificate chain: the signing certificate', () => {
  const root = party('root');
  const signer = party('signer');

  void it('an empty extendedKeyUsage restricts nothing when keyUsage allows signing', () => {
    const verified = verifyCertificateChain(
      [leaf(signer, root, { eku: [] })],
      [x509(ca(root))],
      now,
    );
    assert.equal(verified.leaf.subject, 'CN=signer');
  });

  void it('a signing certificate whose key usage cannot be read', () => {
    assert.throws(
      () =>
        verifyCertificateChain(
          [leaf(signer, root, { rawKeyUsage: Buffer.from([0x05, 0x00]) })],
          [x509(ca(root))],
          now,
        ),
      (error: unknown) => {
        refusal(
          'certificate-invalid',
          'signing certificate has an unreadable keyUsage extension',
        )(error);
        assert.ok((error as Error).cause instanceof Error, 'the parse error is kept');
        return true;
      },
    );
  });

  void it('an empty extendedKeyUsage and no keyUsage say nothing: refused', () => {
    assert.throws(
      () =>
        verifyCertificateChain(
          [leaf(signer, root, { eku: [], keyUsage: undefined })],
          [x509(ca(root))],
          now,
        ),
      refusal(
        'certificate-invalid',
        'signing certificate has neither keyUsage nor code-signing extendedKeyUsage',
      ),
    );
  });
});
