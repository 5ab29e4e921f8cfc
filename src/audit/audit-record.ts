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

/** The `prevHash` of the first record of a chain: 64 zeros. */
export const genesisHash = '0'.repeat(64);

/** Longest string kept in a text field; longer values are cut and marked with `…`. */
export const maxAuditFieldLength = 1024;

const hexDigest = /^[0-9a-f]{64}$/;
const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;
const eventSet: ReadonlySet<string> = new Set<string>(auditEvents);

function cut(value: string): string {
  return value.length <= maxAuditFieldLength
    ? value
    : `${value.slice(0, maxAuditFieldLength - 1)}…`;
}

/**
 * How one kind of field is given, written and read back. `normalize` turns a caller's value into
 * the written one (or throws the TypeError naming the field); `valid` is the verifier's check of
 * a value read from the log.
 */
interface FieldKind<Given, Written> {
  readonly given?: Given;
  readonly written?: Written;
  readonly normalize: (value: unknown, field: string) => Written;
  readonly valid: (value: unknown) => boolean;
}

function kind<Given, Written>(
  normalize: (value: unknown, field: string) => Written,
  valid: (value: unknown) => boolean,
): FieldKind<Given, Written> {
  return { normalize, valid };
}

const isString = (value: unknown): boolean => typeof value === 'string';
const isFiniteNumber = (value: unknown): boolean =>
  typeof value === 'number' && Number.isFinite(value);
const isDigest = (value: unknown): boolean => typeof value === 'string' && hexDigest.test(value);
const writerOnly = (_value: unknown, field: string): never => {
  throw new TypeError(`audit entry: field "${field}" is not allowed`);
};
function textOf(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new TypeError(`audit entry: "${field}" must be a string`);
  return value;
}

const kinds = {
  /** Free text (ids, names, reasons), cut at {@link maxAuditFieldLength}. */
  text: kind<string, string>((v, f) => cut(textOf(v, f)), isString),
  /** The route path; anything from `?` on is dropped, so query strings never reach the log. */
  path: kind<string, string>((v, f) => cut(textOf(v, f).split('?', 1)[0] ?? ''), isString),
  /** The model version, written as a string. */
  version: kind<string | number, string>((v, f) => {
    if (typeof v !== 'string' && !isFiniteNumber(v)) {
      throw new TypeError(`audit entry: "${f}" must be a string or a finite number`);
    }
    return cut(String(v));
  }, isString),
  /** An HTTP status. */
  status: kind<number, number>((v, f) => {
    if (!Number.isInteger(v)) throw new TypeError(`audit entry: "${f}" must be an integer`);
    return v as number;
  }, isFiniteNumber),
  /** Milliseconds, at most three decimals (short and identical in every JSON implementation). */
  duration: kind<number, number>((v, f) => {
    if (!isFiniteNumber(v) || (v as number) < 0) {
      throw new TypeError(`audit entry: "${f}" must be a finite number >= 0`);
    }
    return Math.round((v as number) * 1000) / 1000;
  }, isFiniteNumber),
  /** A hex SHA-256 a caller gives. */
  sha256: kind<string, string>((v, f) => {
    if (!isDigest(v)) {
      throw new TypeError(`audit entry: "${f}" must be 64 lowercase hex digits`);
    }
    return v as string;
  }, isString),
  event: kind<AuditEvent, AuditEvent>(
    (v) => {
      if (typeof v !== 'string' || !eventSet.has(v)) {
        throw new TypeError(`audit entry: unknown event ${JSON.stringify(v)}`);
      }
      return v as AuditEvent;
    },
    (v) => typeof v === 'string' && eventSet.has(v),
  ),
  outcome: kind<AuditOutcome, AuditOutcome>(
    (v) => {
      if (!(outcomes as readonly unknown[]).includes(v)) {
        throw new TypeError(`audit entry: unknown outcome ${JSON.stringify(v)}`);
      }
      return v as AuditOutcome;
    },
    (v) => (outcomes as readonly unknown[]).includes(v),
  ),
  /** Set by the writer only. */
  seq: kind<never, number>(writerOnly, (v) => Number.isSafeInteger(v) && (v as number) >= 1),
  ts: kind<never, string>(writerOnly, (v) => typeof v === 'string' && isoTime.test(v)),
  digest: kind<never, string>(writerOnly, isDigest),
} as const;

type Kinds = typeof kinds;

/**
 * Every field of a written record and its kind: the one table that the record and entry types,
 * the writer's normalization (null-filling included) and the verifier's parsing derive from.
 * `required` fields are never `null`; every other field is `null` where it does not apply
 * (CONTRACT "Audit log"). Listed in the order the verifier checks them.
 */
const auditFieldTable = {
  seq: { kind: 'seq', role: 'writer' },
  /** ISO 8601 UTC time at which `append` was called. */
  ts: { kind: 'ts', role: 'writer' },
  event: { kind: 'event', role: 'required' },
  outcome: { kind: 'outcome', role: 'required' },
  /** The request id (`x-request-id`). */
  requestId: { kind: 'text', role: 'optional' },
  /** The token subject, only after the token verified. */
  sub: { kind: 'text', role: 'optional' },
  /** The client address. */
  ip: { kind: 'text', role: 'optional' },
  /** The HTTP method. */
  method: { kind: 'text', role: 'optional' },
  path: { kind: 'path', role: 'optional' },
  model: { kind: 'text', role: 'optional' },
  version: { kind: 'version', role: 'optional' },
  /** The HTTP status sent. */
  status: { kind: 'status', role: 'optional' },
  /** Why it was denied or failed: a short, stable explanation, never a secret. */
  reason: { kind: 'text', role: 'optional' },
  durationMs: { kind: 'duration', role: 'optional' },
  /** Hex SHA-256 of the request body; `null` when the body was never read. */
  inputSha256: { kind: 'sha256', role: 'optional' },
  /** `hash` of the previous record, or {@link genesisHash} for the first record of a chain. */
  prevHash: { kind: 'digest', role: 'writer' },
  /** Hex SHA-256 (or HMAC-SHA-256) of the canonical form of every other field. */
  hash: { kind: 'digest', role: 'writer' },
} as const satisfies Record<
  string,
  { readonly kind: keyof Kinds; readonly role: 'writer' | 'required' | 'optional' }
>;

type Table = typeof auditFieldTable;

/** One field of a written record. */
export type AuditRecordField = keyof Table;

type FieldsWith<Role> = {
  [K in AuditRecordField]: Table[K]['role'] extends Role ? K : never;
}[AuditRecordField];
type Given<K extends AuditRecordField> = NonNullable<Kinds[Table[K]['kind']]['given']>;
type Written<K extends AuditRecordField> = NonNullable<Kinds[Table[K]['kind']]['written']>;

/**
 * Every field of a written record, in canonical (sorted) order, as `audit-hash.ts` serializes
 * them. Every record carries every field.
 */
export const auditRecordFields: readonly AuditRecordField[] = Object.freeze(
  (Object.keys(auditFieldTable) as AuditRecordField[]).sort(),
);

/** Fields the writer sets itself, in the table's order (`seq`, `ts`, `prevHash`, `hash`). */
export const auditWriterFields: readonly AuditRecordField[] = Object.freeze(
  (Object.keys(auditFieldTable) as AuditRecordField[]).filter(
    (f) => auditFieldTable[f].role === 'writer',
  ),
);

/**
 * What a caller hands to `append`: only these fields can ever reach the audit log. There is
 * deliberately no free-form field, so a token, header or tensor has nowhere to go.
 */
export type AuditEntry = { readonly [K in FieldsWith<'required'>]: Given<K> } & {
  readonly [K in FieldsWith<'optional'>]?: Given<K> | null;
};

/** A record as written: every field present, `null` where it does not apply. */
export type AuditRecord = { readonly [K in FieldsWith<'writer' | 'required'>]: Written<K> } & {
  readonly [K in FieldsWith<'optional'>]: Written<K> | null;
};

/** The record without seq, ts and hashes, as built from an entry (every field present). */
export type AuditRecordBody = Omit<AuditRecord, FieldsWith<'writer'>>;

const fieldNames = Object.keys(auditFieldTable) as AuditRecordField[];
/** Per field, what normalizing and parsing need, resolved once (the writer runs per request). */
const fieldSteps = fieldNames.map((field) => ({
  field,
  role: auditFieldTable[field].role,
  required: auditFieldTable[field].role === 'required',
  ...(kinds[auditFieldTable[field].kind] as FieldKind<unknown, unknown>),
}));
const entrySteps = fieldSteps.filter((step) => step.role !== 'writer');
const entryFieldSet: ReadonlySet<string> = new Set<string>(entrySteps.map((step) => step.field));
const recordFieldSet: ReadonlySet<string> = new Set<string>(auditRecordFields);

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
    if (!entryFieldSet.has(key)) throw new TypeError(`audit entry: field "${key}" is not allowed`);
  }
  const out: Record<string, unknown> = {};
  for (const step of entrySteps) {
    const value = raw[step.field];
    out[step.field] =
      step.required || (value !== undefined && value !== null)
        ? step.normalize(value, step.field)
        : null;
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
    if (!recordFieldSet.has(key)) return `unexpected field "${key}"`;
  }
  for (const { field, role, valid } of fieldSteps) {
    const v = raw[field];
    if (role === 'optional' ? v !== undefined && v !== null && !valid(v) : !valid(v)) {
      return `bad ${field}`;
    }
  }
  return raw as unknown as AuditRecord;
}
