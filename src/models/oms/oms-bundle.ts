import { OmsVerificationError } from './oms-verification-error.js';

/** The only Sigstore bundle media type OMS signatures use. */
export const bundleMediaType = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** The DSSE payload type of an in-toto statement. */
export const inTotoPayloadType = 'application/vnd.in-toto+json';
/** Refuse signature files larger than this before parsing them. */
export const maxBundleBytes = 16 * 1024 * 1024;

/** What the bundle says about who signed it (never trusted on its own). */
export type BundleMaterial =
  | { readonly kind: 'public-key'; readonly hint: string | undefined }
  | { readonly kind: 'certificate-chain'; readonly certificates: readonly Buffer[] }
  | {
      readonly kind: 'keyless';
      /** The whole bundle JSON, for the Sigstore verifier (certificate and log entries). */
      readonly bundle: unknown;
    };

/** A structurally valid OMS bundle: one DSSE signature over an in-toto payload. */
export interface OmsBundle {
  readonly material: BundleMaterial;
  readonly payloadType: string;
  /** The exact statement bytes that were signed (base64-decoded). */
  readonly payload: Buffer;
  /** DER-encoded ECDSA signature. */
  readonly signature: Buffer;
}

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

function malformed(message: string): OmsVerificationError {
  return new OmsVerificationError('bundle-malformed', `signature bundle is malformed: ${message}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function decodeBase64(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || !base64Pattern.test(value) || value.length % 4 === 1) {
    throw malformed(`${field} is not base64`);
  }
  return Buffer.from(value, 'base64');
}

function parseMaterial(value: unknown, bundle: unknown): BundleMaterial {
  if (!isRecord(value)) throw malformed('verificationMaterial is missing');
  const { publicKey, x509CertificateChain, certificate } = value;
  if (publicKey !== undefined) {
    if (!isRecord(publicKey)) throw malformed('verificationMaterial.publicKey is not an object');
    const { hint } = publicKey;
    if (hint !== undefined && hint !== null && typeof hint !== 'string') {
      throw malformed('verificationMaterial.publicKey.hint is not a string');
    }
    // rawBytes (older signers) is deliberately ignored: a key carried by the bundle proves nothing.
    return { kind: 'public-key', hint: typeof hint === 'string' && hint !== '' ? hint : undefined };
  }
  if (x509CertificateChain !== undefined) {
    const certs = isRecord(x509CertificateChain) ? x509CertificateChain.certificates : undefined;
    if (!Array.isArray(certs) || certs.length === 0) {
      throw malformed('x509CertificateChain.certificates is empty');
    }
    return {
      kind: 'certificate-chain',
      certificates: certs.map((cert: unknown, i) =>
        decodeBase64(isRecord(cert) ? cert.rawBytes : undefined, `certificates[${i}].rawBytes`),
      ),
    };
  }
  if (certificate !== undefined) return { kind: 'keyless', bundle };
  throw malformed('verificationMaterial names no public key or certificate');
}

/**
 * Parses `model.sig` bytes into an {@link OmsBundle}.
 * @throws OmsVerificationError `bundle-malformed`, `media-type`, `payload-type` or
 *   `signature-count` (OMS requires exactly one signature).
 */
export function parseOmsBundle(bytes: Buffer): OmsBundle {
  if (bytes.length > maxBundleBytes) throw malformed('file is too large');
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new OmsVerificationError('bundle-malformed', 'signature bundle is not valid JSON', {
      cause: error,
    });
  }
  if (!isRecord(json)) throw malformed('top level is not an object');
  if (json.mediaType !== bundleMediaType) {
    throw new OmsVerificationError(
      'media-type',
      `signature bundle media type must be ${bundleMediaType}`,
    );
  }
  const material = parseMaterial(json.verificationMaterial, json);
  const envelope = json.dsseEnvelope;
  if (!isRecord(envelope)) throw malformed('dsseEnvelope is missing');
  if (envelope.payloadType !== inTotoPayloadType) {
    throw new OmsVerificationError(
      'payload-type',
      `signature payload type must be ${inTotoPayloadType}`,
    );
  }
  const payload = decodeBase64(envelope.payload, 'dsseEnvelope.payload');
  if (payload.length === 0) throw malformed('dsseEnvelope.payload is empty');
  const { signatures } = envelope;
  if (!Array.isArray(signatures) || signatures.length !== 1) {
    throw new OmsVerificationError(
      'signature-count',
      'signature bundle must carry exactly one signature',
    );
  }
  const [entry] = signatures as unknown[];
  const signature = decodeBase64(isRecord(entry) ? entry.sig : undefined, 'signatures[0].sig');
  if (signature.length === 0) throw malformed('signatures[0].sig is empty');
  return { material, payloadType: inTotoPayloadType, payload, signature };
}
