// A minimal X.509 v3 certificate builder for tests: real DER, really signed with ECDSA-SHA256,
// so node's X509Certificate parses and verifies it. Each extension is optional, so chain and
// key-usage rules can be tested one at a time without an openssl process per certificate.
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length =
    n < 0x80
      ? Buffer.from([n])
      : n < 0x100
        ? Buffer.from([0x81, n])
        : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}
const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
const octets = (content: Buffer): Buffer => tlv(0x04, content);
const utf8 = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
const bool = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const bits = (content: Buffer, unused = 0): Buffer =>
  tlv(0x03, Buffer.concat([Buffer.from([unused]), content]));

function integer(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [a * 40 + b];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128))
      chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}

const extension = (id: string, value: Buffer, critical = false): Buffer =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
const keyId = (key: KeyObject): Buffer =>
  createHash('sha1')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest();

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
  readonly publicKey: KeyObject;
  /** The issuing certificate's CN and private key; omit both for a self-signed certificate. */
  readonly issuer?: { readonly cn: string; readonly key: KeyObject };
  /** The subject's own private key, used when self-signed. */
  readonly selfKey?: KeyObject;
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

const name = (cn: string): Buffer => seq(set(seq(oid('2.5.4.3'), utf8(cn))));

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
    name(spec.cn),
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
