// Known-answer vectors for the DSSE pre-authentication encoding: the bytes every OMS signature
// covers. The expected strings are written out by hand from the DSSE v1 spec
// (github.com/secure-systems-lab/dsse, protocol.md) and, for the legacy form, from what
// model_signing v0.2.0 formatted with Python's f-string over `bytes` (its `repr`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLegacyPae, createPae } from '../../../src/models/oms/dsse-pae.js';

test('DSSE spec example: PAE("http://example.com/HelloWorld", "hello world")', () => {
  const pae = createPae('http://example.com/HelloWorld', Buffer.from('hello world'));
  assert.equal(pae.toString('latin1'), 'DSSEv1 29 http://example.com/HelloWorld 11 hello world');
});

test('PAE lengths are UTF-8 byte counts, and the payload is copied byte for byte', () => {
  // "é" is two bytes, "€" three: lengths count bytes, not characters.
  const pae = createPae('typé', Buffer.from([0xe2, 0x82, 0xac, 0x00, 0xff]));
  assert.deepEqual(
    pae,
    Buffer.concat([
      Buffer.from('DSSEv1 5 typ', 'latin1'),
      Buffer.from([0xc3, 0xa9]),
      Buffer.from(' 5 ', 'latin1'),
      Buffer.from([0xe2, 0x82, 0xac, 0x00, 0xff]),
    ]),
  );
});

test('PAE of empty type and payload keeps every separator', () => {
  assert.equal(createPae('', Buffer.alloc(0)).toString('latin1'), 'DSSEv1 0  0 ');
});

test('the in-toto payload type of OMS statements', () => {
  const type = 'application/vnd.in-toto+json';
  const pae = createPae(type, Buffer.from('{"a":1}'));
  assert.equal(pae.toString('utf8'), `DSSEv1 28 ${type} 7 {"a":1}`);
});

test('legacy PAE: "DSSEV1" and the payload as Python repr(bytes)', () => {
  const legacy = createLegacyPae('http://example.com/HelloWorld', Buffer.from('hello world'));
  assert.equal(
    legacy.toString('utf8'),
    "DSSEV1 29 http://example.com/HelloWorld 11 b'hello world'",
  );
});

test('legacy PAE escapes exactly as Python repr(bytes) does', () => {
  const vectors: [number[] | string, string][] = [
    // Printable ASCII from space to tilde is kept as is.
    [' ~azAZ09{}', "b' ~azAZ09{}'"],
    ['tab\tnl\ncr\r', "b'tab\\tnl\\ncr\\r'"],
    ['back\\slash', "b'back\\\\slash'"],
    // A single quote and no double quote: Python switches to double quotes, no escape.
    ["it's", 'b"it\'s"'],
    // A double quote alone needs no escape inside single quotes.
    ['say "hi"', 'b\'say "hi"\''],
    // Both quotes: single quotes, the single quote escaped.
    ['\'"', "b'\\'\"'"],
    // Control bytes, DEL and high bytes as two lowercase hex digits.
    [[0x00, 0x01, 0x1f, 0x7f, 0x80, 0xab, 0xff], "b'\\x00\\x01\\x1f\\x7f\\x80\\xab\\xff'"],
    [[], "b''"],
  ];
  for (const [bytes, repr] of vectors) {
    const payload = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes);
    assert.equal(
      createLegacyPae('t', payload).toString('utf8'),
      `DSSEV1 1 t ${payload.length} ${repr}`,
      JSON.stringify(bytes),
    );
  }
});
