/**
 * The audit record: its fixed event table, its fixed field list, and the checks that keep anything
 * else (tokens, raw inputs, request bodies) out of the audit log. Hashing lives in
 * `audit-hash.ts`; this file only defines and validates shapes.
 */

/** The fixed table of audit events (STYLE.md "Logs, audit, metrics"). */
export const auditEvents = [
  /** A request to a model or repository route: allowed, denied or failed. */
  'request',
  /** A model version verified and loaded. */
  'model.load',
  /** A model version refused (bad signature, digest mismatch, policy) or failed to load. */
  'model.refused',
  /** A model version unloaded. */
  'model.unload',
  /** The gateway started serving. */
  'server.start',
  /** The gateway stopped (graceful shutdown). */
  'server.stop',
  /** A new chain segment: written when the audit log was opened over a broken tail. */
  'audit.segment',
  /** The extraction watch saw a subject cross a model policy's threshold. */
  'extraction.alert',
] as const;

/** One of {@link auditEvents}. */
export type AuditEvent = (typeof auditEvents)[number];

/** The outcome of an audited action. */
export type AuditOutcome = 'allowed' | 'denied' | 'error';

const outcomes: readonly AuditOutcome[] = ['allowed', 'denied', 'error'];

/**
 * Every field of a written record, in canonical (sorted) order: the one list that the types, the
 * checks and the serializer derive from. Every record carries every field; a field that does not
 * apply is `null` (CONTRACT "Audit log").
 */
export const auditRecordFields = [
  'durationMs',
  'event',
  'hash',
  'inputSha256',
  'ip',
  'method',
  'model',
  'outcome',
  'path',
  'prevHash',
  'reason',
  'requestId',
  'seq',
  'status',
  'sub',
  'ts',
  'version',
] as const;

/** One of {@link auditRecordFields}. */
export type AuditRecordField = (typeof auditRecordFields)[number];

/** Fields the writer sets itself; a caller never passes them. */
export const auditWriterFields = ['seq', 'ts', 'prevHash', 'hash'] as const;

/** The value of each field a caller may give (`null` or absent: does not apply). */
interface AuditEntryValues {
  /** The request id (`x-request-id`). */
  requestId: string;
  /** The token subject, only after the token verified. */
  sub: string;
  /** The client address. */
  ip: string;
  /** The HTTP method. */
  method: string;
  /** The route path; anything from `?` on is dropped, so query strings never reach the log. */
  path: string;
  model: string;
  /** The model version, written as a string. */
  version: string | number;
  /** The HTTP status sent. */
  status: number;
  /** Why it was denied or failed: a short, stable explanation, never a secret. */
  reason: string;
  durationMs: number;
  /** Hex SHA-256 of the request body; `null` when the body was never read. */
  inputSha256: string;
}

type Covered = keyof AuditEntryValues | 'event' | 'outcome' | (typeof auditWriterFields)[number];
/** Compiles only while {@link auditRecordFields} is exactly the fields of the types below. */
export const auditFieldListIsComplete: [AuditRecordField] extends [Covered]
  ? [Covered] extends [AuditRecordField]
    ? true
    : never
  : never = true;

/**
 * What a caller hands to `append`: only these fields can ever reach the audit log. There is
 * deliberately no free-form field, so a token, header or tensor has nowhere to go.
 */
export type AuditEntry = { readonly event: AuditEvent; readonly outcome: AuditOutcome } & {
  readonly [K in keyof AuditEntryValues]?: AuditEntryValues[K] | null;
};

/** A record as written: every field present, `null` where it does not apply. */
export type AuditRecord = {
  readonly seq: number;
  /** ISO 8601 UTC time at which `append` was called. */
  readonly ts: string;
  readonly event: AuditEvent;
  readonly outcome: AuditOutcome;
  /** `hash` of the previous record, or {@link genesisHash} for the first record of a chain. */
  readonly prevHash: string;
  /** Hex SHA-256 (or HMAC-SHA-256) of the canonical form of every other field. */
  readonly hash: string;
} & {
  readonly [K in keyof AuditEntryValues]:
    (K extends 'version' ? string : AuditEntryValues[K]) | null;
};

/** The `prevHash` of the first record of a chain: 64 zeros. */
export const genesisHash = '0'.repeat(64);

/** Longest string kept in a text field; longer values are cut and marked with `…`. */
export const maxAuditFieldLength = 1024;

const stringFields = ['requestId', 'sub', 'ip', 'method', 'path', 'model', 'reason'] as const;
const entryFields: ReadonlySet<string> = new Set<string>(
  auditRecordFields.filter((f) => !(auditWriterFields as readonly string[]).includes(f)),
);
const recordFields: ReadonlySet<string> = new Set<string>(auditRecordFields);
const eventSet: ReadonlySet<string> = new Set<string>(auditEvents);
const hexDigest = /^[0-9a-f]{64}$/;
const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

function cut(value: string): string {
  return value.length <= maxAuditFieldLength
    ? value
    : `${value.slice(0, maxAuditFieldLength - 1)}…`;
}

/** The record without seq, ts and hashes, as built from an entry (every field present). */
export type AuditRecordBody = Omit<AuditRecord, (typeof auditWriterFields)[number]>;

const given = (value: unknown): boolean => value !== undefined && value !== null;

/**
 * Checks an entry and copies exactly the allowed fields, normalized (version as a string, path
 * without query, long strings cut); a field not given is `null`.
 *
 * @throws TypeError naming the field when a field is unknown or has the wrong type; that is a
 *   programming error in the caller, not an audit write failure.
 */
export function normalizeAuditEntry(entry: AuditEntry): AuditRecordBody {
  const raw = entry as unknown as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!entryFields.has(key)) throw new TypeError(`audit entry: field "${key}" is not allowed`);
  }
  if (!eventSet.has(entry.event))
    throw new TypeError(`audit entry: unknown event ${JSON.stringify(entry.event)}`);
  if (!outcomes.includes(entry.outcome)) {
    throw new TypeError(`audit entry: unknown outcome ${JSON.stringify(entry.outcome)}`);
  }
  const out: Record<string, unknown> = {};
  for (const field of entryFields) out[field] = null;
  out['event'] = entry.event;
  out['outcome'] = entry.outcome;
  for (const field of stringFields) {
    const value = raw[field];
    if (!given(value)) continue;
    if (typeof value !== 'string') throw new TypeError(`audit entry: "${field}" must be a string`);
    out[field] = cut(field === 'path' ? (value.split('?', 1)[0] ?? '') : value);
  }
  const { version, status, durationMs, inputSha256 } = entry;
  if (version !== undefined && version !== null) {
    if (typeof version !== 'string' && !(typeof version === 'number' && Number.isFinite(version))) {
      throw new TypeError('audit entry: "version" must be a string or a finite number');
    }
    out['version'] = cut(String(version));
  }
  if (status !== undefined && status !== null) {
    if (!Number.isInteger(status)) throw new TypeError('audit entry: "status" must be an integer');
    out['status'] = status;
  }
  if (durationMs !== undefined && durationMs !== null) {
    if (!Number.isFinite(durationMs) || durationMs < 0) {
      throw new TypeError('audit entry: "durationMs" must be a finite number >= 0');
    }
    // Three decimals keep the canonical form short and identical in every JSON implementation.
    out['durationMs'] = Math.round(durationMs * 1000) / 1000;
  }
  if (inputSha256 !== undefined && inputSha256 !== null) {
    if (typeof inputSha256 !== 'string' || !hexDigest.test(inputSha256)) {
      throw new TypeError('audit entry: "inputSha256" must be 64 lowercase hex digits');
    }
    out['inputSha256'] = inputSha256;
  }
  return out as unknown as AuditRecordBody;
}

/**
 * Parses one audit line's JSON value into a record, checking every field's type and that no other
 * field is present. A field that does not apply is `null` (or, in logs written before every field
 * was always present, absent). Returns a message instead of throwing, for the verifier's report.
 */
export function parseAuditRecord(value: unknown): AuditRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!recordFields.has(key)) return `unexpected field "${key}"`;
  }
  const { seq, ts, event, outcome, prevHash, hash } = raw;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'bad seq';
  if (typeof ts !== 'string' || !isoTime.test(ts)) return 'bad ts';
  if (typeof event !== 'string' || !eventSet.has(event)) return 'bad event';
  if (typeof outcome !== 'string' || !(outcomes as readonly string[]).includes(outcome)) {
    return 'bad outcome';
  }
  if (typeof prevHash !== 'string' || !hexDigest.test(prevHash)) return 'bad prevHash';
  if (typeof hash !== 'string' || !hexDigest.test(hash)) return 'bad hash';
  for (const field of [...stringFields, 'version', 'inputSha256'] as const) {
    if (given(raw[field]) && typeof raw[field] !== 'string') return `bad ${field}`;
  }
  for (const field of ['status', 'durationMs'] as const) {
    const v = raw[field];
    if (given(v) && (typeof v !== 'number' || !Number.isFinite(v))) return `bad ${field}`;
  }
  return raw as unknown as AuditRecord;
}
