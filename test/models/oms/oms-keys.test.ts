// Unit tests of the signer key checks: the curve → hash table, trusted key parsing, the key hint,
// and the keyUsage reader, which parses DER by hand (node exposes no keyUsage). The DER here is
// built byte by byte in the test, so each length form and malformation is exercised exactly.
import assert from 'node:assert/strict';
import { createHash, createSecretKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { readKeyUsage } from '../../../src/models/oms/certificate-key-usage.js';
import {
  createKeyHint,
  createTrustedKey,
  hashForKey,
  parsePublicKeyPem,
} from '../../../src/models/oms/signing-key.js';
import { refusal } from './oms-refusal.js';

const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve });
const unsupportedKey = refusal('unsupported', 'signing key must be ECDSA P-256, P-384 or P-521');

void describe('signer keys', () => {
  void it('pairs each allowed curve with its hash', () => {
    assert.equal(hashForKey(ec('prime256v1').publicKey), 'sha256');
    assert.equal(hashForKey(ec('secp384r1').publicKey), 'sha384');
    assert.equal(hashForKey(ec('secp521r1').publicKey), 'sha512');
  });

  void it('refuses other curves and other key types', () => {
    assert.throws(() => hashForKey(ec('secp256k1').publicKey), unsupportedKey);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.throws(() => hashForKey(rsa.publicKey), unsupportedKey);
    assert.throws(() => hashForKey(generateKeyPairSync('ed25519').publicKey), unsupportedKey);
    // A secret (symmetric) key has no key details at all: refused the same way, not a TypeError.
    assert.throws(() => hashForKey(createSecretKey(Buffer.alloc(32, 1))), unsupportedKey);
  });

  void it('parses PEM with text before it, and refuses what is not a public key PEM', () => {
    const { publicKey } = ec('prime256v1');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const parsed = parsePublicKeyPem(`Public-Key: (256 bit)\nsome certtool text\n${pem}`);
    assert.ok(parsed.equals(publicKey), 'parsed.equals(publicKey)');
    assert.ok(parsePublicKeyPem(pem).equals(publicKey), 'parsePublicKeyPem(pem).equals(publicKey)');
    assert.throws(
      () => parsePublicKeyPem('not a key'),
      refusal('unsupported', 'trusted key is not a PEM public key'),
    );
    // The crypto error that made the PEM unreadable is kept as the cause.
    assert.throws(
      () => parsePublicKeyPem('not a key'),
      (error: Error) => error.cause instanceof Error,
    );
    const rsaPem = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    }) as string;
    assert.throws(() => parsePublicKeyPem(rsaPem), unsupportedKey);
  });

  void it('a trusted key may be PEM, a public KeyObject or a private one (its public half)', () => {
    const { publicKey, privateKey } = ec('secp384r1');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.ok(createTrustedKey(pem).equals(publicKey), 'createTrustedKey(pem).equals(publicKey)');
    assert.equal(createTrustedKey(publicKey), publicKey);
    const fromPrivate = createTrustedKey(privateKey);
    assert.equal(fromPrivate.type, 'public');
    assert.ok(fromPrivate.equals(publicKey), 'fromPrivate.equals(publicKey)');
    assert.throws(() => createTrustedKey(ec('secp256k1').publicKey), unsupportedKey);
    assert.throws(() => createTrustedKey(ec('secp256k1').privateKey), unsupportedKey);
  });

  void it('the hint is the hex SHA-256 of the SPKI PEM text', () => {
    const { publicKey } = ec('prime256v1');
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n/);
    const hint = createKeyHint(publicKey);
    assert.equal(hint, createHash('sha256').update(pem, 'utf8').digest('hex'));
    assert.match(hint, /^[0-9a-f]{64}$/);
  });
});

/** One DER element with the shortest length form. */
function der(tag: number, ...content: (Buffer | number[])[]): Buffer {
  const body = Buffer.concat(content.map((c) => Buffer.from(c)));
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

function lengthBytes(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const oid = (...bytes: number[]) => der(0x06, bytes);
const keyUsageOid = oid(0x55, 0x1d, 0x0f);
const basicConstraintsOid = oid(0x55, 0x1d, 0x13);
const critical = der(0x01, [0xff]);
/** A keyUsage extension whose BIT STRING holds `bits` (unused-bits count first). */
const keyUsage = (bits: number[], withCritical = true) =>
  der(0x30, keyUsageOid, ...(withCritical ? [critical] : []), der(0x04, der(0x03, bits)));
const basicConstraints = der(0x30, basicConstraintsOid, critical, der(0x04, der(0x30, [])));
/** A certificate shell: SEQUENCE { tbs SEQUENCE { version, serial, …, [3] { extensions } } }. */
const certificate = (extensions: Buffer[] | undefined, padding = 0) =>
  der(
    0x30,
    der(
      0x30,
      der(0xa0, der(0x02, [2])),
      der(0x02, [1]),
      der(0x04, Buffer.alloc(padding)),
      ...(extensions === undefined ? [] : [der(0xa3, der(0x30, ...extensions))]),
    ),
    der(0x30, oid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02)),
    der(0x03, [0, 1, 2]),
  );

void describe('readKeyUsage', () => {
  void it('reads digitalSignature and keyCertSign', () => {
    // BIT STRING: unused-bits count, then bit 0 (0x80) digitalSignature, bit 5 (0x04) keyCertSign.
    assert.deepEqual(readKeyUsage(certificate([keyUsage([7, 0x80])])), {
      digitalSignature: true,
      keyCertSign: false,
    });
    assert.deepEqual(readKeyUsage(certificate([keyUsage([1, 0x06])])), {
      digitalSignature: false,
      keyCertSign: true,
    });
    assert.deepEqual(readKeyUsage(certificate([keyUsage([2, 0x84])])), {
      digitalSignature: true,
      keyCertSign: true,
    });
    // keyEncipherment (0x20) alone is neither; a second byte (decipherOnly) changes nothing.
    assert.deepEqual(readKeyUsage(certificate([keyUsage([7, 0x20, 0x80])])), {
      digitalSignature: false,
      keyCertSign: false,
    });
  });

  void it('finds keyUsage among other extensions, critical or not', () => {
    assert.deepEqual(readKeyUsage(certificate([basicConstraints, keyUsage([7, 0x80], false)])), {
      digitalSignature: true,
      keyCertSign: false,
    });
  });

  void it('is undefined without extensions, without keyUsage, or with an empty list', () => {
    assert.equal(readKeyUsage(certificate(undefined)), undefined);
    assert.equal(readKeyUsage(certificate([basicConstraints])), undefined);
    assert.equal(readKeyUsage(certificate([])), undefined);
    const emptyWrapper = der(0x30, der(0x30, der(0x02, [1]), der(0xa3)));
    assert.equal(readKeyUsage(emptyWrapper), undefined);
  });

  void it('skips an extension that is not OID … OCTET STRING', () => {
    const wrongValue = der(0x30, keyUsageOid, der(0x03, [7, 0x80]));
    const wrongOid = der(0x30, der(0x04, [0x55, 0x1d, 0x0f]), der(0x04, der(0x03, [7, 0x80])));
    assert.equal(readKeyUsage(certificate([wrongValue, wrongOid])), undefined);
    assert.equal(readKeyUsage(certificate([der(0x30)])), undefined);
  });

  void it('reads long-form lengths of one to four bytes', () => {
    for (const padding of [200, 300, 70_000]) {
      assert.deepEqual(
        readKeyUsage(certificate([keyUsage([7, 0x80])], padding)),
        {
          digitalSignature: true,
          keyCertSign: false,
        },
        String(padding),
      );
    }
    // The same certificate with its outer length written in four bytes.
    const short = certificate([keyUsage([1, 0x04])]);
    const inner = short.subarray(2);
    assert.equal(short[1], inner.length);
    const four = Buffer.concat([Buffer.from([0x30, 0x84, 0, 0, 0, inner.length]), inner]);
    assert.deepEqual(readKeyUsage(four), { digitalSignature: false, keyCertSign: true });
  });

  void it('refuses malformed DER', () => {
    const cases: [string, Buffer, string][] = [
      ['an empty buffer', Buffer.alloc(0), 'truncated DER'],
      ['a tag without length', Buffer.from([0x30]), 'truncated DER'],
      ['content past the end', Buffer.from([0x30, 0x05, 0x30, 0x00]), 'truncated DER'],
      ['long-form length bytes past the end', Buffer.from([0x30, 0x82, 0x01]), 'truncated DER'],
      ['an indefinite length', Buffer.from([0x30, 0x80, 0x00, 0x00]), 'unsupported DER length'],
      ['a five-byte length', Buffer.from([0x30, 0x85, 0, 0, 0, 0, 1, 0]), 'unsupported DER length'],
      ['no tbsCertificate', der(0x30), 'certificate has no tbsCertificate'],
      [
        'a keyUsage that is not a BIT STRING',
        certificate([der(0x30, keyUsageOid, der(0x04, der(0x04, [7, 0x80])))]),
        'bad keyUsage',
      ],
      ['a keyUsage BIT STRING with no bits', certificate([keyUsage([0])]), 'bad keyUsage'],
    ];
    for (const [name, bytes, message] of cases) {
      assert.throws(() => readKeyUsage(bytes), { message }, name);
    }
  });
});
