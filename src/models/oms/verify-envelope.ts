import type { X509Certificate } from 'node:crypto';
import { verify as verifySignature, type KeyObject } from 'node:crypto';
import { verifyCertificateChain, parseCertificatesPem } from './certificate-chain.js';
import { createLegacyPae, createPae } from './dsse-pae.js';
import type { OmsBundle } from './oms-bundle.js';
import { OmsVerificationError } from './oms-verification-error.js';
import {
  createKeyHint,
  createTrustedKey,
  hashForKey,
  type TrustedKeyInput,
} from './signing-key.js';
import { publicGoodTrustedRoot, type SigstoreTrustedRoot } from './sigstore-trusted-root.js';
import {
  verifyKeylessEnvelope,
  type KeylessSigner,
  type TrustedIdentity,
} from './verify-keyless.js';

/** What the caller trusts. Nothing in a bundle is ever trusted on its own. */
export interface OmsTrust {
  /** Trusted signer public keys (key mode): `KeyObject`s or PEM text. */
  readonly keys?: readonly TrustedKeyInput[];
  /** Trusted root CAs (certificate mode): PEM text (one or more certificates) or certificates. */
  readonly roots?: readonly (string | X509Certificate)[];
  /** Trusted signer identities (keyless mode): SAN and OIDC issuer, compared exactly. */
  readonly identities?: readonly TrustedIdentity[];
  /** The Sigstore trusted root for keyless mode. Default: the shipped public-good root. */
  readonly sigstoreRoot?: SigstoreTrustedRoot;
}

/** Who signed, as far as the caller's trust goes. */
export type OmsSigner =
  | {
      readonly method: 'key';
      /** Index into `trust.keys`. */
      readonly keyIndex: number;
      /** The key's OMS hint (hex SHA-256 of its SPKI PEM). */
      readonly keyHint: string;
    }
  | {
      readonly method: 'certificate';
      /** Index into the roots, after PEM bundles are split into single certificates. */
      readonly rootIndex: number;
      readonly rootFingerprint: string;
      readonly leafSubject: string;
    }
  | KeylessSigner;

/** A DSSE envelope whose signature verified: the signer and the signed statement bytes. */
export interface VerifiedEnvelope {
  readonly signer: OmsSigner;
  readonly payload: Buffer;
  /** True when only the `model_signing` v0.2.0 encoding verified. */
  readonly legacyEncoding: boolean;
}

function checkSignature(key: KeyObject, bundle: OmsBundle): boolean | 'legacy' {
  const hash = hashForKey(key);
  const ok = (data: Buffer, algorithm: string): boolean => {
    try {
      return verifySignature(algorithm, data, { key, dsaEncoding: 'der' }, bundle.signature);
    } catch {
      return false;
    }
  };
  if (ok(createPae(bundle.payloadType, bundle.payload), hash)) return true;
  // model_signing v0.2.0 always hashed with SHA-256, whatever the curve.
  return ok(createLegacyPae(bundle.payloadType, bundle.payload), 'sha256') ? 'legacy' : false;
}

/** Parses the caller's roots, splitting PEM text that holds several certificates. */
export function parseTrustedRoots(roots: readonly (string | X509Certificate)[]): X509Certificate[] {
  return roots.flatMap((root) => (typeof root === 'string' ? parseCertificatesPem(root) : [root]));
}

function verifyWithKeys(
  bundle: OmsBundle,
  hint: string | undefined,
  keys: readonly TrustedKeyInput[],
): VerifiedEnvelope {
  if (keys.length === 0) {
    throw new OmsVerificationError(
      'untrusted-key',
      'model is signed with a key, but no trusted keys are configured',
    );
  }
  // A trusted key of a type model signatures cannot use (RSA, another curve) is left out; it
  // must not stop the other trusted keys from verifying (it used to fail every model).
  const candidates = keys.flatMap((input, index) => {
    let key: KeyObject;
    try {
      key = createTrustedKey(input);
    } catch (error) {
      if (error instanceof OmsVerificationError) return [];
      throw error;
    }
    return [{ key, index, hint: createKeyHint(key) }];
  });
  if (candidates.length === 0) {
    throw new OmsVerificationError(
      'unsupported',
      'none of the trusted keys is an ECDSA P-256, P-384 or P-521 public key',
    );
  }
  // The hint is unsigned and only orders the attempt: a matching key first, then every other.
  candidates.sort((a, b) => Number(b.hint === hint) - Number(a.hint === hint));
  for (const candidate of candidates) {
    const result = checkSignature(candidate.key, bundle);
    if (result === false) continue;
    return {
      signer: { method: 'key', keyIndex: candidate.index, keyHint: candidate.hint },
      payload: bundle.payload,
      legacyEncoding: result === 'legacy',
    };
  }
  throw new OmsVerificationError(
    hint !== undefined && !candidates.some((c) => c.hint === hint)
      ? 'untrusted-key'
      : 'bad-signature',
    hint !== undefined && !candidates.some((c) => c.hint === hint)
      ? 'model was signed by a key that is not trusted'
      : 'model signature does not verify with the trusted key',
  );
}

/**
 * Verifies the envelope's one signature against the caller's trust: key mode tries the trusted
 * keys (the bundle's `hint` first, never a key from the bundle); certificate mode validates the
 * bundle's chain to a trusted root at `now` and uses the leaf's key; keyless mode checks the
 * Fulcio certificate and Rekor entry offline against the Sigstore trusted root (validity at the
 * log's integrated time, not `now`) and the signer's identity and issuer.
 * @throws OmsVerificationError `untrusted-key`, `untrusted-identity`, `bad-signature`,
 *   `certificate-*`, `tlog-invalid`, `timestamp-invalid`, `unsupported`.
 */
export function verifyOmsEnvelope(bundle: OmsBundle, trust: OmsTrust, now: Date): VerifiedEnvelope {
  const material = bundle.material;
  switch (material.kind) {
    case 'public-key':
      return verifyWithKeys(bundle, material.hint, trust.keys ?? []);
    case 'certificate-chain': {
      const roots = parseTrustedRoots(trust.roots ?? []);
      if (roots.length === 0) {
        throw new OmsVerificationError(
          'untrusted-key',
          'model is signed with a certificate, but no trusted root CAs are configured',
        );
      }
      const chain = verifyCertificateChain(material.certificates, roots, now);
      const result = checkSignature(chain.leaf.publicKey, bundle);
      if (result === false) {
        throw new OmsVerificationError(
          'bad-signature',
          'model signature does not verify with the signing certificate',
        );
      }
      return {
        signer: {
          method: 'certificate',
          rootIndex: chain.rootIndex,
          rootFingerprint: chain.rootFingerprint,
          leafSubject: chain.leaf.subject,
        },
        payload: bundle.payload,
        legacyEncoding: result === 'legacy',
      };
    }
    case 'keyless': {
      const verified = verifyKeylessEnvelope(
        material.bundle,
        trust.identities ?? [],
        () => trust.sigstoreRoot ?? publicGoodTrustedRoot(),
      );
      if (!verified.payload.equals(bundle.payload)) {
        throw new OmsVerificationError('bundle-malformed', 'signature bundle payload is ambiguous');
      }
      return { signer: verified.signer, payload: bundle.payload, legacyEncoding: false };
    }
  }
}
