import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import {
  attr,
  buildComputeMlp,
  buildFailingModel,
  buildIdentityModel,
  buildMlp,
  createGraph,
  ELEM_TYPES,
  toFloat16Bits,
  type ElemType,
} from '../../scripts/onnx/onnx-builder.js';

// Gather's expected failure would otherwise be printed by ONNX Runtime's logger.
const quiet: ort.InferenceSession.SessionOptions = { logSeverityLevel: 4 };

async function load(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, quiet);
}

/** Four sample values per type, in the form onnxruntime-node takes and returns them. */
const SAMPLES: Record<ElemType, ort.Tensor['data']> = {
  float32: Float32Array.from([1.5, -2, 0, 3.25]),
  float64: Float64Array.from([Math.PI, -1e300, 0, 2 ** -1074]),
  float16: Uint16Array.from([0x3c00, 0xc000, 0x0000, 0x7bff]),
  int8: Int8Array.from([-128, 127, 0, -1]),
  int16: Int16Array.from([-32768, 32767, 0, 7]),
  int32: Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, 42]),
  int64: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 0n, 9007199254740993n]),
  uint8: Uint8Array.from([0, 255, 1, 128]),
  uint16: Uint16Array.from([0, 65535, 1, 300]),
  uint32: Uint32Array.from([0, 2 ** 32 - 1, 1, 70000]),
  uint64: BigUint64Array.from([0n, 2n ** 64n - 1n, 1n, 2n ** 53n + 1n]),
  bool: Uint8Array.from([1, 0, 0, 1]),
  string: ['', 'a', 'héllo wörld', '✓ utf-8'],
};

function sample(elemType: ElemType, count: number): ort.Tensor['data'] {
  const data = SAMPLES[elemType];
  return Array.isArray(data) ? data.slice(0, count) : data.subarray(0, count);
}

void describe('buildIdentityModel', () => {
  for (const elemType of ELEM_TYPES) {
    void it(`round-trips ${elemType} with a symbolic batch dim`, async () => {
      const session = await load(buildIdentityModel(elemType, ['batch', 2]));
      assert.deepEqual(session.inputMetadata, [
        { name: 'x', isTensor: true, type: elemType, shape: ['batch', 2] },
      ]);
      assert.deepEqual(session.outputMetadata, [
        { name: 'y', isTensor: true, type: elemType, shape: ['batch', 2] },
      ]);
      const x = new ort.Tensor(elemType, sample(elemType, 4), [2, 2]);
      const { y } = await session.run({ x });
      assert.equal(y?.type, elemType);
      assert.deepEqual(y.dims, [2, 2]);
      assert.deepEqual(y.data, x.data);
    });

    void it(`round-trips a ${elemType} scalar (dims [])`, async () => {
      const session = await load(buildIdentityModel(elemType, []));
      const meta = session.inputMetadata[0];
      assert.ok(meta?.isTensor);
      assert.deepEqual(meta.shape, []);
      const x = new ort.Tensor(elemType, sample(elemType, 1), []);
      const { y } = await session.run({ x });
      assert.deepEqual(y?.dims, []);
      assert.deepEqual(y.data, x.data);
    });
  }

  void it('is deterministic and starts with ir_version 8', () => {
    const a = buildIdentityModel('float32', ['batch', 3]);
    const b = buildIdentityModel('float32', ['batch', 3]);
    assert.deepEqual(a, b);
    assert.deepEqual([...a.subarray(0, 2)], [0x08, 8]);
  });
});

void describe('buildComputeMlp / buildMlp', () => {
  void it('runs with output [batch, outputs], same seed same bytes', async () => {
    const options = { inputs: 16, hidden: 32, outputs: 8, seed: 7 };
    const bytes = buildComputeMlp(options);
    assert.deepEqual(bytes, buildComputeMlp(options));
    assert.notDeepEqual(bytes, buildComputeMlp({ ...options, seed: 8 }));
    const session = await load(bytes);
    assert.deepEqual(session.inputNames, ['input']);
    assert.deepEqual(session.outputNames, ['output']);
    const input = new ort.Tensor('float32', new Float32Array(3 * 16).fill(0.25), [3, 16]);
    const { output } = await session.run({ input });
    assert.deepEqual(output?.dims, [3, 8]);
    const data = output.data as Float32Array;
    assert.ok(data.every(Number.isFinite));
    // Identical rows in, identical rows out; and ReLU + random weights give non-zero logits.
    assert.deepEqual(data.subarray(0, 8), data.subarray(16, 24));
    assert.ok(data.some((v) => v !== 0));
  });

  void it('applies softmax when asked', async () => {
    const session = await load(
      buildMlp({ layers: [4, 5, 3], seed: 1, outputActivation: 'softmax' }),
    );
    const input = new ort.Tensor('float32', Float32Array.from([1, -2, 3, 0.5]), [1, 4]);
    const { output } = await session.run({ input });
    const sum = [...(output?.data as Float32Array)].reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5);
  });

  void it('rejects bad layer widths', () => {
    assert.throws(() => buildMlp({ layers: [4], seed: 1 }), RangeError);
    assert.throws(() => buildMlp({ layers: [4, 0], seed: 1 }), RangeError);
  });
});

void describe('buildFailingModel', () => {
  void it('looks values up for x in range and fails at run time for x >= 4', async () => {
    const session = await load(buildFailingModel());
    const ok = await session.run({
      x: new ort.Tensor('float32', Float32Array.from([0, 1, 2.7, 3, -1]), [5]),
    });
    assert.deepEqual([...(ok.y?.data as Float32Array)], [0, 10, 20, 30, 30]);
    await assert.rejects(
      session.run({ x: new ort.Tensor('float32', Float32Array.from([0, 4]), [2]) }),
      /out of data bounds/,
    );
  });
});

void describe('createGraph', () => {
  void it('writes every attribute kind (through Constant) and typed initializers', async () => {
    const bytes = createGraph('attrs')
      .input('x', 'float32', [null, 2])
      .initializer('shift', 'int64', [2], [10n, -3n])
      .initializer('half', 'float16', [], [0.5])
      .node('Constant', [], ['c_floats'], { value_floats: attr.floats([0.5, -1.25]) })
      .node('Constant', [], ['c_ints'], { value_ints: attr.ints([1, -2, 3]) })
      .node('Constant', [], ['c_string'], { value_string: attr.string('hé') })
      .node('Constant', [], ['c_strings'], { value_strings: attr.strings(['a', 'b']) })
      .node('Constant', [], ['c_tensor'], {
        value: attr.tensor('int32', [2, 2], [1, 2, 3, 4]),
      })
      .node('LeakyRelu', ['x'], ['leaky'], { alpha: attr.float(0.5) })
      .node('Cast', ['leaky'], ['leaky_i64'], { to: attr.int(7) })
      .node('Add', ['leaky_i64', 'shift'], ['shifted'])
      .node('Transpose', ['c_tensor'], ['transposed'], { perm: attr.ints([1, 0]) })
      .node('Identity', ['half'], ['half_out'], {}, { name: 'named' })
      .output('c_floats', 'float32', [2])
      .output('c_ints', 'int64', [3])
      .output('c_string', 'string', [])
      .output('c_strings', 'string', [2])
      .output('transposed', 'int32', [2, 2])
      .output('shifted', 'int64', undefined)
      .output('half_out', 'float16', [])
      .toBytes({ metadata: { b: '2', a: '1' }, modelVersion: 3, docString: 'test' });
    const session = await load(bytes);
    const out = await session.run({
      x: new ort.Tensor('float32', Float32Array.from([4, -4]), [1, 2]),
    });
    assert.deepEqual([...(out.c_floats?.data as Float32Array)], [0.5, -1.25]);
    assert.deepEqual([...(out.c_ints?.data as BigInt64Array)], [1n, -2n, 3n]);
    assert.deepEqual(out.c_string?.data, ['hé']);
    assert.deepEqual(out.c_strings?.data, ['a', 'b']);
    assert.deepEqual([...(out.transposed?.data as Int32Array)], [1, 3, 2, 4]);
    assert.deepEqual([...(out.shifted?.data as BigInt64Array)], [14n, -5n]);
    assert.deepEqual([...(out.half_out?.data as Uint16Array)], [0x3800]);
  });

  const bad: [string, () => unknown, RegExp][] = [
    [
      'an undefined node input',
      () =>
        createGraph('g')
          .input('x', 'float32', [1])
          .node('Relu', ['nope'], ['y'])
          .output('y', 'float32', [1])
          .toBytes(),
      /reads nope/,
    ],
    [
      'a node read before it is produced',
      () =>
        createGraph('g')
          .input('x', 'float32', [1])
          .node('Relu', ['z'], ['y'])
          .node('Relu', ['x'], ['z'])
          .output('y', 'float32', [1])
          .toBytes(),
      /reads z/,
    ],
    [
      'an output never produced',
      () => createGraph('g').input('x', 'float32', [1]).output('y', 'float32', [1]).toBytes(),
      /never produced/,
    ],
    ['no outputs', () => createGraph('g').input('x', 'float32', [1]).toBytes(), /no outputs/],
    [
      'a duplicate name',
      () => createGraph('g').input('x', 'float32', [1]).initializer('x', 'float32', [1], [0]),
      /already defined/,
    ],
    [
      'a node overwriting an input',
      () => createGraph('g').input('x', 'float32', [1]).node('Relu', ['x'], ['x']),
      /already defined/,
    ],
    [
      'an output declared twice',
      () => createGraph('g').output('y', 'float32', [1]).output('y', 'float32', [1]),
      /declared twice/,
    ],
    ['a negative dim', () => createGraph('g').input('x', 'float32', [-1]), /bad dim/],
    ['an empty symbolic dim', () => createGraph('g').input('x', 'float32', ['']), /bad dim/],
    [
      'too few values',
      () => createGraph('g').initializer('w', 'float32', [2, 2], [1, 2, 3]),
      /needs 4 values/,
    ],
    [
      'an out-of-range int',
      () => createGraph('g').initializer('w', 'uint8', [1], [256]),
      /out of range/,
    ],
    [
      'a fractional int',
      () => createGraph('g').initializer('w', 'int32', [1], [1.5]),
      /out of range/,
    ],
    [
      'a non-string in a string tensor',
      () => createGraph('g').initializer('w', 'string', [1], [1]),
      /not a string/,
    ],
    [
      'an unsafe int64 number',
      () => createGraph('g').initializer('w', 'int64', [1], [2 ** 60]),
      /not an integer/,
    ],
  ];
  for (const [what, build, message] of bad) {
    void it(`rejects ${what}`, () => {
      assert.throws(build, message);
    });
  }
});

void describe('toFloat16Bits', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [1e-8, 0x0000],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
  ];
  for (const [value, bits] of cases) {
    void it(`${value} → 0x${bits.toString(16)}`, () => {
      assert.equal(toFloat16Bits(value), bits);
    });
  }
  void it('keeps NaN a NaN', () => {
    assert.equal(toFloat16Bits(NaN) & 0x7e00, 0x7e00);
  });
});
