import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { float16Bits } from '../../src/inference/float16.js';
import {
  createCleanup,
  startGateway,
  tempDir,
  writeModel,
  type TestGateway,
} from '../helpers/gateway.js';
import { datatypeRoundTrips } from '../helpers/datatype-cases.js';
import { demoModels } from '../helpers/observe.js';

interface OutputHeader {
  name: string;
  datatype: string;
  shape: number[];
  data?: unknown[];
  parameters?: { binary_data_size?: number };
}
interface ResponseHeader {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: OutputHeader[];
  error?: string;
  code?: string;
}
interface BinaryResponse {
  status: number;
  headers: Headers;
  body: ResponseHeader;
  /** Each binary output's bytes, by name. */
  binary: Record<string, Uint8Array>;
}

/** Little-endian binary form of JSON-style elements, written independently of the gateway. */
function encode(datatype: string, values: readonly unknown[]): Uint8Array {
  if (datatype === 'BYTES') {
    const parts = values.map((v) => new TextEncoder().encode(String(v)));
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
  const [size, set] = setters[datatype] ?? assert.fail(datatype);
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    set(view, i * size, v);
  });
  return out;
}

const setters: Record<string, [number, (view: DataView, at: number, v: unknown) => void]> = {
  BOOL: [
    1,
    (d, o, v) => {
      d.setUint8(o, v === true ? 1 : v === false ? 0 : Number(v));
    },
  ],
  UINT8: [
    1,
    (d, o, v) => {
      d.setUint8(o, Number(v));
    },
  ],
  INT8: [
    1,
    (d, o, v) => {
      d.setInt8(o, Number(v));
    },
  ],
  UINT16: [
    2,
    (d, o, v) => {
      d.setUint16(o, Number(v), true);
    },
  ],
  INT16: [
    2,
    (d, o, v) => {
      d.setInt16(o, Number(v), true);
    },
  ],
  FP16: [
    2,
    (d, o, v) => {
      d.setUint16(o, float16Bits(Number(v)), true);
    },
  ],
  UINT32: [
    4,
    (d, o, v) => {
      d.setUint32(o, Number(v), true);
    },
  ],
  INT32: [
    4,
    (d, o, v) => {
      d.setInt32(o, Number(v), true);
    },
  ],
  FP32: [
    4,
    (d, o, v) => {
      d.setFloat32(o, Number(v), true);
    },
  ],
  UINT64: [
    8,
    (d, o, v) => {
      d.setBigUint64(o, BigInt(v as string), true);
    },
  ],
  INT64: [
    8,
    (d, o, v) => {
      d.setBigInt64(o, BigInt(v as string), true);
    },
  ],
  FP64: [
    8,
    (d, o, v) => {
      d.setFloat64(o, Number(v), true);
    },
  ],
};

/** A binary request body: the JSON header (padded with spaces to `headerLength`), then `chunks`. */
function binaryBody(header: object, chunks: readonly Uint8Array[], headerLength?: number) {
  let json = JSON.stringify(header);
  if (headerLength !== undefined) json = json.padEnd(headerLength, ' ');
  const head = Buffer.from(json, 'utf8');
  return { body: Buffer.concat([head, ...chunks]), headerLength: head.length };
}

/** POSTs raw bytes and decodes a JSON or binary answer. */
async function postRaw(
  gw: TestGateway,
  path: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
): Promise<BinaryResponse> {
  const res = await fetch(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await gw.token()}`, ...headers },
    body,
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('application/octet-stream')) {
    assert.equal(res.headers.get('inference-header-content-length'), null);
    return {
      status: res.status,
      headers: res.headers,
      body: JSON.parse(bytes.toString()) as ResponseHeader,
      binary: {},
    };
  }
  const length = Number(res.headers.get('inference-header-content-length'));
  assert.ok(Number.isInteger(length) && length > 0 && length <= bytes.length);
  const parsed = JSON.parse(bytes.subarray(0, length).toString()) as ResponseHeader;
  const binary: Record<string, Uint8Array> = {};
  let at = length;
  for (const output of parsed.outputs) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    assert.equal(output.data, undefined, 'a binary output has no data');
    binary[output.name] = bytes.subarray(at, at + size);
    at += size;
  }
  assert.equal(at, bytes.length, 'the binary outputs account for the whole body');
  return { status: res.status, headers: res.headers, body: parsed, binary };
}

/** POSTs a binary tensor extension request. */
function postBinary(
  gw: TestGateway,
  path: string,
  header: object,
  chunks: readonly Uint8Array[],
  options: { headerLength?: number; headers?: Record<string, string> } = {},
): Promise<BinaryResponse> {
  const { body, headerLength } = binaryBody(header, chunks, options.headerLength);
  return postRaw(gw, path, body, {
    'content-type': 'application/octet-stream',
    'inference-header-content-length': String(headerLength),
    ...options.headers,
  });
}

const binaryInput = (name: string, shape: number[], datatype: string, bytes: Uint8Array) => ({
  name,
  shape,
  datatype,
  parameters: { binary_data_size: bytes.length },
});

const roundTrips = datatypeRoundTrips;

const irisSamples = [
  { features: [5.1, 3.5, 1.4, 0.2], label: 0 },
  { features: [4.9, 3.0, 1.4, 0.2], label: 0 },
  { features: [6.4, 3.2, 4.5, 1.5], label: 1 },
  { features: [5.7, 2.8, 4.1, 1.3], label: 1 },
  { features: [6.7, 3.0, 5.2, 2.3], label: 2 },
  { features: [6.3, 3.3, 6.0, 2.5], label: 2 },
];
const irisBytes = encode(
  'FP32',
  irisSamples.flatMap((s) => s.features),
);
const irisHeader = (extra: object = {}) => ({
  inputs: [binaryInput('features', [irisSamples.length, 4], 'FP32', irisBytes)],
  ...extra,
});

void describe('binary tensor extension', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let auditPath: string;
  after(() => cleanup.run());
  before(async () => {
    const dir = await tempDir(cleanup);
    const repo = join(dir, 'models');
    await cp(join(demoModels, 'iris'), join(repo, 'iris'), { recursive: true });
    await cp(join(demoModels, 'tensor-types'), join(repo, 'tensor-types'), { recursive: true });
    for (const { type } of roundTrips) {
      await writeModel(repo, `id-${type}`, 1, buildIdentityModel(type, ['batch', 2]));
    }
    await writeModel(repo, 'small', 1, buildIdentityModel('float32', ['batch', 2]));
    await writeFile(join(repo, 'small', 'config.yaml'), 'maxElements: 4\n');
    // Inline and unbatched: the zero-copy view on the body reaches ONNX Runtime as is.
    await writeModel(repo, 'inline', 1, buildIdentityModel('float64', ['batch', 2]));
    await writeFile(join(repo, 'inline', 'config.yaml'), 'poolSize: 0\nmaxBatchSize: 0\n');
    auditPath = join(dir, 'audit.log');
    gw = await startGateway(
      cleanup,
      repo,
      `audit:\n  path: ${JSON.stringify(auditPath)}\nlimits:\n  bodyBytes: 1048576\n`,
    );
  });

  void it('GET /v2 lists the binary_tensor_data extension', async () => {
    const res = await gw.get('/v2');
    assert.ok((res.body as { extensions: string[] }).extensions.includes('binary_tensor_data'));
  });

  for (const { datatype, type, data } of roundTrips) {
    void it(`${datatype}: binary in and out, binary in JSON out, JSON in binary out`, async () => {
      const bytes = encode(datatype, data);
      const path = `/v2/models/id-${type}/infer`;
      const input = binaryInput('x', [2, 2], datatype, bytes);

      const both = await postBinary(
        gw,
        path,
        { id: 'rt', inputs: [input], parameters: { binary_data_output: true } },
        [bytes],
      );
      assert.equal(both.status, 200, JSON.stringify(both.body));
      assert.equal(both.headers.get('content-type'), 'application/octet-stream');
      assert.deepEqual(both.body, {
        model_name: `id-${type}`,
        model_version: '1',
        id: 'rt',
        outputs: [
          { name: 'y', datatype, shape: [2, 2], parameters: { binary_data_size: bytes.length } },
        ],
      });
      assert.deepEqual([...(both.binary['y'] ?? [])], [...bytes]);

      const jsonOut = await postBinary(gw, path, { inputs: [input] }, [bytes]);
      assert.equal(jsonOut.status, 200, JSON.stringify(jsonOut.body));
      assert.match(jsonOut.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(jsonOut.body.outputs, [{ name: 'y', datatype, shape: [2, 2], data }]);

      const jsonIn = await postRaw(
        gw,
        path,
        JSON.stringify({
          inputs: [{ name: 'x', shape: [2, 2], datatype, data }],
          outputs: [{ name: 'y', parameters: { binary_data: true } }],
        }),
        { 'content-type': 'application/json' },
      );
      assert.equal(jsonIn.status, 200, JSON.stringify(jsonIn.body));
      assert.deepEqual([...(jsonIn.binary['y'] ?? [])], [...bytes]);
    });
  }

  for (const headerLength of [96, 97, 99]) {
    void it(`iris via binary predicts the known species (binary data at offset ${headerLength})`, async () => {
      const res = await postBinary(
        gw,
        '/v2/models/iris/infer',
        irisHeader({ id: 'iris-bin', outputs: [{ name: 'label' }, { name: 'probabilities' }] }),
        [irisBytes],
        { headerLength },
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.id, 'iris-bin');
      assert.deepEqual(res.body.outputs[0], {
        name: 'label',
        datatype: 'INT64',
        shape: [irisSamples.length],
        data: irisSamples.map((s) => s.label),
      });
      const p = res.body.outputs[1]?.data as number[];
      irisSamples.forEach((s, row) => {
        const rowP = p.slice(row * 3, row * 3 + 3);
        assert.equal(rowP.indexOf(Math.max(...rowP)), s.label);
      });
    });
  }

  for (const headerLength of [64, 65, 68]) {
    void it(`an inline engine reads a view at body offset ${headerLength} correctly`, async () => {
      const values = [0.1, -2.5, 1e300, 3, 4.75, -7];
      const bytes = encode('FP64', values);
      const res = await postBinary(
        gw,
        '/v2/models/inline/infer',
        { inputs: [binaryInput('x', [3, 2], 'FP64', bytes)] },
        [bytes],
        { headerLength },
      );
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.outputs[0]?.data, values);
    });
  }

  void it('iris: only the outputs asked for in binary are binary, the rest JSON', async () => {
    const res = await postBinary(
      gw,
      '/v2/models/iris/infer',
      irisHeader({
        outputs: [{ name: 'probabilities' }, { name: 'label', parameters: { binary_data: true } }],
      }),
      [irisBytes],
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.outputs[0]?.name, 'probabilities');
    assert.equal(res.body.outputs[0].data?.length, irisSamples.length * 3);
    assert.deepEqual(res.body.outputs[1], {
      name: 'label',
      datatype: 'INT64',
      shape: [irisSamples.length],
      parameters: { binary_data_size: irisSamples.length * 8 },
    });
    const label = res.binary['label'] ?? new Uint8Array();
    const labels = new BigInt64Array(new Uint8Array(label).buffer);
    assert.deepEqual(
      [...labels],
      irisSamples.map((s) => BigInt(s.label)),
    );
  });

  void it('the SageMaker media type with json-header-size works too', async () => {
    const { body, headerLength } = binaryBody(irisHeader(), [irisBytes]);
    const res = await postRaw(gw, '/v2/models/iris/versions/1/infer', body, {
      'content-type': `application/vnd.sagemaker-triton.binary+json;json-header-size=${headerLength}`,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      res.body.outputs.find((o) => o.name === 'label')?.data,
      irisSamples.map((s) => s.label),
    );
  });

  void it('mixes JSON and binary inputs (tensor-types)', async () => {
    const longs = encode('INT64', [1, '9007199254740993', -3, 0, 7, '-9223372036854775808']);
    const flags = encode('BOOL', [true, false, true, false, false, true]);
    const scale = encode('FP32', [1.25]);
    const res = await postBinary(
      gw,
      '/v2/models/tensor-types/infer',
      {
        inputs: [
          { name: 'ints', shape: [2, 3], datatype: 'INT32', data: [1, -2, 3, 2147483647, 0, -5] },
          binaryInput('longs', [2, 3], 'INT64', longs),
          binaryInput('flags', [2, 3], 'BOOL', flags),
          { name: 'bytes', shape: [2, 3], datatype: 'UINT8', data: [0, 128, 255, 1, 2, 3] },
          binaryInput('scale', [], 'FP32', scale),
        ],
        outputs: [
          { name: 'ints_doubled' },
          { name: 'longs_plus_one', parameters: { binary_data: true } },
          { name: 'flags_not' },
          { name: 'scaled', parameters: { binary_data: true } },
        ],
      },
      [longs, flags, scale],
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const outputs = Object.fromEntries(res.body.outputs.map((o) => [o.name, o]));
    assert.deepEqual(outputs['ints_doubled']?.data, [2, -4, 6, -2, 0, -10]);
    assert.deepEqual(outputs['flags_not']?.data, [false, true, false, true, true, false]);
    assert.deepEqual(
      [...(res.binary['longs_plus_one'] ?? [])],
      [...encode('INT64', [2, '9007199254740994', -2, 1, 8, '-9223372036854775807'])],
    );
    assert.deepEqual([...(res.binary['scaled'] ?? [])], [...encode('FP32', [2.5])]);
  });

  void it('an empty batch with zero binary bytes round-trips', async () => {
    const res = await postBinary(
      gw,
      '/v2/models/id-float32/infer',
      {
        inputs: [binaryInput('x', [0, 2], 'FP32', new Uint8Array())],
        parameters: { binary_data_output: true },
      },
      [],
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.outputs[0]?.parameters, { binary_data_size: 0 });
  });

  void it('the audit log records the SHA-256 of the whole raw binary body', async () => {
    const { body, headerLength } = binaryBody(irisHeader(), [irisBytes]);
    const res = await postRaw(gw, '/v2/models/iris/infer', body, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(headerLength),
      'x-request-id': 'binary-audit-1',
    });
    assert.equal(res.status, 200);
    const bad = binaryBody(irisHeader(), [irisBytes.subarray(1)]);
    const refused = await postRaw(gw, '/v2/models/iris/infer', bad.body, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(bad.headerLength),
      'x-request-id': 'binary-audit-2',
    });
    assert.equal(refused.status, 400);
    const records = (await readFile(auditPath, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { requestId?: string; inputSha256?: string });
    const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    assert.equal(records.find((r) => r.requestId === 'binary-audit-1')?.inputSha256, digest(body));
    assert.equal(
      records.find((r) => r.requestId === 'binary-audit-2')?.inputSha256,
      digest(bad.body),
    );
  });

  const nan = encode('FP32', [1, 2, NaN, 4, 5, 6, 7, 8]);
  const malformed: {
    name: string;
    path?: string;
    header?: object;
    chunks?: Uint8Array[];
    /** The raw body, instead of header + chunks. */
    raw?: Uint8Array;
    headers?: Record<string, string | undefined>;
    status: number;
    code: string;
    says?: RegExp;
  }[] = [
    {
      name: 'no Inference-Header-Content-Length',
      header: irisHeader(),
      chunks: [irisBytes],
      headers: { 'inference-header-content-length': undefined },
      status: 400,
      code: 'INVALID_BINARY_DATA',
      says: /inference-header-content-length/,
    },
    ...['abc', '-1', '1.5', '', '12, 13', '0x20'].map((value) => ({
      name: `Inference-Header-Content-Length "${value}"`,
      header: irisHeader(),
      chunks: [irisBytes],
      headers: { 'inference-header-content-length': value },
      status: 400,
      code: 'INVALID_BINARY_DATA',
    })),
    {
      name: 'a header length longer than the body',
      header: irisHeader(),
      chunks: [irisBytes],
      headers: { 'inference-header-content-length': '100000' },
      status: 400,
      code: 'INVALID_BINARY_DATA',
      says: /only/,
    },
    {
      name: 'a header length of 0',
      header: irisHeader(),
      chunks: [irisBytes],
      headers: { 'inference-header-content-length': '0' },
      status: 400,
      code: 'MALFORMED_JSON',
    },
    {
      name: 'a malformed JSON header',
      raw: Buffer.concat([Buffer.from('{"inputs": ['), irisBytes]),
      headers: { 'inference-header-content-length': '12' },
      status: 400,
      code: 'MALFORMED_JSON',
      says: /JSON header/,
    },
    {
      name: 'a header that cuts the JSON short',
      header: irisHeader(),
      chunks: [irisBytes],
      headers: { 'inference-header-content-length': '20' },
      status: 400,
      code: 'MALFORMED_JSON',
    },
    {
      name: 'a __proto__ key in the header',
      raw: Buffer.from('{"__proto__": {"x": 1}, "inputs": []}'),
      headers: { 'inference-header-content-length': '37' },
      status: 400,
      code: 'MALFORMED_JSON',
      says: /forbidden/,
    },
    {
      name: 'binary data short of the sizes',
      header: irisHeader(),
      chunks: [irisBytes.subarray(4)],
      status: 400,
      code: 'INVALID_BINARY_DATA',
      says: /past the end/,
    },
    {
      name: 'binary data beyond the sizes',
      header: irisHeader(),
      chunks: [irisBytes, new Uint8Array(4)],
      status: 400,
      code: 'INVALID_BINARY_DATA',
      says: /add up/,
    },
    {
      name: 'binary_data_size not product(shape) × 4',
      header: { inputs: [binaryInput('features', [2, 4], 'FP32', irisBytes)] },
      chunks: [irisBytes],
      status: 400,
      code: 'INVALID_BINARY_DATA',
      says: /needs 32/,
    },
    {
      name: 'a negative binary_data_size',
      header: {
        inputs: [
          {
            name: 'features',
            shape: [1, 4],
            datatype: 'FP32',
            parameters: { binary_data_size: -1 },
          },
        ],
      },
      chunks: [],
      status: 400,
      code: 'INVALID_BINARY_DATA',
    },
    {
      name: 'both data and binary_data_size',
      header: {
        inputs: [
          {
            name: 'features',
            shape: [1, 4],
            datatype: 'FP32',
            data: [1, 2, 3, 4],
            parameters: { binary_data_size: 16 },
          },
        ],
      },
      chunks: [new Uint8Array(16)],
      status: 400,
      code: 'INVALID_REQUEST',
    },
    {
      name: 'NaN in FP32 binary input',
      header: { inputs: [binaryInput('features', [2, 4], 'FP32', nan)] },
      chunks: [nan],
      status: 400,
      code: 'NON_FINITE_VALUE',
      says: /element 2/,
    },
    {
      name: 'Infinity in FP64 binary input',
      path: 'id-float64',
      header: { inputs: [binaryInput('x', [1, 2], 'FP64', encode('FP64', [1, Infinity]))] },
      chunks: [encode('FP64', [1, Infinity])],
      status: 400,
      code: 'NON_FINITE_VALUE',
    },
    {
      name: 'Infinity bits in FP16 binary input',
      path: 'id-float16',
      header: { inputs: [binaryInput('x', [1, 2], 'FP16', new Uint8Array([0, 0, 0, 0x7c]))] },
      chunks: [new Uint8Array([0, 0, 0, 0x7c])],
      status: 400,
      code: 'NON_FINITE_VALUE',
    },
    {
      name: 'a BOOL byte of 2',
      path: 'id-bool',
      header: { inputs: [binaryInput('x', [1, 2], 'BOOL', new Uint8Array([1, 2]))] },
      chunks: [new Uint8Array([1, 2])],
      status: 400,
      code: 'INVALID_DATA',
      says: /0 or 1/,
    },
    {
      name: 'BYTES with fewer elements than the shape',
      path: 'id-string',
      header: { inputs: [binaryInput('x', [1, 2], 'BYTES', encode('BYTES', ['a']))] },
      chunks: [encode('BYTES', ['a'])],
      status: 400,
      code: 'INVALID_BINARY_DATA',
    },
    {
      name: 'BYTES with bytes left over',
      path: 'id-string',
      header: { inputs: [binaryInput('x', [1, 2], 'BYTES', encode('BYTES', ['a', 'b', 'c']))] },
      chunks: [encode('BYTES', ['a', 'b', 'c'])],
      status: 400,
      code: 'INVALID_BINARY_DATA',
    },
    {
      name: 'BYTES with a length past the end',
      path: 'id-string',
      header: { inputs: [binaryInput('x', [1, 2], 'BYTES', new Uint8Array([1, 0, 0, 0, 65, 9]))] },
      chunks: [new Uint8Array([1, 0, 0, 0, 65, 9])],
      status: 400,
      code: 'INVALID_BINARY_DATA',
    },
    {
      name: 'an unknown input',
      header: { inputs: [binaryInput('feature', [6, 4], 'FP32', irisBytes)] },
      chunks: [irisBytes],
      status: 400,
      code: 'UNKNOWN_INPUT',
    },
    {
      name: 'a datatype mismatch',
      header: { inputs: [binaryInput('features', [3, 4], 'FP64', irisBytes)] },
      chunks: [irisBytes],
      status: 400,
      code: 'DATATYPE_MISMATCH',
    },
    {
      name: 'a shape mismatch',
      header: { inputs: [binaryInput('features', [4, 6], 'FP32', irisBytes)] },
      chunks: [irisBytes],
      status: 400,
      code: 'SHAPE_MISMATCH',
    },
    {
      name: 'more elements than the model allows',
      path: 'small',
      header: { inputs: [binaryInput('x', [3, 2], 'FP32', encode('FP32', [1, 2, 3, 4, 5, 6]))] },
      chunks: [encode('FP32', [1, 2, 3, 4, 5, 6])],
      status: 400,
      code: 'TOO_MANY_ELEMENTS',
    },
    {
      name: 'an unknown field in the header',
      header: irisHeader({ extra: 1 }),
      chunks: [irisBytes],
      status: 400,
      code: 'INVALID_REQUEST',
      says: /extra/,
    },
    {
      name: 'binary_data_output that is not a boolean',
      header: irisHeader({ parameters: { binary_data_output: 'yes' } }),
      chunks: [irisBytes],
      status: 400,
      code: 'INVALID_REQUEST',
    },
    {
      name: 'a body over limits.bodyBytes',
      header: { inputs: [binaryInput('features', [65_600, 4], 'FP32', new Uint8Array(1_049_600))] },
      chunks: [new Uint8Array(1_049_600)],
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
  ];

  for (const row of malformed) {
    void it(`${row.status} ${row.code}: ${row.name}`, async () => {
      const built =
        row.raw === undefined
          ? binaryBody(row.header ?? {}, row.chunks ?? [])
          : { body: row.raw, headerLength: undefined };
      const merged: Record<string, string | undefined> = {
        'content-type': 'application/octet-stream',
        'inference-header-content-length':
          built.headerLength === undefined ? undefined : String(built.headerLength),
        ...row.headers,
      };
      const headers = Object.fromEntries(
        Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined),
      );
      const res = await postRaw(gw, `/v2/models/${row.path ?? 'iris'}/infer`, built.body, headers);
      assert.equal(res.status, row.status, JSON.stringify(res.body));
      assert.equal(res.body.code, row.code, res.body.error);
      assert.equal(typeof res.body.error, 'string');
      if (row.says) assert.match(res.body.error ?? '', row.says);
    });
  }

  void it('400 INVALID_BINARY_DATA: binary_data_size in a plain JSON request', async () => {
    const res = await gw.post('/v2/models/iris/infer', irisHeader());
    assert.equal(res.status, 400);
    assert.equal((res.body as { code: string }).code, 'INVALID_BINARY_DATA');
  });

  void it('415 for a binary body on a route other than infer', async () => {
    const { body, headerLength } = binaryBody({}, []);
    const res = await postRaw(gw, '/v2/repository/index', body, {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(headerLength),
    });
    assert.equal(res.status, 415);
    assert.equal(res.body.code, 'UNSUPPORTED_MEDIA_TYPE');
  });
});
