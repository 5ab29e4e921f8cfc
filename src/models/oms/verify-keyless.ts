import { X509Certificate } from 'node:crypto';
import { bundleFromJSON, ValidationError, type Bundle } from '@sigstore/bundle';
import { toSignedEntity, VerificationError, Verifier, type SignedEntity } from '@sigstore/verify';
// Not re-exported by the package index; used only to name a log fault before the full check.
import { verifyTLogBody, verifyTLogInclusion } from '@sigstore/verify/dist/tlog/index.js';
import { readKeyUsage } from './certificate-key-usage.js';
import { OmsVerificationError, type OmsFailureReason } from './oms-verification-error.js';
import type { SigstoreTrustedRoot } from './sigstore-trusted-root.js';

/** A signer identity the caller trusts: the Fulcio certificate's SAN and OIDC issuer, exactly. */
export interface TrustedIdentity {
  /** The certificate's subject alternative name (an e-mail or a workflow URI), compared exactly. */
  readonly identity: string;
  /** The OIDC issuer extension, compared exactly; undefined: any issuer (refused in production). */
  readonly issuer?: string | undefined;
}

/** Who signed a keyless bundle, once the certificate, log entry and identity checked out. */
export interface KeylessSigner {
  readonly method: 'keyless';
  /** Index into `trust.identities` of the entry that matched. */
  readonly identityIndex: number;
  readonly identity: string;
  readonly issuer: string | undefined;
  /** When the transparency log recorded the signature (the time the certificate was checked at). */
  readonly integratedTime: Date | undefined;
  /** The Rekor log index of the entry. */
  readonly logIndex: string | undefined;
}

// The Fulcio certificate's OIDs, as @sigstore/verify reads them too.
const codeSigningEku = '1.3.6.1.5.5.7.3.3';

function refuse(reason: OmsFailureReason, message: string, cause?: unknown): OmsVerificationError {
  return new OmsVerificationError(reason, message, { cause });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describeBundleError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const fields = error instanceof ValidationError ? error.fields : undefined;
  return fields === undefined || fields.length === 0
    ? error.message
    : `${error.message} (${fields.join(', ')})`;
}

function parseBundle(json: unknown): Bundle {
  try {
    return bundleFromJSON(json);
  } catch (error) {
    throw refuse(
      'bundle-malformed',
      `keyless signature bundle is malformed: ${describeBundleError(error)}`,
      error,
    );
  }
}

function toEntity(bundle: Bundle): SignedEntity {
  try {
    return toSignedEntity(bundle);
  } catch (error) {
    // The certificate was parsed already (requireCodeSigning): what is left to parse here are the
    // RFC 3161 timestamps, and the certificate again by the library's own DER reader.
    throw refuse(
      'bundle-malformed',
      `keyless signature bundle's certificate or RFC 3161 timestamp cannot be read: ${messageOf(error)}`,
      error,
    );
  }
}

/**
 * Why the leaf was refused, when it is because the log's signed time falls outside its validity:
 * to tell "expired" from "untrusted". Only an entry with an inclusion promise gives a time the
 * verifier judges the certificate at (as @sigstore/verify's `getTLogTimestamp`): the
 * `integratedTime` of an entry without one is signed by nobody, so it is never quoted. The leaf
 * was already parsed by {@link requireCodeSigning}.
 */
export function outsideValidity(leaf: X509Certificate, bundle: Bundle): string | undefined {
  const from = new Date(leaf.validFrom);
  const to = new Date(leaf.validTo);
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    if (entry.inclusionPromise === undefined) continue;
    const at = new Date(Number(entry.integratedTime) * 1000);
    if (at < from || at > to) {
      return `the signing certificate (valid ${from.toISOString()} to ${to.toISOString()}) was not valid when the log recorded the signature at ${at.toISOString()}`;
    }
  }
  return undefined;
}

/** Maps @sigstore/verify's error codes to Bastion's stable reasons, one line each. */
function mapVerifyError(
  error: unknown,
  leaf: X509Certificate,
  bundle: Bundle,
): OmsVerificationError {
  if (error instanceof VerificationError) {
    const detail = `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}`;
    switch (error.code) {
      case 'TLOG_ERROR':
      case 'TLOG_INCLUSION_PROOF_ERROR':
      case 'TLOG_INCLUSION_PROMISE_ERROR':
      case 'TLOG_MISSING_INCLUSION_ERROR':
      case 'TLOG_BODY_ERROR':
        return refuse('tlog-invalid', `transparency log entry does not verify: ${detail}`, error);
      case 'CERTIFICATE_ERROR': {
        const expired = outsideValidity(leaf, bundle);
        return expired === undefined
          ? refuse(
              'certificate-invalid',
              `keyless signing certificate is not trusted: ${detail}`,
              error,
            )
          : refuse('certificate-expired', expired, error);
      }
      case 'TIMESTAMP_ERROR':
        return refuse('timestamp-invalid', `signature timestamp does not verify: ${detail}`, error);
      case 'SIGNATURE_ERROR':
        return refuse(
          'bad-signature',
          'model signature does not verify with the signing certificate',
          error,
        );
      case 'PUBLIC_KEY_ERROR':
      case 'NOT_IMPLEMENTED_ERROR':
        return refuse('unsupported', `keyless bundle is not supported: ${detail}`, error);
    }
  }
  return refuse(
    'certificate-invalid',
    `keyless signature cannot be checked: ${messageOf(error)}`,
    error,
  );
}

/** Parses the leaf certificate and refuses one that is not for code signing. */
function requireCodeSigning(rawBytes: Uint8Array): X509Certificate {
  let leaf: X509Certificate;
  let usage: ReturnType<typeof readKeyUsage>;
  try {
    const der = Buffer.from(rawBytes);
    leaf = new X509Certificate(der);
    usage = readKeyUsage(der);
  } catch (error) {
    throw refuse('certificate-invalid', 'keyless signing certificate cannot be parsed', error);
  }
  // node's `keyUsage` is the extended key usage, undefined when the extension is absent.
  const eku = leaf.keyUsage as string[] | undefined;
  if (eku?.includes(codeSigningEku) !== true || usage?.digitalSignature === false) {
    throw refuse('certificate-invalid', 'keyless signing certificate is not for code signing');
  }
  return leaf;
}

/**
 * Verifies a keyless (Fulcio + Rekor) OMS bundle offline against the trusted root `root()`: the
 * certificate chains to a Fulcio CA of the root and carries a valid SCT from one of its CT logs; every Rekor entry's
 * inclusion promise (SET) and/or proof verifies with the log's key and records this very envelope;
 * the certificate was valid at the log's integrated time (not now); the DSSE signature verifies
 * with the certificate's key; and the SAN and OIDC issuer equal one of `identities` exactly.
 * Only the envelope is checked: the caller still checks the statement and the files.
 * @returns the signer and the verified payload bytes.
 * @throws OmsVerificationError `untrusted-identity`, `tlog-invalid`, `certificate-invalid`,
 *   `certificate-expired`, `timestamp-invalid`, `bad-signature`, `bundle-malformed`, `unsupported`.
 */
export function verifyKeylessEnvelope(
  json: unknown,
  identities: readonly TrustedIdentity[],
  root: () => SigstoreTrustedRoot,
): { readonly signer: KeylessSigner; readonly payload: Buffer } {
  if (identities.length === 0) {
    throw refuse(
      'untrusted-identity',
      'model is signed keyless (Sigstore), but no trusted identities are configured',
    );
  }
  const bundle = parseBundle(json);
  if (bundle.content.$case !== 'dsseEnvelope') {
    throw refuse('bundle-malformed', 'keyless signature bundle has no DSSE envelope');
  }
  if (bundle.verificationMaterial.content.$case !== 'certificate') {
    throw refuse('bundle-malformed', 'keyless signature bundle carries no Fulcio certificate');
  }
  const leaf = requireCodeSigning(bundle.verificationMaterial.content.certificate.rawBytes);
  const entity = toEntity(bundle);
  const material = root().material;
  try {
    // The verifier judges the certificate at the entries' integrated time before it checks the
    // entries' SET, so an altered time would read as an expired certificate: check the log first.
    for (const entry of entity.tlogEntries) {
      if (!material.tlogs.some((log) => log.logID.equals(entry.logId.keyId))) {
        throw refuse(
          'tlog-invalid',
          `the signature was logged by a transparency log the trusted root does not list (log id ${entry.logId.keyId.toString('base64')}); is it the right Sigstore trusted root?`,
        );
      }
      verifyTLogInclusion(entry, material.tlogs);
      verifyTLogBody(entry, entity.signature);
    }
  } catch (error) {
    if (error instanceof OmsVerificationError) throw error;
    // A body the log signed that is not a Rekor entry (not JSON, say) fails as a plain error.
    throw error instanceof VerificationError
      ? mapVerifyError(error, leaf, bundle)
      : refuse('tlog-invalid', `transparency log entry cannot be read: ${messageOf(error)}`, error);
  }
  let signer;
  try {
    // No policy here: the identity is compared below, exactly (the library's SAN match is a regex).
    signer = new Verifier(material).verify(entity);
  } catch (error) {
    throw mapVerifyError(error, leaf, bundle);
  }
  const san = signer.identity?.subjectAlternativeName;
  const issuer = signer.identity?.extensions?.issuer;
  const index = identities.findIndex(
    (trusted) =>
      trusted.identity === san && (trusted.issuer === undefined || trusted.issuer === issuer),
  );
  if (index < 0 || san === undefined) {
    throw refuse(
      'untrusted-identity',
      `model was signed by ${JSON.stringify(san ?? '')} (issuer ${JSON.stringify(issuer ?? '')}), which is not a trusted identity`,
    );
  }
  const entry = bundle.verificationMaterial.tlogEntries.find((e) => e.inclusionPromise);
  const seconds = Number(entry?.integratedTime ?? 0);
  return {
    signer: {
      method: 'keyless',
      identityIndex: index,
      identity: san,
      issuer,
      integratedTime: seconds > 0 ? new Date(seconds * 1000) : undefined,
      logIndex: entry?.logIndex,
    },
    payload: Buffer.from(bundle.content.dsseEnvelope.payload),
  };
}
