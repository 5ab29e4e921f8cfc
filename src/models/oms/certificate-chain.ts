import { X509Certificate } from 'node:crypto';
import { readKeyUsage } from './certificate-key-usage.js';
import { OmsVerificationError } from './oms-verification-error.js';
import { hashForKey } from './signing-key.js';

/** A chain that verified: the signing certificate and the configured root it leads to. */
export interface VerifiedChain {
  readonly leaf: X509Certificate;
  /** Index of the root in the caller's `roots`. */
  readonly rootIndex: number;
  /** SHA-256 fingerprint of that root, `AA:BB:…` as node prints it. */
  readonly rootFingerprint: string;
}

const codeSigningEku = '1.3.6.1.5.5.7.3.3';
const maxDepth = 8;

/** Parses PEM text holding one or more certificates (text outside the PEM blocks is ignored). */
export function parseCertificatesPem(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

function invalid(message: string, cause?: unknown): OmsVerificationError {
  return new OmsVerificationError('certificate-invalid', message, { cause });
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function assertValidAt(cert: X509Certificate, now: Date, role: string): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw invalid(`${role} has unreadable dates`);
  if (now.getTime() < from || now.getTime() > to) {
    throw new OmsVerificationError(
      'certificate-expired',
      `${role} certificate "${cert.subject.replaceAll('\n', ', ')}" is not valid at ${now.toISOString()} (valid ${cert.validFrom} to ${cert.validTo})`,
    );
  }
}

function keyUsageOf(cert: X509Certificate): ReturnType<typeof readKeyUsage> {
  try {
    return readKeyUsage(cert.raw);
  } catch (error) {
    throw invalid('signing certificate has an unreadable keyUsage extension', error);
  }
}

function assertLeafUsage(leaf: X509Certificate): void {
  const usage = keyUsageOf(leaf);
  const eku = leaf.keyUsage as string[] | undefined;
  if (usage !== undefined && !usage.digitalSignature) {
    throw invalid('signing certificate keyUsage does not allow digitalSignature');
  }
  if (eku !== undefined && eku.length > 0 && !eku.includes(codeSigningEku)) {
    throw invalid('signing certificate extendedKeyUsage does not allow code signing');
  }
  if (usage === undefined && (eku === undefined || eku.length === 0)) {
    throw invalid('signing certificate has neither keyUsage nor code-signing extendedKeyUsage');
  }
}

/**
 * An issuer must be a CA. node's `ca` is OpenSSL's X509_check_ca: basicConstraints cA, and a
 * keyUsage extension, when present and readable, that allows keyCertSign; so an issuer whose key
 * usage forbids signing certificates, or cannot be read, is "not a CA" here too.
 */
function assertIssuer(cert: X509Certificate): void {
  if (!cert.ca) throw invalid(`issuing certificate "${cert.subject}" is not a CA`);
}

/** Depth-first search for a path leaf → intermediates → root, linked by signature only. */
function findPath(
  current: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  path: X509Certificate[],
): { path: X509Certificate[]; rootIndex: number } | undefined {
  const direct = roots.findIndex((root) => root.raw.equals(current.raw));
  if (direct >= 0) return { path, rootIndex: direct };
  const signer = roots.findIndex((root) => signedBy(current, root));
  if (signer >= 0) return { path: [...path, roots[signer] as X509Certificate], rootIndex: signer };
  if (path.length >= maxDepth) return undefined;
  for (const candidate of intermediates) {
    if (path.includes(candidate) || !signedBy(current, candidate)) continue;
    const found = findPath(candidate, intermediates, roots, [...path, candidate]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Validates a bundle's certificate chain (leaf first, DER) against the configured roots at `now`:
 * the path is built by signature (never by name), every certificate on it must be valid at `now`,
 * issuers must be CAs allowed to sign certificates, and the leaf must allow digitalSignature or
 * code signing and hold an ECDSA P-256/384/521 key.
 * @throws OmsVerificationError `certificate-invalid`, `certificate-expired`, `untrusted-key`
 *   (no path to a configured root) or `unsupported` (leaf key type).
 */
export function verifyCertificateChain(
  chain: readonly Buffer[],
  roots: readonly X509Certificate[],
  now: Date,
): VerifiedChain {
  let certs: X509Certificate[];
  try {
    certs = chain.map((der) => new X509Certificate(der));
  } catch (error) {
    throw invalid('signature bundle holds a certificate that cannot be parsed', error);
  }
  const [leaf, ...intermediates] = certs;
  if (leaf === undefined) throw invalid('signature bundle holds no certificate');
  const found = findPath(leaf, intermediates, roots, [leaf]);
  if (found === undefined) {
    throw new OmsVerificationError(
      'untrusted-key',
      'signing certificate does not chain to a configured root CA',
    );
  }
  found.path.forEach((cert, i) => {
    assertValidAt(cert, now, i === 0 ? 'signing' : 'issuing');
    if (i > 0) assertIssuer(cert);
  });
  assertLeafUsage(leaf);
  hashForKey(leaf.publicKey);
  const root = roots[found.rootIndex] as X509Certificate;
  return { leaf, rootIndex: found.rootIndex, rootFingerprint: root.fingerprint256 };
}
