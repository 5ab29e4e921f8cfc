import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BastionError } from '../../src/errors.js';
import { decodeBinaryElements, encodeBinaryElements } from '../../src/inference/binary-tensor.js';
import type { ElementType, HostTensor } from '../../src/inference/engine.js';
import { createInferRequestParser } from '../../src/inference/input-schema.js';
import { float16Bits } from '../../src/inference/float16.js';

/** Little-endian bytes of `values` in `type`, built independently of the codec under test. */
function leBytes(type: Exclude<ElementType, 'string'>, values: readonly (number | bigint)[]) {
  const size = { 1: ['bool', 'uint8', 'int8'], 2: ['uint16', 'int16', 'float16'] };
  const width = size[1].includes(type) ? 1 : size[2].includes(type) ? 2 : /64/.test(type) ? 8 : 4;
  const out = new Uint8Array(values.length * width);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    const at = i * width;
    switch (type) {
      case 'bool':
      case 'uint8':
        view.setUint8(at, Number(v));
        break;
      case 'int8':
        view.setInt8(at, Number(v));
        break;
      case 'uint16':
        view.setUint16(at, Number(v), true);
        break;
      case 'float16':
        view.setUint16(at, float16Bits(Number(v)), true);
        break;
      case 'int16':
        view.setInt16(at, Number(v), true);
        break;
      case 'uint32':
        view.setUint32(at, Number(v), true);
        break;
      case 'int32':
        view.setInt32(at, Number(v), true);
        break;
      case 'float32':
        view.setFloat32(at, Number(v), true);
        break;
      case 'uint64':
        view.setBigUint64(at, BigInt(v), true);
        break;
      case 'int64':
        view.setBigInt64(at, BigInt(v), true);
        break;
      case 'float64':
        view.setFloat64(at, Number(v), true);
        break;
    }
  });
  return out;
}

/** Length-prefixed BYTES elements. */
function bytesElements(values: readonly (string | Uint8Array)[]): Uint8Array {
  const parts = values.map((v) => (typeof v === 'string' ? new TextEncoder().encode(v) : v));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.length, true);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** `bytes` placed at `offset` inside a larger buffer (to test aligned and unaligned views). */
function at(offset: number, bytes: Uint8Array): Uint8Array {
  const backing = new Uint8Array(offset + bytes.length + 3);
  backing.set(bytes, offset);
  return backing.subarray(offset, offset + bytes.length);
}

const samples: [Exclude<ElementType, 'string'>, (number | bigint)[]][] = [
  ['bool', [1, 0, 1]],
  ['uint8', [0, 128, 255]],
  ['int8', [-128, 0, 127]],
  ['uint16', [0, 1, 65535]],
  ['int16', [-32768, -1, 32767]],
  ['float16', [0, -1.5, 65504]],
  ['uint32', [0, 1, 4294967295]],
  ['int32', [-2147483648, -1, 2147483647]],
  ['float32', [0, -1.5, 3.4028234663852886e38]],
  ['uint64', [0n, 9007199254740993n, 18446744073709551615n]],
  ['int64', [-9223372036854775808n, -1n, 9223372036854775807n]],
  ['float64', [0, -1.5, Number.MAX_VALUE]],
];

function plain(data: HostTensor['data']): unknown[] {
  return Array.from(data as ArrayLike<unknown>);
}

void describe('binary tensor codec', () => {
  for (const [type, values] of samples) {
    void it(`${type}: decodes aligned (as a view) and unaligned (as a copy), encodes back`, () => {
      const raw = leBytes(type, values);
      const aligned = at(8, raw);
      const view = decodeBinaryElements('x', type, values.length, aligned);
      assert.equal((view as Uint8Array).buffer, aligned.buffer, 'aligned input is not copied');
      const unaligned = at(1, raw);
      const copy = decodeBinaryElements('x', type, values.length, unaligned);
      if (raw.length / values.length > 1) {
        assert.notEqual((copy as Uint8Array).buffer, unaligned.buffer, 'unaligned input is copied');
      }
      const expected =
        type === 'float16' ? values.map((v) => float16Bits(Number(v))) : values.map((v) => v);
      assert.deepEqual(plain(view), expected);
      assert.deepEqual(plain(copy), expected);
      const encoded = encodeBinaryElements({ type, dims: [values.length], data: copy });
      assert.deepEqual([...encoded], [...raw]);
    });

    if (type !== 'bool' && type !== 'uint8' && type !== 'int8') {
      void it(`${type}: a byte count that is not count × element size is INVALID_BINARY_DATA`, () => {
        const raw = leBytes(type, values);
        assert.throws(
          () => decodeBinaryElements('x', type, values.length, raw.subarray(1)),
          code('INVALID_BINARY_DATA', /needs/),
        );
      });
    }
  }

  void it('a byte count for a different element count is INVALID_BINARY_DATA', () => {
    assert.throws(
      () => decodeBinaryElements('x', 'uint8', 2, new Uint8Array(3)),
      code('INVALID_BINARY_DATA', /"x".*3 bytes.*needs 2/),
    );
  });

  for (const [type, bad] of [
    ['float32', NaN],
    ['float32', Infinity],
    ['float64', -Infinity],
    ['float64', NaN],
  ] as const) {
    void it(`${type} ${bad} is NON_FINITE_VALUE, naming the element`, () => {
      const raw = leBytes(type, [1, 2, bad]);
      assert.throws(
        () => decodeBinaryElements('x', type, 3, raw),
        code('NON_FINITE_VALUE', /element 2/),
      );
    });
  }

  void it('FP16 infinity and NaN bits are NON_FINITE_VALUE', () => {
    for (const bits of [0x7c00, 0xfc00, 0x7e00]) {
      const raw = new Uint8Array([0, 0, bits & 0xff, bits >> 8]);
      assert.throws(() => decodeBinaryElements('h', 'float16', 2, raw), code('NON_FINITE_VALUE'));
    }
  });

  void it('BOOL bytes other than 0 and 1 are INVALID_DATA', () => {
    assert.throws(
      () => decodeBinaryElements('b', 'bool', 3, new Uint8Array([0, 1, 2])),
      code('INVALID_DATA', /element 2/),
    );
  });

  void it('BYTES: length-prefixed UTF-8 round-trips, empty strings included', () => {
    const values = ['', 'hello', 'üñï©ødé', 'a"b\\c'];
    const raw = bytesElements(values);
    assert.deepEqual(decodeBinaryElements('s', 'string', 4, at(3, raw)), values);
    assert.deepEqual(
      [...encodeBinaryElements({ type: 'string', dims: [4], data: values })],
      [...raw],
    );
  });

  void it('BYTES: encodes every string as Buffer.from would (surrogate pairs, lone surrogates)', () => {
    const wellFormed = ['a', 'é', '€', '😀', '', '"', 'label'];
    for (const pieces of [wellFormed, [...wellFormed, '\ud800', '\udfff', 'x\ud83d']]) {
      let seed = 7;
      const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
      const values = Array.from({ length: 500 }, () =>
        Array.from({ length: next() % 6 }, () => pieces[next() % pieces.length]).join(''),
      );
      const encoded = encodeBinaryElements({ type: 'string', dims: [values.length], data: values });
      const expected = Buffer.concat(
        values.flatMap((v) => {
          const bytes = Buffer.from(v, 'utf8');
          const length = Buffer.alloc(4);
          length.writeUInt32LE(bytes.length);
          return [length, bytes];
        }),
      );
      assert.ok(Buffer.from(encoded).equals(expected), pieces.join(' '));
    }
  });

  const bytesCases: [string, number, Uint8Array, string, RegExp][] = [
    ['fewer elements than the shape', 3, bytesElements(['a', 'b']), 'INVALID_BINARY_DATA', /ends/],
    ['bytes left over', 1, bytesElements(['a', 'b']), 'INVALID_BINARY_DATA', /remain after/],
    [
      'a length past the end',
      1,
      bytesElements(['abc']).subarray(0, 6),
      'INVALID_BINARY_DATA',
      /declares 3/,
    ],
    ['a truncated length', 1, new Uint8Array([1, 0]), 'INVALID_BINARY_DATA', /ends/],
    ['invalid UTF-8', 1, bytesElements([new Uint8Array([0xff, 0xfe])]), 'INVALID_DATA', /UTF-8/],
  ];
  for (const [name, count, raw, errorCode, says] of bytesCases) {
    void it(`BYTES: ${name} is ${errorCode}`, () => {
      assert.throws(() => decodeBinaryElements('s', 'string', count, raw), code(errorCode, says));
    });
  }
});

void describe('binary framing in the request parser', () => {
  const parser = createInferRequestParser(
    {
      inputs: [
        { name: 'a', type: 'float32', dims: [-1, 2], dimNames: ['batch', undefined] },
        { name: 'b', type: 'int64', dims: [-1], dimNames: ['batch'] },
      ],
      outputs: [
        { name: 'y', type: 'float32', dims: [-1, 2] },
        { name: 'z', type: 'int64', dims: [-1] },
      ],
    },
    { maxElements: 1000 },
  );
  const a = leBytes('float32', [1, 2, 3, 4]);
  const b = leBytes('int64', [5n, 6n]);
  const header = (sizeA: unknown, sizeB: unknown, extra: object = {}) => ({
    inputs: [
      { name: 'a', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: sizeA } },
      { name: 'b', shape: [2], datatype: 'INT64', parameters: { binary_data_size: sizeB } },
    ],
    ...extra,
  });
  const both = new Uint8Array([...a, ...b]);

  void it('reads each binary input from its slice, in input order', () => {
    const bound = parser.parse(header(16, 16), both);
    assert.deepEqual(plain(bound.feeds['a']?.data ?? []), [1, 2, 3, 4]);
    assert.deepEqual(plain(bound.feeds['b']?.data ?? []), [5n, 6n]);
    assert.equal(bound.binaryOutputs.size, 0);
  });

  void it('mixes JSON and binary inputs', () => {
    const body = {
      inputs: [
        { name: 'a', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] },
        { name: 'b', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
      ],
    };
    const bound = parser.parse(body, b);
    assert.deepEqual(plain(bound.feeds['b']?.data ?? []), [5n, 6n]);
  });

  const framing: [string, unknown, Uint8Array | undefined, string, RegExp?][] = [
    ['sizes short of the binary data', header(16, 8), both, 'INVALID_BINARY_DATA', /add up/],
    ['sizes past the binary data', header(16, 24), both, 'INVALID_BINARY_DATA', /past the end/],
    ['a size that is not the shape', header(8, 24), both, 'INVALID_BINARY_DATA', /needs 16/],
    ['a negative size', header(-16, 32), both, 'INVALID_BINARY_DATA', /non-negative/],
    ['a fractional size', header(15.5, 16.5), both, 'INVALID_BINARY_DATA'],
    ['a string size', header('16', 16), both, 'INVALID_BINARY_DATA'],
    ['binary inputs in a JSON request', header(16, 16), undefined, 'INVALID_BINARY_DATA', /needs/],
    [
      'data and binary_data_size together',
      {
        inputs: [
          {
            name: 'a',
            shape: [2, 2],
            datatype: 'FP32',
            data: [1, 2, 3, 4],
            parameters: { binary_data_size: 16 },
          },
          { name: 'b', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
        ],
      },
      both,
      'INVALID_REQUEST',
      /not both/,
    ],
    [
      'binary data but no binary input',
      {
        inputs: [
          { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
          { name: 'b', shape: [1], datatype: 'INT64', data: [1] },
        ],
      },
      new Uint8Array(1),
      'INVALID_BINARY_DATA',
      /add up to 0/,
    ],
    ['envelope checks still apply', { ...header(16, 16), id: 7 }, both, 'INVALID_REQUEST'],
    [
      'binary_data_output that is not a boolean',
      header(16, 16, { parameters: { binary_data_output: 'yes' } }),
      both,
      'INVALID_REQUEST',
      /binary_data_output/,
    ],
    [
      'binary_data that is not a boolean',
      header(16, 16, { outputs: [{ name: 'y', parameters: { binary_data: 1 } }] }),
      both,
      'INVALID_REQUEST',
      /binary_data/,
    ],
  ];
  for (const [name, body, binary, errorCode, says] of framing) {
    void it(`${name}: ${errorCode}`, () => {
      assert.throws(() => parser.parse(body, binary), code(errorCode, says));
    });
  }

  void it('chooses binary outputs: all, per output, and per output overriding all', () => {
    const all = parser.parse(header(16, 16, { parameters: { binary_data_output: true } }), both);
    assert.deepEqual([...all.binaryOutputs], ['y', 'z']);
    const one = parser.parse(
      header(16, 16, {
        outputs: [{ name: 'z', parameters: { binary_data: true } }, { name: 'y' }],
      }),
      both,
    );
    assert.deepEqual([...one.binaryOutputs], ['z']);
    assert.deepEqual(one.outputs, ['z', 'y']);
    const override = parser.parse(
      header(16, 16, {
        parameters: { binary_data_output: true },
        outputs: [{ name: 'y', parameters: { binary_data: false } }, { name: 'z' }],
      }),
      both,
    );
    assert.deepEqual([...override.binaryOutputs], ['z']);
  });
});

function code(expected: string, says?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof BastionError, String(error));
    assert.equal(error.code, expected, error.message);
    if (says !== undefined) assert.match(error.message, says);
    return true;
  };
}
