// Unit tests of the audit record shape: what an entry may carry and how it is normalized before it
// is hashed, and what the verifier accepts when it reads a line back. A field that slips through
// here is a token or a body in the audit log, so each check is pinned by its exact message.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  auditEvents,
  auditRecordFields,
  auditWriterFields,
  genesisHash,
  maxAuditFieldLength,
  normalizeAuditEntry,
  parseAuditRecord,
  type AuditEntry,
} from '../../src/audit/audit-record.js';

const entry = (extra: Record<string, unknown> = {}): AuditEntry => ({
  event: 'request',
  outcome: 'allowed',
  ...extra,
});

const allNull = {
  durationMs: null,
  inputSha256: null,
  ip: null,
  method: null,
  model: null,
  path: null,
  reason: null,
  requestId: null,
  status: null,
  sub: null,
  version: null,
};

void describe('the record tables', () => {
  void it('lists the fixed events and the fields in sorted order', () => {
    assert.deepEqual(
      [...auditEvents],
      [
        'request',
        'model.load',
        'model.refused',
        'model.unload',
        'server.start',
        'server.stop',
        'audit.segment',
        'extraction.alert',
      ],
    );
    assert.deepEqual([...auditRecordFields], [...auditRecordFields].sort());
    assert.equal(auditRecordFields.length, 17);
    assert.deepEqual([...auditWriterFields], ['seq', 'ts', 'prevHash', 'hash']);
    assert.equal(genesisHash, '0'.repeat(64));
    assert.equal(maxAuditFieldLength, 1024);
  });
});

void describe('normalizeAuditEntry', () => {
  void it('gives every field, null where not given', () => {
    assert.deepEqual(normalizeAuditEntry(entry()), {
      ...allNull,
      event: 'request',
      outcome: 'allowed',
    });
    assert.deepEqual(
      normalizeAuditEntry(
        entry({ status: null, durationMs: null, inputSha256: null, version: null, path: null }),
      ),
      { ...allNull, event: 'request', outcome: 'allowed' },
    );
    assert.deepEqual(normalizeAuditEntry(entry({ sub: null, status: undefined, version: null })), {
      ...allNull,
      event: 'request',
      outcome: 'allowed',
    });
  });

  void it('copies a full entry, version as a string and durationMs to three decimals', () => {
    const full = normalizeAuditEntry(
      entry({
        event: 'model.refused',
        outcome: 'denied',
        requestId: 'r',
        sub: 's',
        ip: '::1',
        method: 'GET',
        path: '/v2/models/m',
        model: 'm',
        version: 3,
        status: 403,
        reason: 'policy',
        durationMs: 1.23456,
        inputSha256: 'ab'.repeat(32),
      }),
    );
    assert.deepEqual(full, {
      event: 'model.refused',
      outcome: 'denied',
      requestId: 'r',
      sub: 's',
      ip: '::1',
      method: 'GET',
      path: '/v2/models/m',
      model: 'm',
      version: '3',
      status: 403,
      reason: 'policy',
      durationMs: 1.235,
      inputSha256: 'ab'.repeat(32),
    });
  });

  void it('rounds durationMs half up at the third decimal, and keeps 0', () => {
    const d = (ms: number) => normalizeAuditEntry(entry({ durationMs: ms })).durationMs;
    assert.equal(d(0), 0);
    assert.equal(d(0.0004), 0);
    assert.equal(d(0.0006), 0.001);
    assert.equal(d(12.3), 12.3);
    assert.equal(d(1000.0001), 1000);
  });

  void it('drops the query string from the path', () => {
    const p = (path: string) => normalizeAuditEntry(entry({ path })).path;
    assert.equal(p('/v2/models/m/infer?token=secret&x=1'), '/v2/models/m/infer');
    assert.equal(p('?only=query'), '');
    assert.equal(p('/plain'), '/plain');
    // Only the path is cut at "?": a reason may hold one.
    assert.equal(normalizeAuditEntry(entry({ reason: 'why?' })).reason, 'why?');
  });

  void it('cuts text fields at 1024 characters, marking the cut with …', () => {
    const exact = 'x'.repeat(1024);
    assert.equal(normalizeAuditEntry(entry({ sub: exact })).sub, exact);
    const cut = normalizeAuditEntry(entry({ sub: `${exact}y` })).sub;
    assert.equal(cut, `${'x'.repeat(1023)}…`);
    assert.equal(cut.length, 1024);
    assert.equal(
      normalizeAuditEntry(entry({ version: 'v'.repeat(2000) })).version,
      `${'v'.repeat(1023)}…`,
    );
    assert.equal(
      normalizeAuditEntry(entry({ path: `/${'p'.repeat(2000)}?q` })).path,
      `/${'p'.repeat(1022)}…`,
    );
  });

  const refused: [string, Record<string, unknown>, string][] = [
    ['a free-form field', { token: 'eyJ' }, 'audit entry: field "token" is not allowed'],
    ['a writer field', { seq: 1 }, 'audit entry: field "seq" is not allowed'],
    ['the hash', { hash: 'h' }, 'audit entry: field "hash" is not allowed'],
    ['an unknown event', { event: 'login' }, 'audit entry: unknown event "login"'],
    ['an unknown outcome', { outcome: 'ok' }, 'audit entry: unknown outcome "ok"'],
    ...(['requestId', 'sub', 'ip', 'method', 'path', 'model', 'reason'] as const).map(
      (field): [string, Record<string, unknown>, string] => [
        `a ${field} that is not a string`,
        { [field]: 5 },
        `audit entry: "${field}" must be a string`,
      ],
    ),
    [
      'a NaN version',
      { version: Number.NaN },
      'audit entry: "version" must be a string or a finite number',
    ],
    [
      'an infinite version',
      { version: Infinity },
      'audit entry: "version" must be a string or a finite number',
    ],
    [
      'an object version',
      { version: {} },
      'audit entry: "version" must be a string or a finite number',
    ],
    ['a fractional status', { status: 200.5 }, 'audit entry: "status" must be an integer'],
    ['a string status', { status: '200' }, 'audit entry: "status" must be an integer'],
    [
      'a negative duration',
      { durationMs: -0.001 },
      'audit entry: "durationMs" must be a finite number >= 0',
    ],
    [
      'an infinite duration',
      { durationMs: Infinity },
      'audit entry: "durationMs" must be a finite number >= 0',
    ],
    [
      'a NaN duration',
      { durationMs: Number.NaN },
      'audit entry: "durationMs" must be a finite number >= 0',
    ],
    [
      'an uppercase digest',
      { inputSha256: 'AB'.repeat(32) },
      'audit entry: "inputSha256" must be 64 lowercase hex digits',
    ],
    [
      'a short digest',
      { inputSha256: 'ab'.repeat(31) },
      'audit entry: "inputSha256" must be 64 lowercase hex digits',
    ],
    [
      'a long digest',
      { inputSha256: 'ab'.repeat(33) },
      'audit entry: "inputSha256" must be 64 lowercase hex digits',
    ],
    [
      'a numeric digest',
      { inputSha256: 5 },
      'audit entry: "inputSha256" must be 64 lowercase hex digits',
    ],
    [
      'a digest inside a list',
      { inputSha256: ['ab'.repeat(32)] },
      'audit entry: "inputSha256" must be 64 lowercase hex digits',
    ],
  ];
  for (const [name, extra, message] of refused) {
    void it(`refuses ${name}`, () => {
      assert.throws(() => normalizeAuditEntry(entry(extra)), { name: 'TypeError', message });
    });
  }

  void it('accepts a version given as text and status 0', () => {
    const n = normalizeAuditEntry(entry({ version: '2024-01', status: 0 }));
    assert.equal(n.version, '2024-01');
    assert.equal(n.status, 0);
  });
});

void describe('parseAuditRecord', () => {
  const record = (extra: Record<string, unknown> = {}) => ({
    ...allNull,
    seq: 1,
    ts: '2026-01-01T00:00:00.000Z',
    event: 'request',
    outcome: 'allowed',
    prevHash: genesisHash,
    hash: 'f'.repeat(64),
    ...extra,
  });

  void it('accepts a full record, null fields, and fields absent from older logs', () => {
    const full = record({
      sub: 'a',
      version: '1',
      status: 200,
      durationMs: 1.5,
      inputSha256: 'a'.repeat(64),
    });
    assert.deepEqual(parseAuditRecord(full), full);
    assert.deepEqual(parseAuditRecord(record()), record());
    const { ip: _ip, reason: _reason, ...old } = record();
    assert.deepEqual(parseAuditRecord(old), old);
    for (const ts of [
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:00.1Z',
      '2026-01-01T00:00:00.123456Z',
    ]) {
      assert.equal(typeof parseAuditRecord(record({ ts })), 'object', ts);
    }
    assert.equal(typeof parseAuditRecord(record({ seq: Number.MAX_SAFE_INTEGER })), 'object');
  });

  const refused: [string, unknown, string][] = [
    ['an array', [], 'not an object'],
    ['null', null, 'not an object'],
    ['a string', 'record', 'not an object'],
    ['an unexpected field', record({ token: 't' }), 'unexpected field "token"'],
    ['seq 0', record({ seq: 0 }), 'bad seq'],
    ['a fractional seq', record({ seq: 1.5 }), 'bad seq'],
    ['a string seq', record({ seq: '1' }), 'bad seq'],
    ['an unsafe seq', record({ seq: 2 ** 53 }), 'bad seq'],
    ['a ts without zone', record({ ts: '2026-01-01T00:00:00' }), 'bad ts'],
    ['a ts with an offset', record({ ts: '2026-01-01T00:00:00+01:00' }), 'bad ts'],
    ['a date only', record({ ts: '2026-01-01' }), 'bad ts'],
    ['a ts with text around it', record({ ts: 'x2026-01-01T00:00:00Z' }), 'bad ts'],
    ['a ts with a trailing line', record({ ts: '2026-01-01T00:00:00Z\n' }), 'bad ts'],
    ['a ts with an empty fraction', record({ ts: '2026-01-01T00:00:00.Z' }), 'bad ts'],
    ['a numeric ts', record({ ts: 5 }), 'bad ts'],
    ['an unknown event', record({ event: 'login' }), 'bad event'],
    ['a numeric event', record({ event: 1 }), 'bad event'],
    ['an unknown outcome', record({ outcome: 'ok' }), 'bad outcome'],
    ['a numeric outcome', record({ outcome: 1 }), 'bad outcome'],
    ['a short prevHash', record({ prevHash: '0'.repeat(63) }), 'bad prevHash'],
    ['an uppercase prevHash', record({ prevHash: 'A'.repeat(64) }), 'bad prevHash'],
    ['no prevHash', record({ prevHash: undefined }), 'bad prevHash'],
    ['a long hash', record({ hash: 'f'.repeat(65) }), 'bad hash'],
    ['a numeric hash', record({ hash: 1 }), 'bad hash'],
    // A one-element list would pass the patterns once turned into text.
    ['a prevHash inside a list', record({ prevHash: [genesisHash] }), 'bad prevHash'],
    ['a hash inside a list', record({ hash: ['f'.repeat(64)] }), 'bad hash'],
    ['a ts inside a list', record({ ts: ['2026-01-01T00:00:00Z'] }), 'bad ts'],
    ...(
      [
        'requestId',
        'sub',
        'ip',
        'method',
        'path',
        'model',
        'reason',
        'version',
        'inputSha256',
      ] as const
    ).map((field): [string, unknown, string] => [
      `a numeric ${field}`,
      record({ [field]: 1 }),
      `bad ${field}`,
    ]),
    ['a string status', record({ status: '200' }), 'bad status'],
    ['an infinite status', record({ status: Infinity }), 'bad status'],
    ['a string durationMs', record({ durationMs: '1' }), 'bad durationMs'],
    ['a NaN durationMs', record({ durationMs: Number.NaN }), 'bad durationMs'],
  ];
  for (const [name, value, message] of refused) {
    void it(`refuses ${name}: ${message}`, () => {
      assert.equal(parseAuditRecord(value), message);
    });
  }
});
