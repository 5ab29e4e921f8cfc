// Edges of the canonical form and the key file that the known-answer vectors leave open: absent
// (undefined) fields are omitted rather than written, the refusal of a non-finite number says
// why, and only ASCII whitespace around a key file's bytes is trimmed.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { canonicalJson, minHmacKeyBytes, readHmacKeyFile } from '../../src/audit/audit-hash.js';

test('undefined members are left out of the canonical form, null is kept', () => {
  assert.equal(canonicalJson({ b: undefined, a: 1, c: null }), '{"a":1,"c":null}');
  assert.equal(canonicalJson({ only: undefined }), '{}');
  assert.equal(canonicalJson({}), '{}');
});

test('strings are written exactly as JSON.stringify writes them, escaped or not', () => {
  // The serializer quotes a string itself unless it holds a character JSON.stringify escapes:
  // every control character, quote, backslash and lone surrogate is checked on both sides of
  // that decision, in the middle of ordinary text.
  const cases = [
    'plain /v2/models/mlp/infer?x=1',
    '',
    ...Array.from({ length: 0x20 }, (_, c) => `a${String.fromCharCode(c)}b`),
    'a"b',
    'a\\b',
    'a\u007fb', // DEL: not escaped
    'a\u2028b\u2029', // line and paragraph separators: not escaped by JSON.stringify
    'lone high \ud800 end',
    'lone low \udfff end',
    'high at end \udbff',
    'pair \ud83d\ude00 kept',
    'é€ non-ASCII',
  ];
  for (const value of cases) {
    assert.equal(canonicalJson({ value }), `{"value":${JSON.stringify(value)}}`, value);
  }
  assert.equal(canonicalJson({ s: 'a\u0000b' }), '{"s":"a\\u0000b"}');
  assert.equal(canonicalJson({ s: 'x\ud800' }), '{"s":"x\\ud800"}');
  assert.equal(canonicalJson({ s: '"' }), '{"s":"\\""}');
});

test('a non-finite number is refused with the reason', () => {
  for (const n of [Number.NaN, Infinity, -Infinity]) {
    assert.throws(() => canonicalJson({ n }), {
      name: 'TypeError',
      message: 'canonical JSON: numbers must be finite (RFC 8785)',
    });
  }
});

test('a key file: 32 bytes at least, ASCII whitespace trimmed at both ends only', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bastion-hmac-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.equal(minHmacKeyBytes, 32);
  const path = join(dir, 'key');
  const key = 'k'.repeat(16) + ' \t' + 'k'.repeat(16);
  await writeFile(path, ` \t\r\n${key}\r\n\t `);
  assert.deepEqual(Buffer.from(await readHmacKeyFile(path)), Buffer.from(key));
  // Other bytes are key bytes, whitespace-looking or not.
  const odd = Buffer.concat([Buffer.from([0x0b, 0x0c, 0xa0]), Buffer.alloc(32, 0x61)]);
  await writeFile(path, odd);
  assert.deepEqual(Buffer.from(await readHmacKeyFile(path)), odd);
  await writeFile(path, ' '.repeat(40));
  await assert.rejects(readHmacKeyFile(path), {
    message: `audit HMAC key file ${path} holds 0 bytes; at least 32 are required`,
  });
  await assert.rejects(readHmacKeyFile(join(dir, 'missing')), { code: 'ENOENT' });
});
