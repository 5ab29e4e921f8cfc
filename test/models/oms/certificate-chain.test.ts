import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { sign } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createPae } from '../../../src/models/oms/dsse-pae.js';
import { isOmsVerificationError } from '../../../src/models/oms/oms-verification-error.js';
import { signModelDirectory } from '../../../src/models/oms/sign-model.js';
import { verifyModelDirectory } from '../../../src/models/oms/verify-model.js';
import { createTempModel, createTestKeys } from './oms-test-fixtures.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = hasOpenssl() ? false : 'the openssl CLI is not installed';

/** Makes a root CA and a leaf (P-256) under `dir` with openssl; returns PEM paths. */
function createPki(dir: string, name: string, leafExt: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  run('genpkey', ...ec, '-out', `${name}-ca.key`);
  run(
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}-ca.key`,
    '-subj',
    `/CN=${name} root`,
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-out',
    `${name}-ca.pem`,
  );
  run('genpkey', ...ec, '-out', `${name}-leaf.key`);
  run(
    'req',
    '-new',
    '-key',
    `${name}-leaf.key`,
    '-subj',
    `/CN=${name} signer`,
    '-out',
    `${name}-leaf.csr`,
  );
  return {
    ca: `${name}-ca.pem`,
    caKey: `${name}-ca.key`,
    leafKey: `${name}-leaf.key`,
    leafExt,
    run,
  };
}

async function issueLeaf(dir: string, pki: ReturnType<typeof createPki>, ext: string, out: string) {
  await writeFile(join(dir, `${out}.ext`), ext);
  pki.run(
    'x509',
    '-req',
    '-in',
    pki.leafKey.replace('.key', '.csr'),
    '-CA',
    pki.ca,
    '-CAkey',
    pki.caKey,
    '-CAcreateserial',
    '-days',
    '10',
    '-extfile',
    `${out}.ext`,
    '-out',
    `${out}.pem`,
  );
  return readFile(join(dir, `${out}.pem`), 'utf8');
}

/** Re-signs a key-mode bundle as a certificate-mode one carrying `chainPems` (leaf first). */
async function toCertificateBundle(root: string, keyPem: string, chainPems: string[]) {
  const path = join(root, 'model.sig');
  const bundle = JSON.parse(await readFile(path, 'utf8')) as {
    verificationMaterial: unknown;
    dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
  };
  const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
  const sig = sign('sha256', createPae(bundle.dsseEnvelope.payloadType, payload), {
    key: keyPem,
    dsaEncoding: 'der',
  });
  bundle.dsseEnvelope.signatures = [{ sig: sig.toString('base64') }];
  bundle.verificationMaterial = {
    x509CertificateChain: {
      certificates: chainPems.map((pem) => ({
        rawBytes: pem.replace(/-----[A-Z ]+-----|\s/g, ''),
      })),
    },
  };
  await writeFile(path, JSON.stringify(bundle));
}

function rejectsWith(reason: string) {
  return (error: unknown): boolean => {
    assert.ok(isOmsVerificationError(error), String(error));
    assert.equal(error.reason, reason, error.message);
    return true;
  };
}

test(
  'certificate mode: chain to the configured root, expiry, other root, key usage',
  { skip },
  async (t) => {
    const model = await createTempModel({ 'model.onnx': 'w' });
    t.after(model.cleanup);
    const dir = join(model.root, '..');
    const pki = createPki(dir, 'good', '');
    const other = createPki(dir, 'other', '');
    const leafKey = await readFile(join(dir, pki.leafKey), 'utf8');
    const rootPem = await readFile(join(dir, pki.ca), 'utf8');
    const otherRoot = await readFile(join(dir, other.ca), 'utf8');
    const leaf = await issueLeaf(
      dir,
      pki,
      'keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n',
      'leaf',
    );
    const throwaway = createTestKeys();
    await signModelDirectory({ root: model.root, privateKeyPem: throwaway.privatePem });
    await toCertificateBundle(model.root, leafKey, [leaf]);

    const ok = await verifyModelDirectory({
      root: model.root,
      trust: { roots: [otherRoot, rootPem] },
    });
    assert.equal(ok.signer.method === 'certificate' && ok.signer.rootIndex, 1);

    const later = new Date(Date.now() + 20 * 86400_000);
    await assert.rejects(
      verifyModelDirectory({ root: model.root, trust: { roots: [rootPem] }, now: later }),
      rejectsWith('certificate-expired'),
    );
    await assert.rejects(
      verifyModelDirectory({ root: model.root, trust: { roots: [otherRoot] } }),
      rejectsWith('untrusted-key'),
    );
    await assert.rejects(
      verifyModelDirectory({ root: model.root, trust: { keys: [throwaway.publicPem] } }),
      rejectsWith('untrusted-key'),
    );

    const noSigning = await issueLeaf(dir, pki, 'keyUsage=critical,keyEncipherment\n', 'nosign');
    await toCertificateBundle(model.root, leafKey, [noSigning]);
    await assert.rejects(
      verifyModelDirectory({ root: model.root, trust: { roots: [rootPem] } }),
      rejectsWith('certificate-invalid'),
    );

    const serverAuth = await issueLeaf(dir, pki, 'extendedKeyUsage=serverAuth\n', 'server');
    await toCertificateBundle(model.root, leafKey, [serverAuth]);
    await assert.rejects(
      verifyModelDirectory({ root: model.root, trust: { roots: [rootPem] } }),
      rejectsWith('certificate-invalid'),
    );

    // Unrelated certificates in the bundle do not matter: the path is built by signature.
    await toCertificateBundle(model.root, leafKey, [leaf, otherRoot]);
    await verifyModelDirectory({ root: model.root, trust: { roots: [rootPem] } });
  },
);
