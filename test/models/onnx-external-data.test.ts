import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildExternalAddModel,
  buildIdentityModel,
  encodeModel,
  float32Bytes,
  type AttributeValue,
  type GraphSpec,
  type ModelSpec,
  type NodeSpec,
  type TensorSpec,
} from '../../scripts/onnx/onnx-builder.js';
import { ModelContentError, resolveExternalData } from '../../src/models/external-data.js';
import { findExternalData, OnnxParseError } from '../../src/models/onnx-external-data.js';

/** A tensor stored externally at `location`, as onnx.external_data_helper writes it. */
function externalTensor(name: string, location: string, dataLocation = 1): TensorSpec {
  return {
    name,
    elemType: 'float32',
    dims: [1],
    externalData: [['location', location]],
    dataLocation,
  };
}

const plainTensor: TensorSpec = {
  name: 'plain',
  elemType: 'float32',
  dims: [1],
  rawData: float32Bytes([1]),
};

function graph(name: string, extra: Partial<GraphSpec> = {}): GraphSpec {
  return { name, nodes: [], initializers: [plainTensor], inputs: [], outputs: [], ...extra };
}

function model(g: GraphSpec, extra: Partial<ModelSpec> = {}): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImports: [{ domain: '', version: 17 }],
    producerName: 'test',
    producerVersion: '1',
    metadata: [],
    graph: g,
    ...extra,
  });
}

function node(attributes: Record<string, AttributeValue>): NodeSpec {
  return {
    opType: 'Op',
    name: 'n',
    domain: '',
    inputs: [],
    outputs: [],
    attributes: Object.entries(attributes),
  };
}

const sparse = (values: TensorSpec, indices: TensorSpec) => ({ values, indices, dims: [4] });

void describe('ONNX external-data scan', () => {
  void it('a self-contained model has no external data', () => {
    assert.deepEqual(findExternalData(buildIdentityModel('float32', [2])), []);
    assert.deepEqual(findExternalData(model(graph('g'))), []);
  });

  const cases: [string, Uint8Array, RegExp][] = [
    [
      'graph initializer',
      model(graph('g', { initializers: [plainTensor, externalTensor('w', 'a.bin')] })),
      /^graph initializer "w"$/,
    ],
    [
      'sparse initializer values',
      model(
        graph('g', { sparseInitializers: [sparse(externalTensor('v', 'a.bin'), plainTensor)] }),
      ),
      /sparse initializer values "v"/,
    ],
    [
      'sparse initializer indices',
      model(
        graph('g', { sparseInitializers: [sparse(plainTensor, externalTensor('i', 'a.bin'))] }),
      ),
      /sparse initializer indices "i"/,
    ],
    [
      'attribute t',
      model(
        graph('g', {
          nodes: [node({ value: { type: 'tensor', value: externalTensor('t', 'a.bin') } })],
        }),
      ),
      /node n attribute tensor "t"/,
    ],
    [
      'attribute tensors',
      model(
        graph('g', {
          nodes: [
            node({ v: { type: 'tensors', value: [plainTensor, externalTensor('ts', 'a.bin')] } }),
          ],
        }),
      ),
      /attribute tensor "ts"/,
    ],
    [
      'attribute sparse_tensor',
      model(
        graph('g', {
          nodes: [
            node({
              v: {
                type: 'sparse_tensor',
                value: sparse(externalTensor('sv', 'a.bin'), plainTensor),
              },
            }),
          ],
        }),
      ),
      /attribute sparse tensor values "sv"/,
    ],
    [
      'attribute sparse_tensors',
      model(
        graph('g', {
          nodes: [
            node({
              v: {
                type: 'sparse_tensors',
                value: [sparse(plainTensor, externalTensor('si', 'a.bin'))],
              },
            }),
          ],
        }),
      ),
      /attribute sparse tensor indices "si"/,
    ],
    [
      'If branch (attribute g), two levels deep',
      model(
        graph('g', {
          nodes: [
            node({
              then_branch: {
                type: 'graph',
                value: graph('then', {
                  nodes: [
                    node({
                      body: {
                        type: 'graph',
                        value: graph('loop', { initializers: [externalTensor('deep', 'a.bin')] }),
                      },
                    }),
                  ],
                }),
              },
            }),
          ],
        }),
      ),
      /subgraph node n attribute subgraph initializer "deep"/,
    ],
    [
      'attribute graphs',
      model(
        graph('g', {
          nodes: [
            node({
              gs: {
                type: 'graphs',
                value: [graph('a'), graph('b', { initializers: [externalTensor('gb', 'a.bin')] })],
              },
            }),
          ],
        }),
      ),
      /subgraph initializer "gb"/,
    ],
    [
      'function node attribute',
      model(graph('g'), {
        functions: [
          {
            name: 'f',
            domain: 'x',
            inputs: [],
            outputs: [],
            nodes: [node({ value: { type: 'tensor', value: externalTensor('ft', 'a.bin') } })],
          },
        ],
      }),
      /function node n attribute tensor "ft"/,
    ],
    [
      'function attribute default',
      model(graph('g'), {
        functions: [
          {
            name: 'f',
            domain: 'x',
            inputs: [],
            outputs: [],
            nodes: [],
            attributeDefaults: [
              ['value', { type: 'tensor', value: externalTensor('fd', 'a.bin') }],
            ],
          },
        ],
      }),
      /function default attribute tensor "fd"/,
    ],
    [
      'external_data entries without data_location',
      model(graph('g', { initializers: [externalTensor('nl', 'a.bin', 0)] })),
      /initializer "nl"/,
    ],
  ];
  for (const [label, bytes, where] of cases) {
    void it(`finds a reference in a ${label}`, () => {
      const found = findExternalData(bytes);
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.match(found[0]?.where ?? '', where);
      assert.deepEqual(found[0]?.locations, ['a.bin']);
    });
  }

  void it('data_location EXTERNAL without any entry still counts', () => {
    const t: TensorSpec = { name: 'x', elemType: 'float32', dims: [1], dataLocation: 1 };
    const found = findExternalData(model(graph('g', { initializers: [t] })));
    assert.deepEqual(
      found.map((f) => f.locations),
      [[]],
    );
  });

  void it('refuses bytes that are not a well-formed protobuf, whatever the mutation', () => {
    const good = buildExternalAddModel({ location: 'weights.bin' });
    assert.throws(() => findExternalData(good.subarray(0, good.length - 3)), OnnxParseError);
    assert.throws(
      () => findExternalData(new Uint8Array([0x3a, 0xff, 0xff, 0xff, 0x0f])),
      OnnxParseError,
    );
    assert.throws(() => findExternalData(new Uint8Array([0x07])), OnnxParseError);
    // Every truncation of a valid model either parses or is refused with OnnxParseError: never
    // another error, never a hang.
    for (let cut = 0; cut < good.length; cut += 1) {
      try {
        findExternalData(good.subarray(0, cut));
      } catch (error) {
        assert.ok(error instanceof OnnxParseError, `cut ${cut}: ${String(error)}`);
      }
    }
  });

  void it('refuses nesting deeper than any real model instead of overflowing the stack', () => {
    let g = graph('leaf');
    for (let i = 0; i < 300; i += 1)
      g = graph(`g${i}`, { nodes: [node({ b: { type: 'graph', value: g } })] });
    assert.throws(
      () => findExternalData(model(g)),
      (e: unknown) => e instanceof OnnxParseError && /nest deeper/.test(e.message),
    );
  });
});

void describe('external-data policy', () => {
  const files = new Map<string, Buffer>([
    ['model.onnx', Buffer.alloc(1)],
    ['weights.bin', Buffer.from(float32Bytes([1, 2, 3, 4]))],
    ['data/part.bin', Buffer.from(float32Bytes([1, 2, 3, 4]))],
  ]);
  const refused = (pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof ModelContentError, String(error));
    assert.equal(error.reason, 'external-data');
    assert.match(error.message, pattern);
    return true;
  };

  void it('refuses any external data by default, naming the tensor and the opt-in', () => {
    assert.throws(
      () => resolveExternalData(buildExternalAddModel({ location: 'weights.bin' }), files, false),
      refused(/initializer "w".*"weights\.bin".*allowExternalData: true/),
    );
  });

  void it('with the opt-in, hands over exactly the verified bytes of the named files', () => {
    const out = resolveExternalData(
      buildExternalAddModel({ location: 'weights.bin' }),
      files,
      true,
    );
    assert.deepEqual(
      out.map((f) => f.path),
      ['weights.bin'],
    );
    assert.equal(out[0]?.data, files.get('weights.bin'));
    const nested = resolveExternalData(
      buildExternalAddModel({ location: 'data/part.bin', offset: 4, length: 8, size: 2 }),
      files,
      true,
    );
    assert.deepEqual(
      nested.map((f) => f.path),
      ['data/part.bin'],
    );
  });

  const hostile: [string, RegExp][] = [
    ['config/default.yaml', /not a file of this version folder/],
    ['/etc/passwd', /absolute path/],
    ['C:/x.bin', /absolute path/],
    ['../1/weights.bin', /leaves the version folder/],
    ['data/../weights.bin', /leaves the version folder/],
    ['./weights.bin', /plain relative path/],
    ['data//part.bin', /plain relative path/],
    ['weights.bin\0', /plain relative path/],
    ['weights.bin\n', /plain relative path/],
    ['data\\part.bin', /plain relative path/],
    ['*/_ORT_MEM_ADDR_/*', /plain relative path/],
    ['', /empty location/],
    ['x'.repeat(2000), /longer than 1024/],
    ['model.onnx', /not a data file/],
    ['missing.bin', /not a file of this version folder/],
  ];
  for (const [location, why] of hostile) {
    void it(`with the opt-in, refuses location ${JSON.stringify(location.slice(0, 40))}`, () => {
      assert.throws(
        () => resolveExternalData(buildExternalAddModel({ location }), files, true),
        refused(why),
      );
    });
  }

  void it('with the opt-in, refuses offsets and lengths past the file or not numbers', () => {
    const m = (offset: number, length: number) =>
      buildExternalAddModel({ location: 'weights.bin', offset, length });
    assert.throws(() => resolveExternalData(m(8, 16), files, true), refused(/past the end/));
    assert.throws(() => resolveExternalData(m(17, 0), files, true), refused(/past the end/));
    const junk = encodeModel({
      irVersion: 8,
      opsetImports: [],
      producerName: '',
      producerVersion: '',
      metadata: [],
      graph: graph('g', {
        initializers: [
          {
            ...externalTensor('w', 'weights.bin'),
            externalData: [
              ['location', 'weights.bin'],
              ['offset', '-1'],
            ],
          },
        ],
      }),
    });
    assert.throws(() => resolveExternalData(junk, files, true), refused(/not a number/));
  });

  void it('refuses a tensor with two locations, or none', () => {
    const two = model(
      graph('g', {
        initializers: [
          {
            ...externalTensor('w', 'weights.bin'),
            externalData: [
              ['location', 'weights.bin'],
              ['location', '/etc/passwd'],
            ],
          },
        ],
      }),
    );
    assert.throws(() => resolveExternalData(two, files, true), refused(/more than one location/));
    const none = model(
      graph('g', {
        initializers: [{ name: 'w', elemType: 'float32', dims: [1], dataLocation: 1 }],
      }),
    );
    assert.throws(() => resolveExternalData(none, files, true), refused(/no location/));
  });

  void it('malformed model bytes are refused as model-malformed', () => {
    assert.throws(
      () => resolveExternalData(new Uint8Array([0x3a, 0x05, 1]), files, true),
      (e: unknown) => e instanceof ModelContentError && e.reason === 'model-malformed',
    );
  });
});
