// Keyless bundles an attacker could put together: a signature the log never recorded, a trusted
// time taken from an unsigned field, a signature by a key other than the certificate's, a SAN
// of another type and a certificate whose two issuer extensions disagree. Each must be refused
// for its own reason, with its exact message; the legitimate variants (a workflow URI identity, an old Fulcio
// certificate with only the v1 issuer extension) must verify.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { isOmsVerificationError } from '../../../src/models/oms/oms-verification-error.js';
import { parseSigstoreTrustedRoot } from '../../../src/models/oms/sigstore-trusted-root.js';
import type { OmsTrust } from '../../../src/models/oms/verify-envelope.js';
import { verifyModelDirectory } from '../../../src/models/oms/verify-model.js';
import { createTempModel, vectorsRoot } from './oms-test-fixtures.js';
import {
  createTestSigstore,
  editBundle,
  type KeylessSignOptions,
} from './sigstore-test-instance.js';

const vector = join(vectorsRoot, 'model-transparency/v1.1.0-sigstore');
const absent = existsSync(vector) ? false : `OMS vectors not found at ${vectorsRoot}`;
const vectorSigner = {
  identity: 'stefanb@us.ibm.com',
  issuer: 'https://sigstore.verify.ibm.com/oauth2',
};

type Bundle = Parameters<Parameters<typeof editBundle>[1]>[0] & {
  dsseEnvelope: { payload: string; signatures: { sig: string }[] };
};

const verify = (root: string, trust: OmsTrust) =>
  verifyModelDirectory({ root, trust, ignorePaths: ['ignore-me'] });

async function refused(run: Promise<unknown>, reason: string, message: string): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(isOmsVerificationError(error), `expected a refusal, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    // The whole one-line message: what an operator reads in the log and acts on.
    assert.equal(error.message, message);
    return true;
  });
}

async function editedVector(t: TestContext, edit: (bundle: Bundle) => void): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'bastion-keyless-attack-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'model');
  await cp(vector, root, { recursive: true });
  await editBundle(join(root, 'model.sig'), (bundle) => {
    edit(bundle as Bundle);
  });
  return root;
}

describe('keyless attacks on the public-good vector', { skip: absent }, () => {
  test('an envelope signature the Rekor entry does not record: tlog-invalid', async (t) => {
    const root = await editedVector(t, (bundle) => {
      const [signature] = bundle.dsseEnvelope.signatures;
      assert.ok(signature !== undefined);
      const sig = Buffer.from(signature.sig, 'base64');
      sig[sig.length - 1] = (sig[sig.length - 1] ?? 0) ^ 0x01;
      signature.sig = sig.toString('base64');
    });
    await refused(
      verify(root, { identities: [vectorSigner] }),
      'tlog-invalid',
      'transparency log entry does not verify: tlog entry signature mismatch',
    );
  });

  test('the statement of another signing under this entry: tlog-invalid', async (t) => {
    const other = JSON.parse(
      await readFile(join(vectorsRoot, 'model-transparency/v1.0.1-sigstore/model.sig'), 'utf8'),
    ) as Bundle;
    const root = await editedVector(t, (bundle) => {
      bundle.dsseEnvelope.payload = other.dsseEnvelope.payload;
    });
    await refused(
      verify(root, { identities: [vectorSigner] }),
      'tlog-invalid',
      'transparency log entry does not verify: DSSE payload hash mismatch',
    );
  });

  test('without the SET only the RFC 3161 timestamp is trusted; without both: timestamp-invalid', async (t) => {
    const noSet = (bundle: Bundle): void => {
      for (const entry of bundle.verificationMaterial.tlogEntries) delete entry.inclusionPromise;
    };
    // The bundle also carries a public-good TSA timestamp: the signing time still has a proof.
    const verified = await verify(await editedVector(t, noSet), { identities: [vectorSigner] });
    assert.ok(verified.signer.method === 'keyless');
    assert.equal(verified.signer.integratedTime, undefined);
    const root = await editedVector(t, (bundle) => {
      noSet(bundle);
      (bundle as { verificationMaterial: Record<string, unknown> }).verificationMaterial[
        'timestampVerificationData'
      ] = { rfc3161Timestamps: [] };
    });
    await refused(
      verify(root, { identities: [vectorSigner] }),
      'timestamp-invalid',
      'signature timestamp does not verify: expected 1 timestamps, got 0',
    );
  });
});

describe('keyless attacks with a private Sigstore instance', () => {
  const sigstore = createTestSigstore();
  const sigstoreRoot = parseSigstoreTrustedRoot(Buffer.from(sigstore.trustedRootJson), 'test');
  const issuer = 'https://token.actions.githubusercontent.com';
  const workflow = 'https://github.com/acme/models/.github/workflows/sign.yml@refs/heads/main';

  async function signed(t: TestContext, options: KeylessSignOptions): Promise<string> {
    const model = await createTempModel({ 'model.onnx': 'weights' });
    t.after(model.cleanup);
    await sigstore.signKeyless(model.root, options);
    return model.root;
  }
  const trusting = (identity: string, by = issuer): OmsTrust => ({
    identities: [{ identity, issuer: by }],
    sigstoreRoot,
  });

  test('a signature by another key than the certificate, logged as is: bad-signature', async (t) => {
    const root = await signed(t, { identity: 'ci@example.com', issuer, signWithOtherKey: true });
    await refused(
      verify(root, trusting('ci@example.com')),
      'bad-signature',
      'model signature does not verify with the signing certificate',
    );
  });

  test('a workflow URI SAN verifies with that URI, exactly', async (t) => {
    const root = await signed(t, { identity: workflow, issuer, san: 'uri' });
    const verified = await verify(root, trusting(workflow));
    assert.equal(verified.signer.method === 'keyless' && verified.signer.identity, workflow);
    await refused(
      verify(root, trusting(workflow.replace('refs/heads/main', 'refs/heads/dev'))),
      'untrusted-identity',
      'model was signed by "https://github.com/acme/models/.github/workflows/sign.yml@refs/heads/main" (issuer "https://token.actions.githubusercontent.com"), which is not a trusted identity',
    );
    await refused(
      verify(root, trusting('https://github.com/acme/models')),
      'untrusted-identity',
      'model was signed by "https://github.com/acme/models/.github/workflows/sign.yml@refs/heads/main" (issuer "https://token.actions.githubusercontent.com"), which is not a trusted identity',
    );
  });

  test('an e-mail SAN does not match its mailto: URI form, nor a URI SAN its bare form', async (t) => {
    const email = await signed(t, { identity: 'ci@example.com', issuer });
    await refused(
      verify(email, trusting('mailto:ci@example.com')),
      'untrusted-identity',
      'model was signed by "ci@example.com" (issuer "https://token.actions.githubusercontent.com"), which is not a trusted identity',
    );
    const uri = await signed(t, { identity: 'mailto:ci@example.com', issuer, san: 'uri' });
    await refused(
      verify(uri, trusting('ci@example.com')),
      'untrusted-identity',
      'model was signed by "mailto:ci@example.com" (issuer "https://token.actions.githubusercontent.com"), which is not a trusted identity',
    );
  });

  test('the v2 issuer extension decides when the two disagree: untrusted-identity', async (t) => {
    const root = await signed(t, {
      identity: 'ci@example.com',
      issuer,
      issuerExtensions: { v1: issuer, v2: 'https://evil.example.com' },
    });
    await refused(
      verify(root, trusting('ci@example.com')),
      'untrusted-identity',
      'model was signed by "ci@example.com" (issuer "https://evil.example.com"), which is not a trusted identity',
    );
  });

  test('an old certificate with only the v1 issuer extension verifies', async (t) => {
    const root = await signed(t, {
      identity: 'ci@example.com',
      issuer,
      issuerExtensions: { v1: issuer },
    });
    const verified = await verify(root, trusting('ci@example.com'));
    assert.equal(verified.signer.method === 'keyless' && verified.signer.issuer, issuer);
    await refused(
      verify(root, trusting('ci@example.com', 'https://other')),
      'untrusted-identity',
      'model was signed by "ci@example.com" (issuer "https://token.actions.githubusercontent.com"), which is not a trusted identity',
    );
  });

  test('an expired certificate cannot borrow a time from an entry without a SET', async (t) => {
    const at = new Date('2024-03-01T12:00:00Z');
    const root = await signed(t, {
      identity: 'ci@example.com',
      issuer,
      integratedTime: at,
      validFrom: new Date(at.getTime() - 20 * 60_000),
      validTo: new Date(at.getTime() - 10 * 60_000),
    });
    await refused(
      verify(root, trusting('ci@example.com')),
      'certificate-expired',
      'the signing certificate (valid 2024-03-01T11:40:00.000Z to 2024-03-01T11:50:00.000Z) was not valid when the log recorded the signature at 2024-03-01T12:00:00.000Z',
    );
    await editBundle(join(root, 'model.sig'), (bundle) => {
      const [entry] = bundle.verificationMaterial.tlogEntries;
      assert.ok(entry !== undefined);
      // Inside the certificate's validity; the inclusion proof does not cover this field.
      entry.integratedTime = String(Math.floor(at.getTime() / 1000) - 15 * 60);
      delete entry.inclusionPromise;
    });
    // No SET and no TSA timestamp: no trusted time at all, whatever integratedTime says.
    await refused(
      verify(root, trusting('ci@example.com')),
      'timestamp-invalid',
      'signature timestamp does not verify: expected 1 timestamps, got 0',
    );
  });
});
