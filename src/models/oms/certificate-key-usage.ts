/** One DER element: its tag byte and where its content lies in the buffer. */
interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

function readElement(der: Buffer, offset: number): DerElement {
  const tag = der[offset];
  let lengthByte = der[offset + 1];
  if (tag === undefined || lengthByte === undefined) throw new Error('truncated DER');
  let start = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i++) {
      lengthByte = der[start + i];
      if (lengthByte === undefined) throw new Error('truncated DER');
      length = length * 256 + lengthByte;
    }
    start += count;
  }
  const end = start + length;
  if (end > der.length) throw new Error('truncated DER');
  return { tag, start, end };
}

function children(der: Buffer, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let offset = parent.start; offset < parent.end;) {
    const element = readElement(der, offset);
    out.push(element);
    offset = element.end;
  }
  return out;
}

// 2.5.29.15 encoded as an OBJECT IDENTIFIER's content bytes.
const keyUsageOid = Buffer.from([0x55, 0x1d, 0x0f]);

/** The key usage bits OMS cares about, from a certificate's keyUsage extension. */
export interface KeyUsageBits {
  readonly digitalSignature: boolean;
  readonly keyCertSign: boolean;
}

/**
 * Reads the X.509 keyUsage extension from a DER certificate (node's `X509Certificate` exposes
 * only the extended key usage). Returns `undefined` when the certificate has no keyUsage.
 * @throws Error when the DER is malformed.
 */
export function readKeyUsage(certificateDer: Buffer): KeyUsageBits | undefined {
  const certificate = readElement(certificateDer, 0);
  const [tbs] = children(certificateDer, certificate);
  if (tbs === undefined) throw new Error('certificate has no tbsCertificate');
  // Extensions are the [3] EXPLICIT element of tbsCertificate.
  const extensionsWrapper = children(certificateDer, tbs).find((e) => e.tag === 0xa3);
  if (extensionsWrapper === undefined) return undefined;
  const [extensions] = children(certificateDer, extensionsWrapper);
  if (extensions === undefined) return undefined;
  for (const extension of children(certificateDer, extensions)) {
    const parts = children(certificateDer, extension);
    const oid = parts[0];
    const value = parts[parts.length - 1];
    if (oid?.tag !== 0x06 || value?.tag !== 0x04) continue;
    if (!certificateDer.subarray(oid.start, oid.end).equals(keyUsageOid)) continue;
    const bits = readElement(certificateDer, value.start);
    if (bits.tag !== 0x03 || bits.end - bits.start < 2) throw new Error('bad keyUsage');
    const first = certificateDer[bits.start + 1] ?? 0;
    return { digitalSignature: (first & 0x80) !== 0, keyCertSign: (first & 0x04) !== 0 };
  }
  return undefined;
}
