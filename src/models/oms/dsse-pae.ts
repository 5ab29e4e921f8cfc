/**
 * DSSE v1 pre-authentication encoding: the exact bytes a DSSE signature covers.
 * `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`, lengths as ASCII decimal byte counts.
 */
export function createPae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/**
 * The encoding `model_signing` v0.2.0 signed (predicate `https://model_signing/Digests/v0.1`).
 * A bug there formatted the payload as Python's `repr(bytes)` inside the string and spelled the
 * prefix `DSSEV1`; the reference verifier keeps a compatibility path for exactly this.
 */
export function createLegacyPae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  const text = `DSSEV1 ${type.length} ${payloadType} ${payload.length} ${pythonBytesRepr(payload)}`;
  return Buffer.from(text, 'utf8');
}

/** Python's `repr()` of a `bytes` value, e.g. `b'{\n  "a": 1}'`. */
function pythonBytesRepr(bytes: Buffer): string {
  const quote = bytes.includes(0x27) && !bytes.includes(0x22) ? '"' : "'";
  const quoteByte = quote.charCodeAt(0);
  let out = `b${quote}`;
  for (const byte of bytes) {
    if (byte === quoteByte || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte === 0x09) out += '\\t';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x0d) out += '\\r';
    else if (byte < 0x20 || byte >= 0x7f) out += `\\x${byte.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}${quote}`;
}
