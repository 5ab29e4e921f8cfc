// Keyless verification in detail, on a private Sigstore instance made at test time: the signer
// it reports (which identity entry matched, issuer, log time and index), the identity rules (exact
// SAN, issuer optional), and each refusal's exact message. Real certificates, SCTs and Rekor
// entries; nothing is fetched.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parseSigstoreTrustedRoot } from '../../../src/models/oms/sigstore-trusted-root.js';
import { verifyKeylessEnvelope } from '../../../src/models/oms/verify-keyless.js';
import { verifyModelDirectory } from '../../../src/models/oms/verify-model.js';
import { refusal } from './oms-refusal.js';
import { createTempModel } from './oms-test-fixtures.js';
import { createTestSigstore, editBundle } from './sigstore-test-instance.js';

const sigstore = createTestSigstore();
const sigstoreRoot = parseSigstoreTrustedRoot(Buffer.from(sigstore.trustedRootJson), 'test');
const who = { identity: 'ci@example.com', issuer: 'https://issuer.example.com' };
const at = new Date('2025-02-03T04:05:06Z');

async function signed(
  t: TestContext,
  options: Partial<Parameters<typeof sigstore.signKeyless>[1]> = {},
) {
  const model = await createTempModel({ 'model.onnx': 'weights' });
  t.after(model.cleanup);
  const bundle = await sigstore.signKeyless(model.root, { ...who, integratedTime: at, ...options });
  return { root: model.root, bundle: JSON.parse(bundle) as unknown };
}

void describe('keyless signer', () => {
  void it('reports the matching entry, the issuer, the log time and the log index', async (t) => {
    const { root } = await signed(t);
    const identities = [
      { identity: 'someone@example.com' },
      { identity: who.identity, issuer: 'https://other' },
      who,
    ];
    const verified = await verifyModelDirectory({ root, trust: { identities, sigstoreRoot } });
    assert.ok(verified.signer.method === 'keyless', "verified.signer.method === 'keyless'");
    assert.equal(verified.signer.identityIndex, 2);
    assert.equal(verified.signer.identity, who.identity);
    assert.equal(verified.signer.issuer, who.issuer);
    assert.equal(verified.signer.integratedTime?.toISOString(), at.toISOString());
    assert.match(verified.signer.logIndex ?? '', /^\d+$/);
    assert.equal(verified.legacyFormat, false);
  });

  void it('an entry without an issuer accepts any issuer, but the SAN must match exactly', async (t) => {
    const { bundle } = await signed(t);
    const anyIssuer = verifyKeylessEnvelope(
      bundle,
      [{ identity: who.identity }],
      () => sigstoreRoot,
    );
    assert.equal(anyIssuer.signer.identityIndex, 0);
    assert.equal(anyIssuer.signer.issuer, who.issuer);
    assert.ok(anyIssuer.payload.length > 0, 'anyIssuer.payload.length > 0');
    for (const identity of ['CI@example.com', 'ci@example.co', 'ci@example.com ', '.*']) {
      assert.throws(
        () => verifyKeylessEnvelope(bundle, [{ identity }], () => sigstoreRoot),
        refusal(
          'untrusted-identity',
          `model was signed by "ci@example.com" (issuer "https://issuer.example.com"), which is not a trusted identity`,
        ),
        identity,
      );
    }
  });

  void it('the trusted root is only read when there is something to check', async (t) => {
    const { bundle } = await signed(t);
    let reads = 0;
    const root = () => {
      reads += 1;
      return sigstoreRoot;
    };
    assert.throws(
      () => verifyKeylessEnvelope(bundle, [], root),
      refusal(
        'untrusted-identity',
        'model is signed keyless (Sigstore), but no trusted identities are configured',
      ),
    );
    assert.equal(reads, 0);
    verifyKeylessEnvelope(bundle, [who], root);
    assert.equal(reads, 1);
  });
});

void describe('keyless refusals', () => {
  void it('a certificate outside its validity at the log time names both times', async (t) => {
    const from = new Date(at.getTime() - 20 * 60_000);
    const to = new Date(at.getTime() - 10 * 60_000);
    const { root } = await signed(t, { validFrom: from, validTo: to });
    await assert.rejects(
      verifyModelDirectory({ root, trust: { identities: [who], sigstoreRoot } }),
      refusal(
        'certificate-expired',
        `the signing certificate (valid ${from.toISOString()} to ${to.toISOString()}) was not valid when the log recorded the signature at ${at.toISOString()}`,
      ),
    );
  });

  void it('a certificate without the code-signing usage', async (t) => {
    const { bundle } = await signed(t, { omit: 'code-signing' });
    assert.throws(
      () => verifyKeylessEnvelope(bundle, [who], () => sigstoreRoot),
      refusal('certificate-invalid', 'keyless signing certificate is not for code signing'),
    );
  });

  void it('a certificate that cannot be parsed', async (t) => {
    const { root } = await signed(t);
    await editBundle(join(root, 'model.sig'), (b) => {
      b.verificationMaterial.certificate.rawBytes =
        Buffer.from('not a certificate').toString('base64');
    });
    await assert.rejects(
      verifyModelDirectory({ root, trust: { identities: [who], sigstoreRoot } }),
      refusal('certificate-invalid', 'keyless signing certificate cannot be parsed'),
    );
  });

  void it('an entry from a log the trusted root does not list', async (t) => {
    const { bundle } = await signed(t);
    const other = parseSigstoreTrustedRoot(
      Buffer.from(createTestSigstore().trustedRootJson),
      'other',
    );
    assert.throws(
      () => verifyKeylessEnvelope(bundle, [who], () => other),
      refusal(
        'tlog-invalid',
        /^the signature was logged by a transparency log the trusted root does not list \(log id [A-Za-z0-9+/=]+\); is it the right Sigstore trusted root\?$/,
      ),
    );
  });

  void it('an entry whose recorded time was altered', async (t) => {
    const { root } = await signed(t);
    await editBundle(join(root, 'model.sig'), (b) => {
      const entry = b.verificationMaterial.tlogEntries[0];
      assert.ok(entry !== undefined, 'entry !== undefined');
      entry['integratedTime'] = String(Math.floor(at.getTime() / 1000) + 1);
    });
    await assert.rejects(
      verifyModelDirectory({ root, trust: { identities: [who], sigstoreRoot } }),
      refusal('tlog-invalid', /^transparency log entry does not verify: /),
    );
  });

  void it('a bundle that is not a Sigstore bundle, or signs no DSSE envelope', async (t) => {
    const { bundle } = await signed(t);
    const b = bundle as Record<string, unknown>;
    assert.throws(
      () => verifyKeylessEnvelope({ ...b, mediaType: 'x' }, [who], () => sigstoreRoot),
      refusal('bundle-malformed', /^keyless signature bundle is malformed: /),
    );
    const { dsseEnvelope: _dsse, ...rest } = b;
    assert.throws(
      () =>
        verifyKeylessEnvelope(
          {
            ...rest,
            messageSignature: {
              messageDigest: { algorithm: 'SHA2_256', digest: 'AA==' },
              signature: 'AA==',
            },
          },
          [who],
          () => sigstoreRoot,
        ),
      refusal('bundle-malformed', 'keyless signature bundle has no DSSE envelope'),
    );
  });
});
