// Known-answer tests for the audit chain's canonical form and hash: the expected values come
// from RFC 8785 itself and from an independent implementation (Python's json + hashlib/hmac, run
// once and pasted here), so the hash is not only checked by the code under test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  canonicalJson,
  computeAuditHash,
  serializeAuditRecord,
} from '../../src/audit/audit-hash.js';
import type { AuditRecord } from '../../src/audit/audit-record.js';

test('RFC 8785 §3.2.3: properties sorted by UTF-16 code units', () => {
  const input = {
    '\u20ac': 'Euro Sign',
    '\r': 'Carriage Return',
    '\ufb33': 'Hebrew Letter Dalet With Dagesh',
    '1': 'One',
    '\ud83d\ude00': 'Emoji: Grinning Face',
    '\u0080': 'Control',
    '\u00f6': 'Latin Small Letter O With Diaeresis',
  };
  assert.equal(
    canonicalJson(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

test('RFC 8785 §3.2.2: literals, string escaping and numbers', () => {
  assert.equal(
    canonicalJson({
      literals: null,
      string: '\u20ac$\u000F\u000aA\'\u0042\u0022\u005c\\"/',
      t: true,
      f: false,
    }),
    '{"f":false,"literals":null,"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/","t":true}',
  );
});

test('RFC 8785 Appendix B: number serialization', () => {
  const bits = (hex: string): number => Buffer.from(hex, 'hex').readDoubleBE(0);
  const vectors: [string, string][] = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  for (const [hex, expected] of vectors) {
    assert.equal(canonicalJson({ n: bits(hex) }), `{"n":${expected}}`, hex);
  }
  // NaN and Infinity have no JSON form: refused rather than written as null.
  for (const hex of ['7fffffffffffffff', '7ff0000000000000', 'fff0000000000000']) {
    assert.throws(() => canonicalJson({ n: bits(hex) }), TypeError, hex);
  }
});

/** A record whose canonical form and hashes were computed with Python (json, hashlib, hmac). */
const fixed = {
  seq: 1,
  ts: '2026-01-02T03:04:05.678Z',
  event: 'request',
  requestId: 'req-1',
  sub: 'alice',
  ip: '127.0.0.1',
  method: 'POST',
  path: '/v2/models/iris/infer',
  model: 'iris',
  version: '1',
  status: 200,
  outcome: 'allowed',
  reason: null,
  durationMs: 1.5,
  inputSha256: 'a'.repeat(64),
  prevHash: '0'.repeat(64),
} as const satisfies Omit<AuditRecord, 'hash'>;
const fixedCanonical = `{"durationMs":1.5,"event":"request","inputSha256":"${'a'.repeat(64)}","ip":"127.0.0.1","method":"POST","model":"iris","outcome":"allowed","path":"/v2/models/iris/infer","prevHash":"${'0'.repeat(64)}","reason":null,"requestId":"req-1","seq":1,"status":200,"sub":"alice","ts":"2026-01-02T03:04:05.678Z","version":"1"}`;
const fixedSha256 = '045e51b7b36aec3829b932b570e11fc654c8eed9e0cc197d703f6f70965b2d1d';
const fixedHmac = '4f3805ad3feb993e4114b7c387ed1febec4d4dd13c0ae420bd56e81ce17940ab';
const key = new Uint8Array(Buffer.from('k'.repeat(32)));

test('a fixed record hashes to the independently computed SHA-256 and HMAC-SHA-256', () => {
  assert.equal(canonicalJson(fixed), fixedCanonical);
  assert.equal(computeAuditHash(fixed), fixedSha256);
  assert.equal(computeAuditHash(fixed, key), fixedHmac);
});

test('the one-pass serializer gives the same hash and the canonical line with hash in place', () => {
  for (const [k, expected] of [
    [undefined, fixedSha256],
    [key, fixedHmac],
  ] as const) {
    const { hash, line } = serializeAuditRecord(fixed, k);
    assert.equal(hash, expected);
    assert.equal(line, canonicalJson({ ...fixed, hash: expected }));
    assert.deepEqual(JSON.parse(line), { ...fixed, hash: expected });
  }
  const { reason: _reason, ...missing } = fixed;
  assert.throws(
    () => serializeAuditRecord(missing as unknown as Omit<AuditRecord, 'hash'>),
    /"reason" is missing/,
  );
});
