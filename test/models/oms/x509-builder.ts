// A minimal X.509 v3 certificate builder for tests: real DER, really signed with ECDSA-SHA256,
// so node's X509Certificate parses and verifies it. Each extension is optional, so chain and
// key-usage rules can be tested one at a time without an openssl process per certificate.
import { randomBytes, sign, type KeyObject } from 'node:crypto';
import {
  tlv,
  seq,
  set,
  octets,
  utf8,
  bool,
  bits,
  integer,
  oid,
  time,
  extension,
  ecdsaSha256,
  keyId,
} from './der.js';

/** keyUsage bits by name (RFC 5280 §4.2.1.3), as the first byte of the BIT STRING. */
export const keyUsageBits = {
  digitalSignature: 0x80,
  keyEncipherment: 0x20,
  keyCertSign: 0x04,
  cRLSign: 0x02,
} as const;

/** What to put in a test certificate. */
export interface CertificateSpec {
  /** Common name of the subject (the issuer's CN is taken from `issuer`). */
  readonly cn: string;
  /** An organization RDN before the CN in the subject (node prints it `O=…\nCN=…`). */
  readonly org?: string | undefined;
  readonly publicKey: KeyObject;
  /** The issuing certificate's CN and private key; omit both for a self-signed certificate. */
  readonly issuer?: { readonly cn: string | undefined; readonly key: KeyObject };
  /** The subject's own private key, used when self-signed. */
  readonly selfKey?: KeyObject | undefined;
  readonly from: Date;
  readonly to: Date;
  /** basicConstraints cA; absent: no basicConstraints extension. */
  readonly ca?: boolean | undefined;
  /** keyUsage bits OR-ed together (see {@link keyUsageBits}); absent: no keyUsage extension. */
  readonly keyUsage?: number | undefined;
  /** keyUsage extension value bytes as given (for malformed-extension tests). */
  readonly rawKeyUsage?: Buffer | undefined;
  /** extendedKeyUsage OIDs; absent: no extendedKeyUsage extension. */
  readonly eku?: readonly string[] | undefined;
}

/** The code-signing and server-auth extended key usages. */
export const ekuCodeSigning = '1.3.6.1.5.5.7.3.3';
export const ekuServerAuth = '1.3.6.1.5.5.7.3.1';

const name = (cn: string, org?: string): Buffer =>
  seq(
    ...(org === undefined ? [] : [set(seq(oid('2.5.4.10'), utf8(org)))]),
    set(seq(oid('2.5.4.3'), utf8(cn))),
  );

/** Builds and signs one certificate; returns its DER. */
export function buildCertificate(spec: CertificateSpec): Buffer {
  const extensions: Buffer[] = [extension('2.5.29.14', octets(keyId(spec.publicKey)))];
  if (spec.ca !== undefined) {
    extensions.push(extension('2.5.29.19', spec.ca ? seq(bool(true)) : seq(), true));
  }
  if (spec.rawKeyUsage !== undefined) {
    extensions.push(extension('2.5.29.15', spec.rawKeyUsage, true));
  } else if (spec.keyUsage !== undefined) {
    const unused = spec.keyUsage === 0 ? 0 : Math.log2(spec.keyUsage & -spec.keyUsage);
    extensions.push(extension('2.5.29.15', bits(Buffer.from([spec.keyUsage]), unused), true));
  }
  if (spec.eku !== undefined) extensions.push(extension('2.5.29.37', seq(...spec.eku.map(oid))));
  const signer = spec.issuer?.key ?? spec.selfKey;
  if (signer === undefined) throw new Error('a certificate needs an issuer key or its own key');
  const tbs = seq(
    tlv(0xa0, integer(2n)),
    integer(BigInt(`0x${randomBytes(15).toString('hex')}`)),
    ecdsaSha256,
    name(spec.issuer?.cn ?? spec.cn),
    seq(time(spec.from), time(spec.to)),
    name(spec.cn, spec.org),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...extensions)),
  );
  return seq(tbs, ecdsaSha256, bits(sign('sha256', tbs, signer)));
}

/** PEM text of a DER certificate. */
export function toPem(der: Buffer): string {
  const body = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}
