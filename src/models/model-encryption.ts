/**
 * Encryption at rest for model files (`model.onnx.enc`): AES-256-GCM with one random 96-bit
 * nonce per file and the whole fixed header bound as additional authenticated data, so no header
 * byte can change without the file being refused.
 *
 * Byte layout (format version 1; integers big-endian):
 *
 * | offset | size | field                                                          |
 * | -----: | ---: | -------------------------------------------------------------- |
 * |      0 |    7 | magic, ASCII `BASTENC` (`42 41 53 54 45 4e 43`)                |
 * |      7 |    1 | format version, `0x01`                                         |
 * |      8 |   12 | nonce, random per file (AES-GCM IV)                            |
 * |     20 |    8 | key id: the first 8 bytes of SHA-256(key)                      |
 * |     28 |    8 | plaintext length n, uint64                                     |
 * |     36 |    n | ciphertext (AES-256-GCM, as long as the plaintext)             |
 * | 36 + n |   16 | GCM authentication tag                                         |
 *
 * The AAD is bytes 0–35 (the header). A file is therefore exactly `52 + n` bytes, and a size
 * that disagrees with the header's length is refused as truncated before any decryption. The key
 * id only tells a wrong key from a tampered file; it reveals 64 bits of a hash of a 256-bit random
 * key, which does not help an attacker. Random nonces keep a key safe for far more files than a
 * repository will ever hold (NIST's 2^32 limit per key).
 *
 * Decryption checks, in order: key length (`key-length`), size and magic (`format`), version
 * (`version`), length field against the file size (`format`), key id (`wrong-key`), then the GCM
 * tag (`tampered`). Plaintext is only returned once the tag has verified.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
  randomFillSync,
} from 'node:crypto';
import type { Cipher, Decipher } from 'node:crypto';
import { ModelEncryptionError } from './model-encryption-error.js';

/** The magic that starts every encrypted model, ASCII `BASTENC`. */
export const ENCRYPTED_MODEL_MAGIC = 'BASTENC';
/** The only format version this build writes and reads. */
export const ENCRYPTED_MODEL_VERSION = 1;
/** Bytes before the ciphertext (magic, version, nonce, key id, plaintext length). */
export const ENCRYPTED_MODEL_HEADER_BYTES = 36;
/** Bytes of the GCM tag after the ciphertext. */
export const ENCRYPTED_MODEL_TAG_BYTES = 16;
/** Bytes of an encryption key (AES-256). */
export const ENCRYPTION_KEY_BYTES = 32;

const magicBytes = Buffer.from(ENCRYPTED_MODEL_MAGIC, 'latin1');
const versionOffset = 7;
const nonceOffset = 8;
const nonceBytes = 12;
const keyIdOffset = 20;
const keyIdBytes = 8;
const lengthOffset = 28;
const overheadBytes = ENCRYPTED_MODEL_HEADER_BYTES + ENCRYPTED_MODEL_TAG_BYTES;
// Fed to OpenSSL in slices so each slice's output is copied straight into the result while it
// is still in cache, instead of materialising a second whole-size ciphertext to concatenate.
const sliceBytes = 1 << 18;

/** The fields of a version-1 header, as read by {@link parseEncryptedModelHeader}. */
export interface EncryptedModelHeader {
  readonly version: number;
  readonly nonce: Buffer;
  /** Hex of the key id (first 8 bytes of SHA-256 of the key). */
  readonly keyId: string;
  readonly plaintextLength: number;
}

/** True when `bytes` start with the encrypted-model magic (says nothing about validity). */
export function isEncryptedModel(bytes: Uint8Array): boolean {
  return bytes.byteLength >= magicBytes.length && asBuffer(bytes).subarray(0, 7).equals(magicBytes);
}

/** The key id written into the header: hex of the first 8 bytes of SHA-256(key). */
export function encryptionKeyId(key: Uint8Array): string {
  return keyIdOf(key).toString('hex');
}

/** A new random 32-byte AES-256 key. */
export function generateEncryptionKey(): Buffer {
  return randomBytes(ENCRYPTION_KEY_BYTES);
}

/**
 * Parses key text (a key file's content or an environment variable): 32 bytes written as 64 hex
 * characters, or as base64 (standard or URL-safe alphabet, padding optional). Surrounding
 * whitespace, such as a trailing newline, is ignored.
 *
 * @throws {@link ModelEncryptionError} `key-format` for anything else; the message never echoes
 *   the text.
 */
export function parseEncryptionKey(text: string | Buffer): Buffer {
  const trimmed = (typeof text === 'string' ? text : text.toString('utf8')).trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(trimmed) || /^[A-Za-z0-9_-]{43}=?$/.test(trimmed)) {
    const standard = trimmed.replace(/-/g, '+').replace(/_/g, '/').replace(/=?$/, '=');
    const key = Buffer.from(standard, 'base64');
    // Re-encoding refuses non-canonical text whose last character carries stray bits.
    if (key.length === ENCRYPTION_KEY_BYTES && key.toString('base64') === standard) return key;
  }
  throw new ModelEncryptionError(
    'key-format',
    `an encryption key must be 32 bytes written as 64 hex characters or as base64 (44 characters); got ${trimmed.length} character(s) that are neither`,
  );
}

/**
 * Encrypts model bytes into the format described in this module. Allocates the result once
 * (header + ciphertext + tag) and never copies the plaintext. The result owns its whole
 * `ArrayBuffer`.
 *
 * @throws {@link ModelEncryptionError} `key-length` when `key` is not 32 bytes.
 */
export function encryptModelBytes(plaintext: Uint8Array, key: Uint8Array): Buffer {
  assertKeyLength(key);
  const out = Buffer.allocUnsafeSlow(overheadBytes + plaintext.byteLength);
  magicBytes.copy(out, 0);
  out[versionOffset] = ENCRYPTED_MODEL_VERSION;
  randomFillSync(out, nonceOffset, nonceBytes);
  keyIdOf(key).copy(out, keyIdOffset);
  out.writeBigUInt64BE(BigInt(plaintext.byteLength), lengthOffset);
  const nonce = out.subarray(nonceOffset, nonceOffset + nonceBytes);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, {
    authTagLength: ENCRYPTED_MODEL_TAG_BYTES,
  });
  cipher.setAAD(out.subarray(0, ENCRYPTED_MODEL_HEADER_BYTES));
  const end = transform(cipher, plaintext, out, ENCRYPTED_MODEL_HEADER_BYTES);
  cipher.getAuthTag().copy(out, end);
  return out;
}

/**
 * Reads and checks the header of an encrypted model, including that the file is exactly as long
 * as the header says. Needs no key.
 *
 * @throws {@link ModelEncryptionError} `format` (not an encrypted model, truncated or extended)
 *   or `version` (an unknown format version).
 */
export function parseEncryptedModelHeader(encrypted: Uint8Array): EncryptedModelHeader {
  const bytes = asBuffer(encrypted);
  if (bytes.length < ENCRYPTED_MODEL_HEADER_BYTES || !isEncryptedModel(bytes)) {
    throw new ModelEncryptionError(
      'format',
      bytes.length < ENCRYPTED_MODEL_HEADER_BYTES && isEncryptedModel(bytes)
        ? `not a complete encrypted model: ${bytes.length} byte(s) is shorter than the header`
        : `not an encrypted model: it does not start with "${ENCRYPTED_MODEL_MAGIC}"`,
    );
  }
  const version = bytes[versionOffset] ?? 0;
  if (version !== ENCRYPTED_MODEL_VERSION) {
    throw new ModelEncryptionError(
      'version',
      `encrypted model format version ${version} is not supported (this build reads version ${ENCRYPTED_MODEL_VERSION})`,
    );
  }
  const declared = bytes.readBigUInt64BE(lengthOffset);
  const actual = BigInt(bytes.length - overheadBytes);
  if (declared !== actual) {
    throw new ModelEncryptionError(
      'format',
      declared > actual
        ? `encrypted model is truncated: the header declares ${declared} plaintext byte(s), the file holds ${actual < 0n ? 0n : actual}`
        : `encrypted model has ${actual - declared} unexpected trailing byte(s)`,
    );
  }
  return {
    version,
    nonce: bytes.subarray(nonceOffset, nonceOffset + nonceBytes),
    keyId: bytes.subarray(keyIdOffset, keyIdOffset + keyIdBytes).toString('hex'),
    plaintextLength: Number(declared),
  };
}

/**
 * Decrypts and authenticates an encrypted model. The plaintext is returned only after the GCM
 * tag verifies; on failure the partly decrypted buffer is zeroed. The result owns its whole
 * `ArrayBuffer`.
 *
 * @throws {@link ModelEncryptionError} with reason `key-length`, `format`, `version`,
 *   `wrong-key` (the header names another key) or `tampered` (authentication failed).
 */
export function decryptModelBytes(encrypted: Uint8Array, key: Uint8Array): Buffer {
  assertKeyLength(key);
  const header = parseEncryptedModelHeader(encrypted);
  const keyId = encryptionKeyId(key);
  if (header.keyId !== keyId) {
    throw new ModelEncryptionError(
      'wrong-key',
      `model was encrypted with another key (key id ${header.keyId}; this key's id is ${keyId}), or its header was altered`,
    );
  }
  const bytes = asBuffer(encrypted);
  const tagOffset = bytes.length - ENCRYPTED_MODEL_TAG_BYTES;
  const decipher = createDecipheriv('aes-256-gcm', key, header.nonce, {
    authTagLength: ENCRYPTED_MODEL_TAG_BYTES,
  });
  decipher.setAAD(bytes.subarray(0, ENCRYPTED_MODEL_HEADER_BYTES));
  decipher.setAuthTag(bytes.subarray(tagOffset));
  const out = Buffer.allocUnsafeSlow(header.plaintextLength);
  try {
    transform(decipher, bytes.subarray(ENCRYPTED_MODEL_HEADER_BYTES, tagOffset), out, 0);
  } catch (error) {
    out.fill(0);
    throw new ModelEncryptionError(
      'tampered',
      'encrypted model failed authentication: it was altered or corrupted',
      { cause: error },
    );
  }
  return out;
}

/** Runs `input` through the cipher into `out` at `offset`, finishes it; returns the end offset. */
function transform(cipher: Cipher | Decipher, input: Uint8Array, out: Buffer, offset: number) {
  let at = offset;
  for (let start = 0; start < input.byteLength; start += sliceBytes) {
    at += cipher.update(input.subarray(start, start + sliceBytes)).copy(out, at);
  }
  at += cipher.final().copy(out, at);
  if (at !== offset + input.byteLength) throw new Error('AES-GCM output length mismatch');
  return at;
}

function assertKeyLength(key: Uint8Array): void {
  if (key.byteLength !== ENCRYPTION_KEY_BYTES) {
    throw new ModelEncryptionError(
      'key-length',
      `an encryption key must be ${ENCRYPTION_KEY_BYTES} bytes (AES-256), got ${key.byteLength}`,
    );
  }
}

function keyIdOf(key: Uint8Array): Buffer {
  return createHash('sha256').update(key).digest().subarray(0, keyIdBytes);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
