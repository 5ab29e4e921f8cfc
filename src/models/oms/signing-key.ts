import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { OmsVerificationError } from './oms-verification-error.js';

/** The digest OMS pairs with each allowed ECDSA curve. */
export type OmsHash = 'sha256' | 'sha384' | 'sha512';

const hashByCurve: Readonly<Record<string, OmsHash>> = {
  prime256v1: 'sha256',
  secp384r1: 'sha384',
  secp521r1: 'sha512',
};

/**
 * The hash to use with `key`: P-256/SHA-256, P-384/SHA-384, P-521/SHA-512.
 * @throws OmsVerificationError `unsupported` for any other key type or curve.
 */
export function hashForKey(key: KeyObject): OmsHash {
  const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined;
  const hash = curve === undefined ? undefined : hashByCurve[curve];
  if (hash === undefined) {
    throw new OmsVerificationError(
      'unsupported',
      'signing key must be ECDSA P-256, P-384 or P-521',
    );
  }
  return hash;
}

/**
 * Parses a PEM public key, skipping any text before `-----BEGIN` (as `certtool` writes).
 * @throws OmsVerificationError `unsupported` when it is not an ECDSA P-256/384/521 key.
 */
export function parsePublicKeyPem(text: string): KeyObject {
  const start = text.indexOf('-----BEGIN');
  let key: KeyObject;
  try {
    key = createPublicKey(start >= 0 ? text.slice(start) : text);
  } catch (error) {
    throw new OmsVerificationError('unsupported', 'trusted key is not a PEM public key', {
      cause: error,
    });
  }
  hashForKey(key);
  return key;
}

/** A caller-supplied trusted key: a `KeyObject` or PEM text. */
export type TrustedKeyInput = KeyObject | string;

/** Normalizes a trusted key input to a public `KeyObject` (a private key yields its public half). */
export function createTrustedKey(input: TrustedKeyInput): KeyObject {
  if (typeof input === 'string') return parsePublicKeyPem(input);
  const key = input.type === 'private' ? createPublicKey(input) : input;
  hashForKey(key);
  return key;
}

/**
 * The OMS key hint: hex SHA-256 of the key's SubjectPublicKeyInfo PEM text, as the reference
 * `model_signing` tool writes it in `verificationMaterial.publicKey.hint`.
 */
export function createKeyHint(key: KeyObject): string {
  const pem = key.export({ type: 'spki', format: 'pem' });
  return createHash('sha256').update(pem).digest('hex');
}
