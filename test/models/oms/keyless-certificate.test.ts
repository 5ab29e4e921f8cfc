// Keyless bundles whose certificate, log entry or timestamps are shaped unlike Fulcio's and
// Rekor's, each refused for its own reason with its whole message (or verified, where the shape is
// legitimate), and the "expired or untrusted" judgement at its boundaries. A private Sigstore
// instance made at test time; nothing is fetched.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { bundleFromJSON, ValidationError } from '@sigstore/bundle';
import { parseSigstoreTrustedRoot } from '../../../src/models/oms/sigstore-trusted-root.js';
import { outsideValidity, verifyKeylessEnvelope } from '../../../src/models/oms/verify-keyless.js';
import { verifyModelDirectory } from '../../../src/models/oms/verify-model.js';
import { refusal } from './oms-refusal.js';
import { createTempModel } from './oms-test-fixtures.js';
import {
  createTestSigstore,
  editBundle,
  type KeylessSignOptions,
} from './sigstore-test-instance.js';

const sigstore = createTestSigstore();
const sigstoreRoot = parseSigstoreTrustedRoot(Buffer.from(sigstore.trustedRootJson), 'test');
const who = { identity: 'ci@example.com', issuer: 'https://issuer.example.com' };
const at = new Date('2025-02-03T04:05:06Z');
const atSeconds = Math.floor(at.getTime() / 1000);

interface Signed {
  readonly root: string;
  readonly bundle: Record<string, unknown>;
}

async function signed(t: TestContext, options: Partial<KeylessSignOptions> = {}): Promise<Signed> {
  const model = await createTempModel({ 'model.onnx': 'weights' });
  t.after(model.cleanup);
  const bundle = await sigstore.signKeyless(model.root, { ...who, integratedTime: at, ...options });
  return { root: model.root, bundle: JSON.parse(bundle) as Record<string, unknown> };
}

const check = (bundle: unknown, identities: readonly { identity: string; issuer?: string }[]) =>
  verifyKeylessEnvelope(bundle, identities, () => sigstoreRoot);

/** The same logs as the instance's root, and another instance's Fulcio CA. */
function rootWithOtherCa() {
  const mixed = JSON.parse(sigstore.trustedRootJson) as Record<string, unknown>;
  mixed['certificateAuthorities'] = (
    JSON.parse(createTestSigstore().trustedRootJson) as Record<string, unknown>
  )['certificateAuthorities'];
  return parseSigstoreTrustedRoot(Buffer.from(JSON.stringify(mixed)), 'mixed');
}

void describe('keyless certificate shapes', () => {
  void it('no EKU extension, or a key usage without digitalSignature: not for code signing', async (t) => {
    for (const omit of ['eku', 'digital-signature'] as const) {
      const { bundle } = await signed(t, { omit });
      assert.throws(
        () => check(bundle, [who]),
        refusal('certificate-invalid', 'keyless signing certificate is not for code signing'),
        omit,
      );
    }
  });

  void it('no key usage extension at all: the code-signing EKU decides, and it verifies', async (t) => {
    const { bundle } = await signed(t, { omit: 'key-usage' });
    const verified = check(bundle, [who]);
    assert.equal(verified.signer.identity, who.identity);
  });

  void it('no SAN: refused, naming an empty signer', async (t) => {
    const { bundle } = await signed(t, { omit: 'san' });
    assert.throws(
      () => check(bundle, [who, { identity: '' }]),
      refusal(
        'untrusted-identity',
        'model was signed by "" (issuer "https://issuer.example.com"), which is not a trusted identity',
      ),
    );
  });

  void it('no issuer extension: only an identity entry without an issuer matches', async (t) => {
    const { bundle } = await signed(t, { issuerExtensions: {} });
    const verified = check(bundle, [{ identity: who.identity }]);
    assert.equal(verified.signer.issuer, undefined);
    assert.throws(
      () => check(bundle, [who]),
      refusal(
        'untrusted-identity',
        'model was signed by "ci@example.com" (issuer ""), which is not a trusted identity',
      ),
    );
  });

  void it('a CA the root does not list: the whole message, with the library cause', async (t) => {
    const { bundle } = await signed(t);
    assert.throws(
      () => verifyKeylessEnvelope(bundle, [who], rootWithOtherCa),
      (error: unknown) => {
        refusal(
          'certificate-invalid',
          /^keyless signing certificate is not trusted: Failed to verify certificate chain \(.+\)$/,
        )(error);
        assert.ok(error instanceof Error && error.cause instanceof Error);
        assert.equal((error.cause as Error & { code?: string }).code, 'CERTIFICATE_ERROR');
        return true;
      },
    );
  });

  void it('a certificate valid from or until exactly the log time verifies', async (t) => {
    for (const validity of [
      { validFrom: at, validTo: new Date(at.getTime() + 600_000) },
      { validFrom: new Date(at.getTime() - 600_000), validTo: at },
    ]) {
      const { bundle } = await signed(t, validity);
      assert.equal(check(bundle, [who]).signer.integratedTime?.toISOString(), at.toISOString());
    }
  });
});

void describe('keyless log entries and timestamps', () => {
  void it('an RFC 3161 timestamp that cannot be read: bundle-malformed', async (t) => {
    const { bundle } = await signed(t);
    const material = bundle['verificationMaterial'] as Record<string, unknown>;
    material['timestampVerificationData'] = { rfc3161Timestamps: [{ signedTimestamp: 'AAAA' }] };
    assert.throws(
      () => check(bundle, [who]),
      refusal(
        'bundle-malformed',
        "keyless signature bundle's certificate or RFC 3161 timestamp cannot be read: unsupported tag 0x00",
      ),
    );
  });

  void it('a body the log signed that is not a Rekor entry: tlog-invalid, not a certificate fault', async (t) => {
    const { bundle } = await signed(t, { logBody: Buffer.from('not json') });
    assert.throws(
      () => check(bundle, [who]),
      refusal(
        'tlog-invalid',
        `transparency log entry cannot be read: Unexpected token 'o', "not json" is not valid JSON`,
      ),
    );
    const { bundle: empty } = await signed(t, { logBody: Buffer.from('{}') });
    assert.throws(
      () => check(empty, [who]),
      refusal(
        'tlog-invalid',
        'transparency log entry does not verify: kind/version mismatch - expected: dsse/0.0.1, received: undefined/undefined',
      ),
    );
  });

  void it('an entry whose inclusion proof does not add up: tlog-invalid', async (t) => {
    const { root } = await signed(t);
    await editBundle(join(root, 'model.sig'), (b) => {
      const proof = b.verificationMaterial.tlogEntries[0]?.['inclusionProof'] as {
        hashes: string[];
      };
      proof.hashes = [Buffer.alloc(32).toString('base64')];
    });
    await assert.rejects(
      verifyModelDirectory({ root, trust: { identities: [who], sigstoreRoot } }),
      refusal(
        'tlog-invalid',
        'transparency log entry does not verify: calculated root hash does not match inclusion proof',
      ),
    );
  });

  void it('a bundle with a public key instead of a certificate: bundle-malformed', async (t) => {
    const { bundle } = await signed(t);
    const material = bundle['verificationMaterial'] as Record<string, unknown>;
    delete material['certificate'];
    material['publicKey'] = { hint: 'a-key' };
    assert.throws(
      () => check(bundle, [who]),
      refusal('bundle-malformed', 'keyless signature bundle carries no Fulcio certificate'),
    );
  });

  void it('a malformed bundle names its bad fields and keeps the cause', async (t) => {
    const { bundle } = await signed(t);
    const material = bundle['verificationMaterial'] as { tlogEntries: Record<string, unknown>[] };
    delete material.tlogEntries[0]?.['logId'];
    assert.throws(
      () => check(bundle, [who]),
      (error: unknown) => {
        refusal(
          'bundle-malformed',
          'keyless signature bundle is malformed: invalid bundle (verificationMaterial.tlogEntries[0].logId)',
        )(error);
        assert.ok((error as Error).cause instanceof ValidationError, 'the cause is kept');
        return true;
      },
    );
    assert.throws(
      () => check({}, [who]),
      refusal(
        'bundle-malformed',
        'keyless signature bundle is malformed: invalid bundle (mediaType, content, verificationMaterial)',
      ),
    );
    // A field of the wrong type fails in the decoder, with no field list.
    const { bundle: other } = await signed(t);
    (other['dsseEnvelope'] as Record<string, unknown>)['payload'] = 5;
    assert.throws(
      () => check(other, [who]),
      refusal(
        'bundle-malformed',
        /^keyless signature bundle is malformed: The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object\. Received type number \(5\)$/,
      ),
    );
  });
});

void describe('expired or untrusted: outsideValidity', () => {
  /** A parsed bundle of the instance, its first entry edited, and its leaf certificate. */
  async function entryAt(
    t: TestContext,
    seconds: number,
    withSet: boolean,
  ): Promise<[X509Certificate, ReturnType<typeof bundleFromJSON>]> {
    const { bundle } = await signed(t, {
      validFrom: new Date((atSeconds - 60) * 1000),
      validTo: new Date((atSeconds + 60) * 1000),
    });
    const material = bundle['verificationMaterial'] as {
      certificate: { rawBytes: string };
      tlogEntries: Record<string, unknown>[];
    };
    const entry = material.tlogEntries[0];
    assert.ok(entry !== undefined);
    entry['integratedTime'] = String(seconds);
    if (!withSet) delete entry['inclusionPromise'];
    const leaf = new X509Certificate(Buffer.from(material.certificate.rawBytes, 'base64'));
    return [leaf, bundleFromJSON(bundle)];
  }
  const expired = (seconds: number) =>
    `the signing certificate (valid ${new Date((atSeconds - 60) * 1000).toISOString()} to ${new Date((atSeconds + 60) * 1000).toISOString()}) was not valid when the log recorded the signature at ${new Date(seconds * 1000).toISOString()}`;

  void it('a signed log time inside the validity, its ends included, is not "expired"', async (t) => {
    for (const seconds of [atSeconds - 60, atSeconds, atSeconds + 60]) {
      assert.equal(outsideValidity(...(await entryAt(t, seconds, true))), undefined, `${seconds}`);
    }
  });

  void it('a signed log time one second outside is quoted', async (t) => {
    for (const seconds of [atSeconds - 61, atSeconds + 61, 0]) {
      assert.equal(outsideValidity(...(await entryAt(t, seconds, true))), expired(seconds));
    }
  });

  void it('the time of an entry without a SET is signed by nobody and never quoted', async (t) => {
    assert.equal(outsideValidity(...(await entryAt(t, atSeconds + 3600, false))), undefined);
  });
});
