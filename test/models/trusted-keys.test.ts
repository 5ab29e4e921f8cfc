/**
 * `models.trustedKeys`: each key is parsed, type-checked and compiled once at start-up. The bug
 * these guard against: one RSA key in the list passed start-up and then made every key-signed
 * model fail verification (`[ec]` verified, `[rsa, ec]` and `[ec, rsa]` did not).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { parseConfigText } from '../../src/config/load-config.js';
import { signModelDirectory } from '../../src/models/oms/sign-model.js';
import { verifyModelDirectory } from '../../src/models/oms/verify-model.js';
import { loadTrustPolicy } from '../../src/models/trust-policy.js';
import { tempDir } from '../helpers/gateway.js';
import { createTestKeys } from './oms/oms-test-fixtures.js';

const spki = { type: 'spki', format: 'pem' } as const;
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .publicKey.export(spki)
  .toString();
const ed25519Pem = generateKeyPairSync('ed25519').publicKey.export(spki).toString();
const k256Pem = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  .publicKey.export(spki)
  .toString();

async function policyOf(dir: string, files: Record<string, string>) {
  const paths: string[] = [];
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(dir, name), text);
    paths.push(join(dir, name));
  }
  const config = parseConfigText(
    `models:\n  repository: ${JSON.stringify(dir)}\n  trustedKeys: ${JSON.stringify(paths)}\n`,
    join(dir, 'bastion.yaml'),
  );
  return loadTrustPolicy(config);
}

void describe('trusted keys', () => {
  const publisher = createTestKeys();

  void it('regression [rsa, ec] and [ec, rsa]: start-up refuses the RSA key, naming the file and the fix', async (t) => {
    const dir = await tempDir(t);
    for (const order of [
      { 'a-rsa.pub.pem': rsaPem, 'b-ec.pub.pem': publisher.publicPem },
      { 'b-ec.pub.pem': publisher.publicPem, 'a-rsa.pub.pem': rsaPem },
    ]) {
      await assert.rejects(policyOf(dir, order), (error: Error) => {
        assert.match(
          error.message,
          /^models\.trustedKeys: .*a-rsa\.pub\.pem is a key of type RSA;/,
        );
        assert.match(error.message, /ECDSA P-256, P-384 or P-521.*bastion keygen/);
        return true;
      });
    }
  });

  void it('refuses Ed25519, secp256k1, private keys and non-keys, each naming the file', async (t) => {
    const dir = await tempDir(t);
    const cases: [string, string, RegExp][] = [
      ['ed.pem', ed25519Pem, /ed\.pem is a key of type ED25519;/],
      ['k1.pem', k256Pem, /k1\.pem is a key of type EC secp256k1;/],
      ['priv.pem', publisher.privatePem, /priv\.pem holds a PRIVATE key/],
      ['junk.pem', 'not a key', /junk\.pem is not a PEM public key/],
    ];
    for (const [name, text, message] of cases) {
      await assert.rejects(policyOf(dir, { [name]: text }), message);
    }
    await assert.rejects(
      loadTrustPolicy(
        parseConfigText(
          `models:\n  repository: ${JSON.stringify(dir)}\n  trustedKeys: [${JSON.stringify(dir)}]\n`,
          join(dir, 'bastion.yaml'),
        ),
      ),
      /cannot read .* \(EISDIR\)/,
    );
  });

  void it('compiles each key once: every model gets the same KeyObject, P-256/384/521 accepted', async (t) => {
    const dir = await tempDir(t);
    const policy = await policyOf(dir, {
      'p256.pem': publisher.publicPem,
      'p384.pem': createTestKeys('secp384r1').publicPem,
      'p521.pem': createTestKeys('secp521r1').publicPem,
    });
    const a = policy.forModel('a').keys;
    const b = policy.forModel('b').keys;
    assert.equal(a.length, 3);
    for (const [i, key] of a.entries()) {
      assert.equal(key.type, 'public');
      assert.equal(key, b[i]);
    }
  });

  void it('regression: the verifier skips an unusable trusted key instead of failing every model', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'model.onnx'), buildIdentityModel('float32', [2]));
    await signModelDirectory({ root: dir, privateKeyPem: publisher.privatePem });
    for (const keys of [
      [rsaPem, publisher.publicPem],
      [publisher.publicPem, rsaPem],
      [publisher.publicPem],
    ]) {
      const verified = await verifyModelDirectory({ root: dir, trust: { keys } });
      assert.ok(verified.signer.method === 'key');
      assert.equal(keys[verified.signer.keyIndex], publisher.publicPem);
    }
    await assert.rejects(
      verifyModelDirectory({ root: dir, trust: { keys: [rsaPem] } }),
      /none of the trusted keys/,
    );
  });
});
