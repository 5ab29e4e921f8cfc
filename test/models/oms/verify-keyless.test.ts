// Keyless (Sigstore) verification through the library API: the public-good vectors signed by the
// reference tool, and bundles from a private instance made here for what nobody can sign with
// the public-good one (other identities, certificates outside their validity at log time).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { isOmsVerificationError } from '../../../src/models/oms/oms-verification-error.js';
import {
  parseSigstoreTrustedRoot,
  publicGoodTrustedRoot,
} from '../../../src/models/oms/sigstore-trusted-root.js';
import type { OmsTrust } from '../../../src/models/oms/verify-envelope.js';
import type { TrustedIdentity } from '../../../src/models/oms/verify-keyless.js';
import { verifyModelDirectory } from '../../../src/models/oms/verify-model.js';
import { createTempModel, vectorsRoot } from './oms-test-fixtures.js';
import { createTestSigstore, editBundle } from './sigstore-test-instance.js';

const vector = join(vectorsRoot, 'model-transparency/v1.1.0-sigstore');
const absent = existsSync(vector) ? false : `OMS vectors not found at ${vectorsRoot}`;
const signer: TrustedIdentity = {
  identity: 'stefanb@us.ibm.com',
  issuer: 'https://sigstore.verify.ibm.com/oauth2',
};

async function copyVector(t: TestContext, from = vector): Promise<string> {
  const base = await mkdtemp(join(tmpdir(), 'bastion-keyless-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  await cp(from, join(base, 'model'), { recursive: true });
  return join(base, 'model');
}

function verify(root: string, trust: OmsTrust) {
  return verifyModelDirectory({ root, trust, ignorePaths: ['ignore-me'] });
}

/** Asserts the promise rejects with an OMS refusal for `reason`. */
async function refused(run: Promise<unknown>, reason: string): Promise<void> {
  await assert.rejects(run, (error: unknown) => {
    assert.ok(isOmsVerificationError(error), `expected a refusal, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.ok(!error.message.includes('\n') && !error.message.includes('    at '));
    return true;
  });
}

describe('keyless: public-good vectors', { skip: absent }, () => {
  test('verifies with the exact identity and issuer, at the log time', async (t) => {
    const verified = await verify(await copyVector(t), { identities: [signer] });
    const by = verified.signer;
    assert.ok(by.method === 'keyless', `signed by ${by.method}`);
    assert.equal(by.identity, signer.identity);
    assert.equal(by.issuer, signer.issuer);
    assert.equal(by.integratedTime?.toISOString(), '2025-10-10T02:12:20.000Z');
    assert.deepEqual([...verified.files.keys()].sort(), ['signme-1', 'signme-2']);
  });

  test('picks the matching entry among several identities', async (t) => {
    const other = { identity: 'someone@example.com', issuer: signer.issuer };
    const verified = await verify(await copyVector(t), { identities: [other, signer] });
    assert.equal(verified.signer.method === 'keyless' && verified.signer.identityIndex, 1);
  });

  test('an identity entry without an issuer accepts any issuer (development)', async (t) => {
    const verified = await verify(await copyVector(t), {
      identities: [{ identity: signer.identity }],
    });
    assert.equal(verified.signer.method, 'keyless');
  });

  const wrong: [string, TrustedIdentity[]][] = [
    ['no identity is trusted', []],
    ['a wrong identity', [{ identity: 'mallory@us.ibm.com', issuer: signer.issuer }]],
    ['a wrong issuer', [{ identity: signer.identity, issuer: 'https://accounts.google.com' }]],
    ['a prefix of the identity', [{ identity: 'stefanb@us.ibm.co', issuer: signer.issuer }]],
    ['a pattern instead of the identity', [{ identity: '.*', issuer: signer.issuer }]],
    [
      'the issuer with a trailing slash',
      [{ identity: signer.identity, issuer: `${signer.issuer}/` }],
    ],
  ];
  for (const [name, identities] of wrong) {
    test(`refuses ${name}: untrusted-identity`, async (t) => {
      await refused(verify(await copyVector(t), { identities }), 'untrusted-identity');
    });
  }

  test('refuses a keyless bundle when only keys and roots are trusted', async (t) => {
    await refused(verify(await copyVector(t), { keys: [], roots: [] }), 'untrusted-identity');
  });

  test('refuses a tampered, an added and a removed file', async (t) => {
    const root = await copyVector(t);
    await writeFile(join(root, 'signme-1'), 'tampered');
    await refused(verify(root, { identities: [signer] }), 'digest-mismatch');
    const added = await copyVector(t);
    await writeFile(join(added, 'extra.bin'), 'unsigned');
    await refused(verify(added, { identities: [signer] }), 'file-extra');
    const removed = await copyVector(t);
    await rm(join(removed, 'signme-2'));
    await refused(verify(removed, { identities: [signer] }), 'file-missing');
  });

  const tlogEdits: [string, (entry: Record<string, unknown>) => void][] = [
    [
      'the SET',
      (entry) => {
        const promise = entry.inclusionPromise as { signedEntryTimestamp: string };
        const set = Buffer.from(promise.signedEntryTimestamp, 'base64');
        set[set.length - 3] = (set[set.length - 3] ?? 0) ^ 0x01;
        promise.signedEntryTimestamp = set.toString('base64');
      },
    ],
    ['the integrated time', (entry) => void (entry.integratedTime = '1760062341')],
    ['the log index', (entry) => void (entry.logIndex = '1')],
    [
      'the Rekor entry body',
      (entry) => {
        const body = JSON.parse(
          Buffer.from(entry.canonicalizedBody as string, 'base64').toString('utf8'),
        ) as { spec: { payloadHash: { value: string } } };
        body.spec.payloadHash.value = '0'.repeat(64);
        entry.canonicalizedBody = Buffer.from(JSON.stringify(body)).toString('base64');
      },
    ],
    [
      'the inclusion proof checkpoint',
      (entry) => {
        const proof = entry.inclusionProof as { checkpoint: { envelope: string } };
        proof.checkpoint.envelope = proof.checkpoint.envelope.replace(/\n\d+\n/, '\n1\n');
      },
    ],
    [
      'the log id',
      (entry) => void (entry.logId = { keyId: Buffer.alloc(32, 7).toString('base64') }),
    ],
  ];
  for (const [name, edit] of tlogEdits) {
    test(`refuses a bundle whose ${name} is altered: tlog-invalid`, async (t) => {
      const root = await copyVector(t);
      await editBundle(join(root, 'model.sig'), (bundle) => {
        const [entry] = bundle.verificationMaterial.tlogEntries;
        assert.ok(entry !== undefined);
        edit(entry);
      });
      await refused(verify(root, { identities: [signer] }), 'tlog-invalid');
    });
  }

  test('refuses a bundle with no transparency log entry: tlog-invalid', async (t) => {
    const root = await copyVector(t);
    await editBundle(join(root, 'model.sig'), (bundle) => {
      bundle.verificationMaterial.tlogEntries = [];
    });
    // A TSA timestamp alone does not replace the log entry: one is required.
    await refused(verify(root, { identities: [signer] }), 'tlog-invalid');
  });

  test('refuses a certificate swapped in from another signing', async (t) => {
    const root = await copyVector(t);
    const other = JSON.parse(
      await readFile(join(vectorsRoot, 'model-transparency/v1.0.1-sigstore/model.sig'), 'utf8'),
    ) as { verificationMaterial: { certificate: { rawBytes: string } } };
    await editBundle(join(root, 'model.sig'), (bundle) => {
      bundle.verificationMaterial.certificate = other.verificationMaterial.certificate;
    });
    await assert.rejects(verify(root, { identities: [signer] }), (error: unknown) => {
      assert.ok(isOmsVerificationError(error));
      // That certificate lived ten minutes on another day: expired when this entry was logged.
      assert.equal(error.reason, 'certificate-expired');
      return true;
    });
  });

  test('refuses a garbled certificate: certificate-invalid', async (t) => {
    const root = await copyVector(t);
    await editBundle(join(root, 'model.sig'), (bundle) => {
      bundle.verificationMaterial.certificate.rawBytes =
        Buffer.from('not a cert').toString('base64');
    });
    await refused(verify(root, { identities: [signer] }), 'certificate-invalid');
  });

  test('refuses the public-good bundle against a private trusted root: tlog-invalid', async (t) => {
    const sigstoreRoot = parseSigstoreTrustedRoot(
      Buffer.from(createTestSigstore().trustedRootJson),
      'private',
    );
    // The public-good Rekor log is the first thing that root does not know.
    await refused(
      verify(await copyVector(t), { identities: [signer], sigstoreRoot }),
      'tlog-invalid',
    );
  });
});

describe('keyless: a private Sigstore instance', () => {
  const sigstore = createTestSigstore();
  const sigstoreRoot = parseSigstoreTrustedRoot(Buffer.from(sigstore.trustedRootJson), 'test');
  const who = { identity: 'ci@example.com', issuer: 'https://issuer.example.com' };

  async function signed(
    t: TestContext,
    options: Partial<Parameters<typeof sigstore.signKeyless>[1]> = {},
  ) {
    const model = await createTempModel({ 'model.onnx': 'weights', 'sub/labels.txt': 'a\nb\n' });
    t.after(model.cleanup);
    await sigstore.signKeyless(model.root, { ...who, ...options });
    return model.root;
  }

  test('verifies with the configured root, and is refused with the public-good one', async (t) => {
    const root = await signed(t);
    const verified = await verify(root, { identities: [who], sigstoreRoot });
    assert.deepEqual([...verified.files.keys()].sort(), ['model.onnx', 'sub/labels.txt']);
    await refused(verify(root, { identities: [who] }), 'tlog-invalid');
  });

  test('refuses a certificate from a CA the root does not list: certificate-invalid', async (t) => {
    const root = await signed(t);
    // The same logs, but another instance's Fulcio CA.
    const mixed = JSON.parse(sigstore.trustedRootJson) as Record<string, unknown>;
    mixed.certificateAuthorities = (
      JSON.parse(createTestSigstore().trustedRootJson) as Record<string, unknown>
    ).certificateAuthorities;
    const otherCa = parseSigstoreTrustedRoot(Buffer.from(JSON.stringify(mixed)), 'mixed');
    await refused(
      verify(root, { identities: [who], sigstoreRoot: otherCa }),
      'certificate-invalid',
    );
  });

  test('judges the certificate at the log time, not now', async (t) => {
    const at = new Date('2021-06-01T12:00:00Z');
    const root = await signed(t, { integratedTime: at });
    const verified = await verify(root, { identities: [who], sigstoreRoot });
    assert.equal(
      verified.signer.method === 'keyless' && verified.signer.integratedTime?.toISOString(),
      at.toISOString(),
    );
  });

  test('refuses a certificate that expired before the log recorded it: certificate-expired', async (t) => {
    const at = new Date('2024-03-01T12:00:00Z');
    const root = await signed(t, {
      integratedTime: at,
      validFrom: new Date(at.getTime() - 20 * 60_000),
      validTo: new Date(at.getTime() - 10 * 60_000),
    });
    await refused(verify(root, { identities: [who], sigstoreRoot }), 'certificate-expired');
  });

  test('refuses a certificate not yet valid when the log recorded it: certificate-expired', async (t) => {
    const at = new Date('2024-03-01T12:00:00Z');
    const root = await signed(t, {
      integratedTime: at,
      validFrom: new Date(at.getTime() + 60_000),
      validTo: new Date(at.getTime() + 600_000),
    });
    await refused(verify(root, { identities: [who], sigstoreRoot }), 'certificate-expired');
  });

  test('refuses a certificate without an SCT or without code signing: certificate-invalid', async (t) => {
    await refused(
      verify(await signed(t, { omit: 'sct' }), { identities: [who], sigstoreRoot }),
      'certificate-invalid',
    );
    await refused(
      verify(await signed(t, { omit: 'code-signing' }), { identities: [who], sigstoreRoot }),
      'certificate-invalid',
    );
  });

  test('refuses another identity or issuer of the same instance', async (t) => {
    const root = await signed(t, { identity: 'intruder@example.com' });
    await refused(verify(root, { identities: [who], sigstoreRoot }), 'untrusted-identity');
    const other = await signed(t, { issuer: 'https://evil.example.com' });
    await refused(verify(other, { identities: [who], sigstoreRoot }), 'untrusted-identity');
  });
});

describe('keyless: trusted root files', () => {
  test('the shipped public-good root names Fulcio and Rekor', () => {
    const root = publicGoodTrustedRoot();
    assert.ok(root.material.certificateAuthorities.length >= 1);
    assert.ok(root.material.tlogs.some((log) => log.baseURL === 'https://rekor.sigstore.dev'));
    assert.ok(root.material.ctlogs.length >= 1);
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{', /not valid JSON/],
    ['an array', '[]', /not an object/],
    ['a wrong media type', '{"mediaType":"application/json"}', /mediaType/],
    [
      'no certificate authority',
      '{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[]}',
      /certificateAuthorities/,
    ],
  ];
  for (const [name, text, message] of bad) {
    test(`refuses a trusted root that is ${name}, naming the file`, () => {
      assert.throws(
        () => parseSigstoreTrustedRoot(Buffer.from(text), 'root.json'),
        (error: Error) =>
          error.message.startsWith('root.json is not a Sigstore') && message.test(error.message),
      );
    });
  }
});
