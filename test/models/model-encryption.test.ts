import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import {
  isModelEncryptionError,
  ModelEncryptionError,
  type ModelEncryptionFailureReason,
} from '../../src/models/model-encryption-error.js';
import {
  decryptModelBytes,
  ENCRYPTED_MODEL_HEADER_BYTES,
  encryptionKeyId,
  encryptModelBytes,
  generateEncryptionKey,
  isEncryptedModel,
  parseEncryptedModelHeader,
  parseEncryptionKey,
} from '../../src/models/model-encryption.js';

const key = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');

function refusal(fn: () => unknown): ModelEncryptionFailureReason {
  try {
    fn();
  } catch (error) {
    assert.ok(
      isModelEncryptionError(error),
      `expected a ModelEncryptionError, got ${String(error)}`,
    );
    assert.doesNotMatch(error.message, /\n/);
    return error.reason;
  }
  assert.fail('expected a refusal');
}

test('round trips empty, small, multi-slice and offset views', () => {
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const backing = randomBytes(4096);
  const cases: Uint8Array[] = [
    new Uint8Array(0),
    Buffer.from('weights'),
    big,
    new Uint8Array(backing.buffer, backing.byteOffset + 100, 1000),
  ];
  for (const plaintext of cases) {
    const encrypted = encryptModelBytes(plaintext, key);
    assert.equal(encrypted.length, plaintext.byteLength + 52);
    assert.equal(encrypted.byteOffset, 0, 'owns its ArrayBuffer');
    assert.equal(encrypted.buffer.byteLength, encrypted.length);
    const decrypted = decryptModelBytes(encrypted, key);
    assert.ok(decrypted.equals(plaintext), `round trip of ${plaintext.byteLength} bytes`);
    assert.equal(decrypted.byteOffset, 0);
    assert.equal(decrypted.buffer.byteLength, decrypted.length);
  }
});

test('writes the documented header: magic, version, nonce, key id, length', () => {
  const plaintext = Buffer.from('model bytes');
  const encrypted = encryptModelBytes(plaintext, key);
  assert.equal(encrypted.subarray(0, 7).toString('latin1'), 'BASTENC');
  assert.equal(encrypted[7], 1);
  const keyId = createHash('sha256').update(key).digest().subarray(0, 8);
  assert.ok(encrypted.subarray(20, 28).equals(keyId));
  assert.equal(encrypted.readBigUInt64BE(28), BigInt(plaintext.length));
  assert.ok(isEncryptedModel(encrypted));
  assert.ok(!isEncryptedModel(plaintext));
  assert.deepEqual(
    { ...parseEncryptedModelHeader(encrypted), nonce: undefined },
    { version: 1, nonce: undefined, keyId: keyId.toString('hex'), plaintextLength: 11 },
  );
  assert.equal(encryptionKeyId(Buffer.alloc(32)), '66687aadf862bd77');
});

test('a file built independently from the documented layout decrypts', () => {
  const plaintext = Buffer.from('independent implementation');
  const header = Buffer.alloc(ENCRYPTED_MODEL_HEADER_BYTES);
  header.write('BASTENC', 0, 'latin1');
  header[7] = 1;
  const nonce = Buffer.from('0102030405060708090a0b0c', 'hex');
  nonce.copy(header, 8);
  createHash('sha256').update(key).digest().copy(header, 20, 0, 8);
  header.writeBigUInt64BE(BigInt(plaintext.length), 28);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(header);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const file = Buffer.concat([header, body, cipher.getAuthTag()]);
  assert.ok(decryptModelBytes(file, key).equals(plaintext));
});

test('two encryptions of the same bytes use different nonces', () => {
  const plaintext = Buffer.from('same');
  const a = encryptModelBytes(plaintext, key);
  const b = encryptModelBytes(plaintext, key);
  assert.ok(!a.subarray(8, 20).equals(b.subarray(8, 20)));
  assert.ok(!a.subarray(36).equals(b.subarray(36)));
});

test('a flipped byte anywhere is refused, with the reason of its region', () => {
  const encrypted = encryptModelBytes(randomBytes(40), key);
  const expected = (offset: number): ModelEncryptionFailureReason => {
    if (offset < 7) return 'format'; // magic
    if (offset === 7) return 'version';
    if (offset < 20) return 'tampered'; // nonce
    if (offset < 28) return 'wrong-key'; // key id: indistinguishable from another key
    if (offset < 36) return 'format'; // length no longer matches the size
    return 'tampered'; // ciphertext and tag
  };
  for (let offset = 0; offset < encrypted.length; offset++) {
    for (const mask of [0x01, 0x80]) {
      const altered = Buffer.from(encrypted);
      altered[offset] = (altered[offset] ?? 0) ^ mask;
      assert.equal(
        refusal(() => decryptModelBytes(altered, key)),
        expected(offset),
        `byte ${offset}`,
      );
    }
  }
});

test('a wrong key is refused as wrong-key, naming both key ids', () => {
  const encrypted = encryptModelBytes(Buffer.from('secret'), key);
  const other = generateEncryptionKey();
  assert.throws(
    () => decryptModelBytes(encrypted, other),
    (error: unknown) =>
      error instanceof ModelEncryptionError &&
      error.reason === 'wrong-key' &&
      error.message.includes(encryptionKeyId(key)) &&
      error.message.includes(encryptionKeyId(other)),
  );
});

test('truncated, extended and foreign files are refused as format', () => {
  const encrypted = encryptModelBytes(randomBytes(100), key);
  for (let length = 0; length < encrypted.length; length++) {
    assert.equal(
      refusal(() => decryptModelBytes(encrypted.subarray(0, length), key)),
      'format',
      `truncated to ${length}`,
    );
  }
  assert.equal(
    refusal(() => decryptModelBytes(Buffer.concat([encrypted, Buffer.alloc(1)]), key)),
    'format',
  );
  assert.equal(
    refusal(() => decryptModelBytes(buildIdentityModel('float32', [2]), key)),
    'format',
  );
  const future = Buffer.from(encrypted);
  future[7] = 2;
  assert.match(
    (() => {
      try {
        decryptModelBytes(future, key);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })(),
    /version 2 is not supported/,
  );
});

test('keys that are not 32 bytes are refused as key-length', () => {
  const encrypted = encryptModelBytes(Buffer.from('x'), key);
  for (const bad of [Buffer.alloc(0), Buffer.alloc(16), Buffer.alloc(31), Buffer.alloc(33)]) {
    assert.equal(
      refusal(() => encryptModelBytes(Buffer.from('x'), bad)),
      'key-length',
    );
    assert.equal(
      refusal(() => decryptModelBytes(encrypted, bad)),
      'key-length',
    );
  }
});

test('parseEncryptionKey accepts 64 hex characters or base64 of 32 bytes', () => {
  const hex = key.toString('hex');
  const b64 = key.toString('base64');
  const b64url = key.toString('base64url');
  const accepted: [string, string | Buffer][] = [
    ['hex', hex],
    ['upper-case hex', hex.toUpperCase()],
    ['hex with newline', `${hex}\n`],
    ['hex with spaces and CRLF', `  ${hex}\r\n`],
    ['hex as a Buffer', Buffer.from(`${hex}\n`)],
    ['base64', b64],
    ['base64 with newline', `${b64}\n`],
    ['base64 unpadded', b64.replace(/=$/, '')],
    ['base64url', b64url],
    ['base64url padded', `${b64url}=`],
  ];
  for (const [name, text] of accepted) {
    assert.ok(parseEncryptionKey(text).equals(key), name);
  }
  const refused: [string, string | Buffer][] = [
    ['empty', ''],
    ['whitespace', ' \n'],
    ['short hex', hex.slice(0, 62)],
    ['long hex', `${hex}00`],
    ['16-byte hex', hex.slice(0, 32)],
    ['hex with a non-hex char', `${hex.slice(0, 63)}g`],
    ['hex with inner space', `${hex.slice(0, 32)} ${hex.slice(32)}`],
    ['0x prefix', `0x${hex}`],
    ['base64 of 16 bytes', Buffer.alloc(16).toString('base64')],
    ['base64 of 33 bytes', Buffer.alloc(33, 1).toString('base64')],
    ['base64 mixing alphabets', `+_${b64.slice(2)}`],
    ['base64 with stray bits', `${b64.slice(0, 42)}B=`],
    ['base64 double padding', `${b64}=`],
    ['garbage', 'correct horse battery staple'],
    ['raw 32 bytes', randomBytes(32)],
    ['PEM', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----'],
  ];
  for (const [name, text] of refused) {
    assert.throws(
      () => parseEncryptionKey(text),
      (error: unknown) =>
        isModelEncryptionError(error) &&
        error.reason === 'key-format' &&
        /64 hex characters or as base64/.test(error.message),
      name,
    );
  }
  assert.doesNotMatch(
    (() => {
      try {
        parseEncryptionKey(`${hex}zz`);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })(),
    new RegExp(hex.slice(0, 16)),
    'never echoes key material',
  );
});

test('generateEncryptionKey returns fresh 32-byte keys', () => {
  const a = generateEncryptionKey();
  const b = generateEncryptionKey();
  assert.equal(a.length, 32);
  assert.ok(!a.equals(b));
});

test('decrypted bytes load and run in ONNX Runtime', async () => {
  const model = buildIdentityModel('float32', ['n', 2]);
  const decrypted = decryptModelBytes(encryptModelBytes(model, key), key);
  const session = await ort.InferenceSession.create(decrypted);
  try {
    const x = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [2, 2]);
    const { y } = await session.run({ x });
    assert.deepEqual(Array.from(y?.data as Float32Array), [1, 2, 3, 4]);
  } finally {
    await session.release();
  }
});
