// Unit tests of the infer request parser: every envelope bound, every model-specific check, and
// what a bound request carries. Each refusal is asserted by code AND message, because the
// message is what a client reads to fix its request (table-driven, as STYLE.md asks).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BastionError } from '../../src/errors.js';
import type { ModelSignature } from '../../src/inference/engine.js';
import { inferRequestEnvelope, maxRank } from '../../src/inference/infer-envelope.js';
import { createInferRequestParser } from '../../src/inference/input-schema.js';

/** Accepts a BastionError of `code` whose message matches `says` (exactly, for a string). */
function refusal(code: string, says: RegExp | string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof BastionError, String(error));
    assert.equal(error.code, code, error.message);
    if (typeof says === 'string') assert.equal(error.message, says);
    else assert.match(error.message, says);
    return true;
  };
}

/** Two batched inputs sharing the symbolic `batch` dimension, a fixed width, two outputs. */
const batchedSignature: ModelSignature = {
  inputs: [
    { name: 'a', type: 'float32', dims: [-1, 2], dimNames: ['batch', undefined] },
    { name: 'b', type: 'int64', dims: [-1], dimNames: ['batch'] },
  ],
  outputs: [
    { name: 'y', type: 'float32', dims: [-1, 3] },
    { name: 'z', type: 'int64', dims: [-1] },
  ],
};
const parser = createInferRequestParser(batchedSignature, { maxElements: 12 });

const inputA = (
  shape: number[],
  data: unknown = new Array(shape.reduce((x, y) => x * y, 1)).fill(1),
) => ({
  name: 'a',
  shape,
  datatype: 'FP32',
  data,
});
const inputB = (rows: number) => ({
  name: 'b',
  shape: [rows],
  datatype: 'INT64',
  data: new Array(rows).fill(7),
});
const good = (extra: object = {}) => ({ inputs: [inputA([2, 2]), inputB(2)], ...extra });

void describe('a bound request', () => {
  void it('carries decoded feeds, every output, the element count and the row count', () => {
    const bound = parser.parse({ id: 'r-1', inputs: [inputA([2, 2], [1, 2, 3, 4]), inputB(2)] });
    assert.equal(bound.id, 'r-1');
    assert.deepEqual(Object.keys(bound.feeds), ['a', 'b']);
    assert.equal(Object.getPrototypeOf(bound.feeds), null);
    const { a, b } = bound.feeds;
    assert.ok(a !== undefined && b !== undefined, 'a !== undefined && b !== undefined');
    assert.equal(a.type, 'float32');
    assert.deepEqual(a.dims, [2, 2]);
    assert.deepEqual([...(a.data as Float32Array)], [1, 2, 3, 4]);
    assert.equal(b.type, 'int64');
    assert.deepEqual([...(b.data as BigInt64Array)], [7n, 7n]);
    assert.deepEqual(bound.outputs, ['y', 'z']);
    assert.equal(bound.explicitOutputs, false);
    assert.equal(bound.binaryOutputs.size, 0);
    assert.equal(bound.classification.size, 0);
    assert.equal(bound.elements, 6);
    assert.equal(bound.rows, 2);
  });

  void it('has no id when the request has none', () => {
    assert.equal(parser.parse(good()).id, undefined);
  });

  void it('the schema and parse agree (the schema is what the route and OpenAPI use)', () => {
    const viaSchema = parser.schema.parse(good());
    assert.deepEqual(viaSchema.outputs, ['y', 'z']);
    assert.equal(viaSchema.elements, 6);
    const refused = parser.schema.safeParse({ inputs: [inputA([2, 2])] });
    assert.ok(!refused.success, '!refused.success');
    const issue = refused.error.issues[0];
    assert.equal(issue?.message, 'input "b" is missing');
    assert.deepEqual(issue.code === 'custom' ? issue.params : undefined, {
      code: 'MISSING_INPUT',
    });
  });

  void it('`outputs: []` means every output, not none, and is not an explicit choice', () => {
    const bound = parser.parse(good({ outputs: [] }));
    assert.deepEqual(bound.outputs, ['y', 'z']);
    assert.equal(bound.explicitOutputs, false);
  });

  void it('named outputs are answered in the order asked, and only those', () => {
    const bound = parser.parse(good({ outputs: [{ name: 'z' }, { name: 'y' }] }));
    assert.deepEqual(bound.outputs, ['z', 'y']);
    assert.equal(bound.explicitOutputs, true);
    assert.deepEqual(parser.parse(good({ outputs: [{ name: 'z' }] })).outputs, ['z']);
  });

  void it('binary_data_output marks every output binary, even with `outputs: []`', () => {
    const all = parser.parse(good({ parameters: { binary_data_output: true } }));
    assert.deepEqual([...all.binaryOutputs], ['y', 'z']);
    const empty = parser.parse(good({ parameters: { binary_data_output: true }, outputs: [] }));
    assert.deepEqual([...empty.binaryOutputs], ['y', 'z']);
    const off = parser.parse(good({ parameters: { binary_data_output: false } }));
    assert.equal(off.binaryOutputs.size, 0);
  });

  void it('with named outputs, only the named ones can be binary', () => {
    const bound = parser.parse(
      good({ parameters: { binary_data_output: true }, outputs: [{ name: 'z' }] }),
    );
    assert.deepEqual([...bound.binaryOutputs], ['z']);
  });

  void it('records a classification request per output with its k', () => {
    const bound = parser.parse(
      good({ outputs: [{ name: 'y', parameters: { classification: 2 } }, { name: 'z' }] }),
    );
    assert.deepEqual([...bound.classification], [['y', 2]]);
  });

  void it('shape product counts elements (not a sum, not a quotient)', () => {
    const single = createInferRequestParser(
      { inputs: [{ name: 'x', type: 'int32', dims: [-1, -1, -1] }], outputs: [] },
      { maxElements: 100 },
    );
    const bound = single.parse({
      inputs: [{ name: 'x', shape: [2, 3, 4], datatype: 'INT32', data: new Array(24).fill(0) }],
    });
    assert.equal(bound.elements, 24);
    assert.deepEqual(bound.outputs, []);
    const zero = single.parse({
      inputs: [{ name: 'x', shape: [3, 0, 5], datatype: 'INT32', data: [] }],
    });
    assert.equal(zero.elements, 0);
    assert.equal(zero.feeds['x']?.data.length, 0);
  });

  void it('rows: only when every input is batched along its first dimension', () => {
    const fixedFirst = createInferRequestParser(
      {
        inputs: [
          { name: 'a', type: 'float32', dims: [-1, 2] },
          { name: 'b', type: 'float32', dims: [3] },
        ],
        outputs: [],
      },
      { maxElements: 100 },
    );
    const bound = fixedFirst.parse({
      inputs: [
        { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
        { name: 'b', shape: [3], datatype: 'FP32', data: [1, 2, 3] },
      ],
    });
    assert.equal(bound.rows, undefined);
    const scalar = createInferRequestParser(
      { inputs: [{ name: 's', type: 'float32', dims: [] }], outputs: [] },
      { maxElements: 100 },
    );
    const one = scalar.parse({ inputs: [{ name: 's', shape: [], datatype: 'FP32', data: [5] }] });
    assert.equal(one.rows, undefined);
    assert.equal(one.elements, 1);
    const noInputs = createInferRequestParser({ inputs: [], outputs: [] }, { maxElements: 1 });
    assert.throws(
      () => noInputs.parse({ inputs: [{ name: 'q', shape: [], datatype: 'FP32', data: [1] }] }),
      refusal('UNKNOWN_INPUT', 'input "q" is not an input of this model (expected: )'),
    );
    const batchedOne = createInferRequestParser(
      { inputs: [{ name: 'a', type: 'float32', dims: [-1] }], outputs: [] },
      { maxElements: 100 },
    );
    assert.equal(
      batchedOne.parse({ inputs: [{ name: 'a', shape: [3], datatype: 'FP32', data: [1, 2, 3] }] })
        .rows,
      3,
    );
  });
});

void describe('maxElements', () => {
  void it('allows exactly the limit, summed over inputs', () => {
    // a: 4 rows × 2 = 8, b: 4 → 12 = the limit.
    const bound = parser.parse({ inputs: [inputA([4, 2]), inputB(4)] });
    assert.equal(bound.elements, 12);
  });

  void it('refuses one element over, before decoding any data', () => {
    // 5 × 2 + 5 = 15 > 12, with data that would not decode: the count is checked first.
    assert.throws(
      () =>
        parser.parse({
          inputs: [inputA([5, 2], 'not data'), { ...inputB(5), data: 'not data either' }],
        }),
      refusal('TOO_MANY_ELEMENTS', "the request holds more than 12 elements, this model's limit"),
    );
    const exact = createInferRequestParser(
      { inputs: [{ name: 'x', type: 'uint8', dims: [-1] }], outputs: [] },
      { maxElements: 3 },
    );
    assert.throws(
      () =>
        exact.parse({ inputs: [{ name: 'x', shape: [4], datatype: 'UINT8', data: [1, 2, 3, 4] }] }),
      refusal('TOO_MANY_ELEMENTS', /more than 3 elements/),
    );
    assert.equal(
      exact.parse({ inputs: [{ name: 'x', shape: [3], datatype: 'UINT8', data: [1, 2, 3] }] })
        .elements,
      3,
    );
  });

  void it('counts a later input on top of the earlier ones', () => {
    // a alone (3 × 2 = 6) fits; b's 3 more still fits (9); 4 rows of b would not match a.
    assert.equal(parser.parse({ inputs: [inputA([3, 2]), inputB(3)] }).elements, 9);
    const two = createInferRequestParser(
      {
        inputs: [
          { name: 'p', type: 'uint8', dims: [-1] },
          { name: 'q', type: 'uint8', dims: [-1] },
        ],
        outputs: [],
      },
      { maxElements: 5 },
    );
    assert.throws(
      () =>
        two.parse({
          inputs: [
            { name: 'p', shape: [3], datatype: 'UINT8', data: [1, 2, 3] },
            { name: 'q', shape: [3], datatype: 'UINT8', data: [1, 2, 3] },
          ],
        }),
      refusal('TOO_MANY_ELEMENTS', /more than 5/),
    );
  });
});

void describe('model-specific refusals', () => {
  const cases: [string, unknown, string, RegExp | string][] = [
    [
      'an unknown input',
      { inputs: [inputA([1, 2]), inputB(1), { ...inputB(1), name: 'c' }] },
      'UNKNOWN_INPUT',
      'input "c" is not an input of this model (expected: a, b)',
    ],
    [
      'an input given twice',
      { inputs: [inputA([1, 2]), inputB(1), inputB(1)] },
      'DUPLICATE_INPUT',
      'input "b" is given more than once',
    ],
    ['a missing input', { inputs: [inputB(1)] }, 'MISSING_INPUT', 'input "a" is missing'],
    [
      'a datatype that is not v2',
      { inputs: [{ ...inputA([1, 2]), datatype: 'FLOAT' }, inputB(1)] },
      'UNSUPPORTED_DATATYPE',
      'input "a": "FLOAT" is not a v2 datatype',
    ],
    [
      'a v2 datatype that is not the model’s',
      { inputs: [inputA([1, 2]), { ...inputB(1), datatype: 'INT32' }] },
      'DATATYPE_MISMATCH',
      'input "b": the model expects INT64, got INT32',
    ],
    [
      'the wrong rank',
      { inputs: [inputA([2]), inputB(1)] },
      'SHAPE_MISMATCH',
      'input "a": the model expects rank 2 [-1,2], got shape [2]',
    ],
    [
      'a fixed dimension of the wrong size',
      { inputs: [inputA([1, 3]), inputB(1)] },
      'SHAPE_MISMATCH',
      'input "a": dimension 1 must be 2, got 3 (model shape [-1,2])',
    ],
    [
      'a shared symbolic dimension that disagrees',
      { inputs: [inputA([2, 2]), inputB(3)] },
      'SHAPE_MISMATCH',
      'input "b": dimension 0 ("batch") is 3 but input "a" has 2',
    ],
    [
      'data that does not fill the shape',
      { inputs: [inputA([2, 2], [1, 2, 3]), inputB(2)] },
      'DATA_LENGTH_MISMATCH',
      /input "a": shape holds 4 elements/,
    ],
    [
      'an unknown output',
      good({ outputs: [{ name: 'q' }] }),
      'UNKNOWN_OUTPUT',
      'output "q" is not an output of this model (expected: y, z)',
    ],
    [
      'an output named twice',
      good({ outputs: [{ name: 'y' }, { name: 'z' }, { name: 'y' }] }),
      'INVALID_REQUEST',
      'output "y" is requested twice',
    ],
    [
      'binary_data_output that is not a boolean',
      good({ parameters: { binary_data_output: 1 } }),
      'INVALID_REQUEST',
      'request: parameters.binary_data_output must be true or false',
    ],
    [
      'an output’s binary_data that is not a boolean',
      good({ outputs: [{ name: 'z', parameters: { binary_data: 'true' } }] }),
      'INVALID_REQUEST',
      'output "z": parameters.binary_data must be true or false',
    ],
    [
      'a classification count that is not a whole number',
      good({ outputs: [{ name: 'y', parameters: { classification: 0 } }] }),
      'INVALID_REQUEST',
      /output "y": parameters.classification/,
    ],
  ];
  for (const [name, body, code, says] of cases) {
    void it(`${name}: ${code}`, () => {
      assert.throws(() => parser.parse(body), refusal(code, says));
      // The binary path binds the same way, with an empty binary part.
      assert.throws(() => parser.parse(body, new Uint8Array(0)), refusal(code, says));
    });
  }

  void it('unnamed symbolic dimensions do not have to agree', () => {
    const free = createInferRequestParser(
      {
        inputs: [
          { name: 'a', type: 'float32', dims: [-1] },
          { name: 'b', type: 'float32', dims: [-1] },
        ],
        outputs: [],
      },
      { maxElements: 100 },
    );
    const bound = free.parse({
      inputs: [
        { name: 'a', shape: [1], datatype: 'FP32', data: [1] },
        { name: 'b', shape: [2], datatype: 'FP32', data: [1, 2] },
      ],
    });
    assert.equal(bound.elements, 3);
  });

  void it('a symbol shared by the same input twice must agree with itself', () => {
    const square = createInferRequestParser(
      {
        inputs: [{ name: 'm', type: 'float32', dims: [-1, -1], dimNames: ['n', 'n'] }],
        outputs: [],
      },
      { maxElements: 100 },
    );
    assert.equal(
      square.parse({ inputs: [{ name: 'm', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] }] })
        .elements,
      4,
    );
    assert.throws(
      () =>
        square.parse({
          inputs: [{ name: 'm', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }],
        }),
      refusal('SHAPE_MISMATCH', 'input "m": dimension 1 ("n") is 3 but input "m" has 2'),
    );
  });

  void it('a fixed dimension of size 0 is fixed too', () => {
    const empty = createInferRequestParser(
      { inputs: [{ name: 'e', type: 'float32', dims: [0, 2] }], outputs: [] },
      { maxElements: 100 },
    );
    assert.throws(
      () => empty.parse({ inputs: [{ name: 'e', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }),
      refusal('SHAPE_MISMATCH', 'input "e": dimension 0 must be 0, got 1 (model shape [0,2])'),
    );
    const bound = empty.parse({
      inputs: [{ name: 'e', shape: [0, 2], datatype: 'FP32', data: [] }],
    });
    assert.equal(bound.elements, 0);
  });

  void it('a fixed dimension named in dimNames is still checked as fixed', () => {
    const named = createInferRequestParser(
      { inputs: [{ name: 'v', type: 'float32', dims: [3], dimNames: ['width'] }], outputs: [] },
      { maxElements: 100 },
    );
    assert.throws(
      () => named.parse({ inputs: [{ name: 'v', shape: [2], datatype: 'FP32', data: [1, 2] }] }),
      refusal('SHAPE_MISMATCH', 'input "v": dimension 0 must be 3, got 2 (model shape [3])'),
    );
    assert.equal(
      named.parse({ inputs: [{ name: 'v', shape: [3], datatype: 'FP32', data: [1, 2, 3] }] })
        .elements,
      3,
    );
  });
});

void describe('envelope bounds', () => {
  const long = (n: number) => 'x'.repeat(n);
  const withInputA = (patch: object) => ({ inputs: [{ ...inputA([1, 2]), ...patch }, inputB(1)] });
  const shapeOfRank = (rank: number) => new Array<number>(rank).fill(1);
  // [name, body, message]; every refusal is INVALID_REQUEST.
  const tooBig = (what: string, limit: string) => `Too big: expected ${what} to have <=${limit}`;
  const tooSmall = (what: string) => `Too small: expected ${what} to have >=1`;
  // [name, body, message]; every refusal is INVALID_REQUEST. The wording after the path is zod's.
  const refused: [string, unknown, string][] = [
    [
      'a body that is not an object',
      'inputs',
      'request body: Invalid input: expected object, received string',
    ],
    ['a null body', null, 'request body: Invalid input: expected object, received null'],
    ['no inputs field', {}, 'inputs: is required'],
    [
      'inputs that is not a list',
      { inputs: {} },
      'inputs: Invalid input: expected array, received object',
    ],
    ['an empty inputs list', { inputs: [] }, `inputs: ${tooSmall('array')} items`],
    [
      '257 inputs',
      { inputs: new Array(257).fill(inputB(1)) },
      `inputs: ${tooBig('array', '256')} items`,
    ],
    ['an unknown top-level field', { ...good(), extra: 1 }, 'request body: unknown field "extra"'],
    [
      'two unknown top-level fields',
      { ...good(), extra: 1, more: 2 },
      'request body: unknown fields "extra", "more"',
    ],
    ['an unknown input field', withInputA({ content: [] }), 'inputs[0]: unknown field "content"'],
    [
      'an id that is not a string',
      good({ id: 5 }),
      'id: Invalid input: expected string, received number',
    ],
    [
      'an id over 256 characters',
      good({ id: long(257) }),
      `id: ${tooBig('string', '256')} characters`,
    ],
    ['an input without a name', withInputA({ name: undefined }), 'inputs[0].name: is required'],
    [
      'an empty input name',
      withInputA({ name: '' }),
      `inputs[0].name: ${tooSmall('string')} characters`,
    ],
    [
      'an input name over 256 characters',
      withInputA({ name: long(257) }),
      `inputs[0].name: ${tooBig('string', '256')} characters`,
    ],
    [
      'a shape that is not a list',
      withInputA({ shape: 'x' }),
      'inputs[0].shape: Invalid input: expected array, received string',
    ],
    [
      'a negative dimension',
      withInputA({ shape: [-1, 2] }),
      'inputs[0].shape[0]: Too small: expected number to be >=0',
    ],
    [
      'a fractional dimension',
      withInputA({ shape: [1, 1.5] }),
      'inputs[0].shape[1]: Invalid input: expected int, received number',
    ],
    [
      'a dimension over 2^31',
      withInputA({ shape: [2 ** 31 + 1, 2] }),
      'inputs[0].shape[0]: Too big: expected number to be <=2147483648',
    ],
    [
      'a rank over maxRank',
      withInputA({ shape: shapeOfRank(maxRank + 1) }),
      `inputs[0].shape: ${tooBig('array', '16')} items`,
    ],
    [
      'an empty datatype',
      withInputA({ datatype: '' }),
      `inputs[0].datatype: ${tooSmall('string')} characters`,
    ],
    [
      'a datatype over 16 characters',
      withInputA({ datatype: long(17) }),
      `inputs[0].datatype: ${tooBig('string', '16')} characters`,
    ],
    ['an input without data', withInputA({ data: undefined }), 'inputs[0].data: is required'],
    [
      'a parameter with an empty name',
      good({ parameters: { '': 1 } }),
      'parameters.: Invalid key in record',
    ],
    [
      'a parameter name over 128 characters',
      good({ parameters: { [long(129)]: 1 } }),
      `parameters.${long(129)}: Invalid key in record`,
    ],
    [
      'a parameter string over 4096 characters',
      good({ parameters: { p: long(4097) } }),
      `parameters.p: ${tooBig('string', '4096')} characters`,
    ],
    [
      'a parameter that is an object',
      good({ parameters: { p: {} } }),
      'parameters.p: Invalid input',
    ],
    [
      'an input parameter that is null',
      withInputA({ parameters: { q: null } }),
      'inputs[0].parameters.q: Invalid input',
    ],
    [
      'an empty output name',
      good({ outputs: [{ name: '' }] }),
      `outputs[0].name: ${tooSmall('string')} characters`,
    ],
    [
      'an output name over 256 characters',
      good({ outputs: [{ name: long(257) }] }),
      `outputs[0].name: ${tooBig('string', '256')} characters`,
    ],
    [
      '257 outputs',
      good({ outputs: new Array(257).fill({ name: 'y' }) }),
      `outputs: ${tooBig('array', '256')} items`,
    ],
    [
      'an unknown output field',
      good({ outputs: [{ name: 'y', shape: [1] }] }),
      'outputs[0]: unknown field "shape"',
    ],
  ];
  for (const [name, body, says] of refused) {
    void it(`${name}: INVALID_REQUEST`, () => {
      assert.throws(() => parser.parse(body), refusal('INVALID_REQUEST', says));
      assert.throws(() => parser.parse(body, new Uint8Array(0)), refusal('INVALID_REQUEST', says));
    });
  }

  void it('accepts every bound at its limit, and refuses one past it', () => {
    const many = new Array<ReturnType<typeof inputB>>(256).fill(inputB(1));
    const cases: [string, object, boolean][] = [
      ['an id of 256 characters', good({ id: long(256) }), true],
      ['an empty id', good({ id: '' }), true],
      ['an input name of 256 characters', withInputA({ name: long(256) }), true],
      ['a dimension of 2^31', withInputA({ shape: [2 ** 31, 0] }), true],
      ['rank maxRank', withInputA({ shape: shapeOfRank(maxRank) }), true],
      ['a datatype of 16 characters', withInputA({ datatype: long(16) }), true],
      ['a datatype of 1 character', withInputA({ datatype: 'F' }), true],
      [
        'parameters at their bounds, of every value type',
        good({ parameters: { [long(128)]: long(4096), b: true, n: 1.5, k: 'v' } }),
        true,
      ],
      [
        'an output name of 256 characters',
        good({ outputs: [{ name: long(256), parameters: { binary_data: true } }] }),
        true,
      ],
      ['256 outputs', good({ outputs: new Array(256).fill({ name: 'y' }) }), true],
      ['257 outputs', good({ outputs: new Array(257).fill({ name: 'y' }) }), false],
      ['256 inputs', { inputs: many }, true],
      ['257 inputs', { inputs: [...many, inputB(1)] }, false],
      // A binary input needs no data.
      [
        'a binary input without data',
        withInputA({ data: undefined, parameters: { binary_data_size: 8 } }),
        true,
      ],
    ];
    for (const [name, body, accepted] of cases) {
      assert.equal(inferRequestEnvelope.safeParse(body).success, accepted, name);
    }
  });

  void it('maxRank is 16', () => {
    assert.equal(maxRank, 16);
  });
});

void describe('binary_data_size', () => {
  const binaryOne = createInferRequestParser(
    {
      inputs: [{ name: 'u', type: 'uint8', dims: [-1] }],
      outputs: [{ name: 'o', type: 'uint8', dims: [-1] }],
    },
    { maxElements: 100 },
  );
  const header = (size: unknown, shape = [2]) => ({
    inputs: [{ name: 'u', shape, datatype: 'UINT8', parameters: { binary_data_size: size } }],
  });

  void it('reads exactly its bytes, including a zero-size input', () => {
    const bound = binaryOne.parse(header(2), new Uint8Array([9, 8]));
    assert.deepEqual([...(bound.feeds['u']?.data as Uint8Array)], [9, 8]);
    const empty = binaryOne.parse(header(0, [0]), new Uint8Array(0));
    assert.equal(empty.feeds['u']?.data.length, 0);
  });

  const bad: [string, unknown, Uint8Array | undefined, RegExp | string][] = [
    [
      'a negative size',
      -1,
      new Uint8Array(2),
      'input "u": binary_data_size must be a non-negative integer byte count',
    ],
    ['a fractional size', 1.5, new Uint8Array(2), /non-negative integer byte count/],
    ['an unsafe integer size', 2 ** 53, new Uint8Array(2), /non-negative integer byte count/],
    ['a boolean size', true, new Uint8Array(2), /non-negative integer byte count/],
    ['a string size', '2', new Uint8Array(2), /non-negative integer byte count/],
    [
      'one byte past the end',
      3,
      new Uint8Array(2),
      'input "u": binary_data_size 3 runs past the end of the binary data (2 bytes left)',
    ],
    [
      'one byte short of the end',
      1,
      new Uint8Array(2),
      "the binary data is 2 bytes but the inputs' binary_data_size add up to 1",
    ],
    ['no binary part at all', 2, undefined, /input "u": binary_data_size needs a binary request/],
  ];
  for (const [name, size, binary, says] of bad) {
    void it(`${name}: INVALID_BINARY_DATA`, () => {
      assert.throws(
        () => binaryOne.parse(header(size), binary),
        refusal('INVALID_BINARY_DATA', says),
      );
    });
  }

  void it('the bytes left are counted from where the previous input ended', () => {
    const two = createInferRequestParser(
      {
        inputs: [
          { name: 'p', type: 'uint8', dims: [-1] },
          { name: 'q', type: 'uint8', dims: [-1] },
        ],
        outputs: [],
      },
      { maxElements: 100 },
    );
    const body = (p: number, q: number) => ({
      inputs: [
        { name: 'p', shape: [p], datatype: 'UINT8', parameters: { binary_data_size: p } },
        { name: 'q', shape: [q], datatype: 'UINT8', parameters: { binary_data_size: q } },
      ],
    });
    const bound = two.parse(body(1, 2), new Uint8Array([1, 2, 3]));
    assert.deepEqual([...(bound.feeds['p']?.data as Uint8Array)], [1]);
    assert.deepEqual([...(bound.feeds['q']?.data as Uint8Array)], [2, 3]);
    assert.throws(
      () => two.parse(body(2, 2), new Uint8Array(3)),
      refusal(
        'INVALID_BINARY_DATA',
        'input "q": binary_data_size 2 runs past the end of the binary data (1 bytes left)',
      ),
    );
  });
});
