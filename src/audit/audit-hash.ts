/**
 * The audit chain's hash.
 *
 * Canonical form of a record: the record without its `hash` field (so `prevHash` IS covered),
 * serialized as JSON with keys sorted by UTF-16 code units, no whitespace, strings escaped as
 * `JSON.stringify` does and numbers written by ECMAScript's Number-to-String. For the flat
 * objects of string and number values that audit records are, this is exactly RFC 8785 (JCS), so
 * any JCS implementation reproduces it (test/audit/audit-hash.test.ts checks RFC 8785's own
 * examples). Records carry every field, `null` where it does not apply; a field absent from an
 * older record is omitted, never turned into `null`, so old logs still verify.
 *
 * `hash` = lowercase hex of SHA-256 over the UTF-8 bytes of that canonical form, or of
 * HMAC-SHA-256 with the configured key. Each file line is the canonical form of the whole record
 * (hash included) followed by `\n`.
 */
import { createHmac, hash as oneShotHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { auditRecordFields, type AuditRecord } from './audit-record.js';

/** Shortest HMAC key accepted, in bytes. */
export const minHmacKeyBytes = 32;

/**
 * A character `JSON.stringify` writes other than as itself: a control character, `"`, `\\`, or
 * a surrogate (a lone one is escaped; a paired one is left to `JSON.stringify` to decide).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const escaped = /[\u0000-\u001f"\\\ud800-\udfff]/;

function scalarJson(value: unknown): string {
  // Most audit strings (ids, paths, digests) need no escaping: quoted as they are, the same text
  // as JSON.stringify's, without its call.
  if (typeof value === 'string') return escaped.test(value) ? JSON.stringify(value) : `"${value}"`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new TypeError('canonical JSON: numbers must be finite (RFC 8785)');
    }
    return String(value); // what JSON.stringify writes for a finite number (-0 as "0")
  }
  if (value === null) return 'null';
  return JSON.stringify(value);
}

/**
 * Serializes a flat object of JSON scalar values canonically (RFC 8785 for flat objects: keys
 * sorted by UTF-16 code units, no whitespace); `undefined` values are omitted.
 *
 * @throws TypeError for a non-finite number.
 */
export function canonicalJson(value: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(value)
    .filter((key) => value[key] !== undefined)
    .sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${scalarJson(value[key])}`).join(',')}}`;
}

const hashIndex = auditRecordFields.indexOf('hash');

/** Each field with what precedes its value in the line: `"name":`, after a comma but the first. */
function fieldPrefixes(fields: readonly string[]): readonly (readonly [string, string])[] {
  return fields.map((f, i) => [f, `${i === 0 ? '' : ','}${JSON.stringify(f)}:`] as const);
}
const fieldsBeforeHash = fieldPrefixes(auditRecordFields.slice(0, hashIndex));
const fieldsAfterHash = fieldPrefixes(auditRecordFields.slice(hashIndex + 1));

function joinFields(
  record: Readonly<Record<string, unknown>>,
  fields: readonly (readonly [string, string])[],
): string {
  let out = '';
  for (const [field, prefix] of fields) {
    const value = record[field];
    if (value === undefined) throw new TypeError(`audit record: field "${field}" is missing`);
    out += prefix + scalarJson(value);
  }
  return out;
}

/** Hex SHA-256, or HMAC-SHA-256 with `hmacKey`, of the UTF-8 bytes of `text`. */
function digestHex(text: string, hmacKey: Uint8Array | undefined): string {
  return hmacKey === undefined
    ? oneShotHash('sha256', text, 'hex')
    : createHmac('sha256', hmacKey).update(text, 'utf8').digest('hex');
}

/** A record's hash and its file line (without `\n`), from one serialization. */
export interface SerializedAuditRecord {
  readonly hash: string;
  readonly line: string;
}

/**
 * Hashes and serializes a record in one pass: every field is written once, into the canonical
 * body that is hashed; the line is that body with `"hash"` spliced in at its sorted place. The
 * result equals `computeAuditHash` and `canonicalJson` of the whole record.
 *
 * @throws TypeError when a field of {@link auditRecordFields} (other than `hash`) is missing.
 */
export function serializeAuditRecord(
  record: Omit<AuditRecord, 'hash'>,
  hmacKey?: Uint8Array,
): SerializedAuditRecord {
  const fields = record as unknown as Readonly<Record<string, unknown>>;
  const before = joinFields(fields, fieldsBeforeHash);
  const after = joinFields(fields, fieldsAfterHash);
  const hash = digestHex(`{${before},${after}}`, hmacKey);
  return { hash, line: `{${before},"hash":"${hash}",${after}}` };
}

/** The canonical form that is hashed: every field but `hash`. */
export function canonicalAuditBody(record: Omit<AuditRecord, 'hash'> | AuditRecord): string {
  const { hash: _hash, ...rest } = record as AuditRecord;
  return canonicalJson(rest);
}

/** Computes a record's `hash` (HMAC-SHA-256 when `hmacKey` is given, SHA-256 otherwise). */
export function computeAuditHash(
  record: Omit<AuditRecord, 'hash'> | AuditRecord,
  hmacKey?: Uint8Array,
): string {
  return digestHex(canonicalAuditBody(record), hmacKey);
}

/**
 * Reads an HMAC key file: its bytes with surrounding ASCII whitespace trimmed (so an editor's
 * trailing newline does not change the key).
 *
 * @throws Error when the file cannot be read or holds fewer than {@link minHmacKeyBytes} bytes.
 */
export async function readHmacKeyFile(path: string): Promise<Uint8Array> {
  const bytes = await readFile(path);
  let start = 0;
  let end = bytes.length;
  const isSpace = (b: number | undefined): boolean =>
    b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  while (start < end && isSpace(bytes[start])) start++;
  while (end > start && isSpace(bytes[end - 1])) end--;
  const key = bytes.subarray(start, end);
  if (key.length < minHmacKeyBytes) {
    throw new Error(
      `audit HMAC key file ${path} holds ${key.length} bytes; at least ${minHmacKeyBytes} are required`,
    );
  }
  return new Uint8Array(key);
}
