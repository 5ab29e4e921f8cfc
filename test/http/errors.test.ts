import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createCleanup,
  startGateway,
  tempDir,
  writeModel,
  type TestGateway,
} from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';

const iris = (data: unknown, shape: unknown = [1, 4], datatype: unknown = 'FP32') => ({
  inputs: [{ name: 'features', shape, datatype, data }],
});

/** Every row of CONTRACT's error list that the serving core answers, with its code. */
const badRequests: {
  name: string;
  path?: string;
  body: unknown;
  status: number;
  code: string;
  says?: RegExp;
}[] = [
  { name: 'malformed JSON', body: '{"inputs": [', status: 400, code: 'MALFORMED_JSON' },
  { name: 'empty JSON body', body: '', status: 400, code: 'MALFORMED_JSON' },
  { name: 'a JSON array body', body: [], status: 400, code: 'INVALID_REQUEST' },
  { name: 'no inputs', body: {}, status: 400, code: 'INVALID_REQUEST', says: /inputs/ },
  { name: 'empty inputs', body: { inputs: [] }, status: 400, code: 'INVALID_REQUEST' },
  {
    name: 'unknown top-level field',
    body: { ...iris([1, 2, 3, 4]), extra: 1 },
    status: 400,
    code: 'INVALID_REQUEST',
    says: /extra/,
  },
  {
    name: 'unknown field in an input',
    body: {
      inputs: [
        { name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4], dtype: 'x' },
      ],
    },
    status: 400,
    code: 'INVALID_REQUEST',
    says: /dtype/,
  },
  {
    name: 'unknown input name',
    body: { inputs: [{ name: 'feature', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] },
    status: 400,
    code: 'UNKNOWN_INPUT',
    says: /"feature"/,
  },
  {
    name: 'duplicate input',
    body: { inputs: [iris([1, 2, 3, 4]).inputs[0], iris([1, 2, 3, 4]).inputs[0]] },
    status: 400,
    code: 'DUPLICATE_INPUT',
  },
  {
    name: 'missing input',
    path: 'tensor-types',
    body: { inputs: [{ name: 'scale', shape: [], datatype: 'FP32', data: [1] }] },
    status: 400,
    code: 'MISSING_INPUT',
    says: /"ints"/,
  },
  {
    name: 'datatype mismatch',
    body: iris([1, 2, 3, 4], [1, 4], 'FP64'),
    status: 400,
    code: 'DATATYPE_MISMATCH',
    says: /expects FP32, got FP64/,
  },
  {
    name: 'not a v2 datatype',
    body: iris([1, 2, 3, 4], [1, 4], 'FLOAT'),
    status: 400,
    code: 'UNSUPPORTED_DATATYPE',
  },
  {
    name: 'rank mismatch',
    body: iris([1, 2, 3, 4], [4]),
    status: 400,
    code: 'SHAPE_MISMATCH',
    says: /rank 2/,
  },
  {
    name: 'fixed dimension mismatch',
    body: iris([1, 2, 3, 4, 5], [1, 5]),
    status: 400,
    code: 'SHAPE_MISMATCH',
    says: /dimension 1 must be 4/,
  },
  {
    name: 'negative dimension',
    body: iris([], [-1, 4]),
    status: 400,
    code: 'INVALID_REQUEST',
    says: /shape/,
  },
  {
    name: 'fractional dimension',
    body: iris([1, 2, 3, 4], [1.5, 4]),
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'shape not an array',
    body: iris([1, 2, 3, 4], '1,4'),
    status: 400,
    code: 'INVALID_REQUEST',
  },
  {
    name: 'too few elements',
    body: iris([1, 2, 3]),
    status: 400,
    code: 'DATA_LENGTH_MISMATCH',
    says: /4 elements but data has 3/,
  },
  {
    name: 'too many elements for the shape',
    body: iris([1, 2, 3, 4, 5]),
    status: 400,
    code: 'DATA_LENGTH_MISMATCH',
  },
  { name: 'data not an array', body: iris({ 0: 1 }), status: 400, code: 'INVALID_DATA' },
  {
    name: 'data missing',
    body: { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32' }] },
    status: 400,
    code: 'INVALID_REQUEST',
    says: /inputs\[0\]\.data: is required/,
  },
  {
    name: 'a string where a number belongs',
    body: iris([1, '2', 3, 4]),
    status: 400,
    code: 'INVALID_DATA',
    says: /element 1/,
  },
  { name: 'null element', body: iris([1, null, 3, 4]), status: 400, code: 'INVALID_DATA' },
  { name: 'boolean in FP32', body: iris([1, true, 3, 4]), status: 400, code: 'INVALID_DATA' },
  {
    name: 'non-finite (1e400 parses to Infinity)',
    body: '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[1,1e400,3,4]}]}',
    status: 400,
    code: 'NON_FINITE_VALUE',
  },
  {
    name: 'FP32 overflow',
    body: iris([1, 1e39, 3, 4]),
    status: 400,
    code: 'NON_FINITE_VALUE',
    says: /FP32/,
  },
  {
    name: 'too many elements (model limit)',
    body: iris([], [2_000_000, 4]),
    status: 400,
    code: 'TOO_MANY_ELEMENTS',
  },
  {
    name: 'unknown requested output',
    body: { ...iris([1, 2, 3, 4]), outputs: [{ name: 'logits' }] },
    status: 400,
    code: 'UNKNOWN_OUTPUT',
    says: /"logits"/,
  },
  {
    name: 'integer out of range',
    path: 'tensor-types',
    body: {
      inputs: [
        { name: 'ints', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] },
        { name: 'longs', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] },
        { name: 'flags', shape: [1, 3], datatype: 'BOOL', data: [true, true, true] },
        { name: 'bytes', shape: [1, 3], datatype: 'UINT8', data: [1, 2, 256] },
        { name: 'scale', shape: [], datatype: 'FP32', data: [1] },
      ],
    },
    status: 400,
    code: 'VALUE_OUT_OF_RANGE',
    says: /UINT8/,
  },
  {
    name: 'INT64 beyond 2^53 as a number',
    path: 'tensor-types',
    body: {
      inputs: [
        { name: 'ints', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] },
        { name: 'longs', shape: [1, 3], datatype: 'INT64', data: [1, 2, 2 ** 53 + 2] },
        { name: 'flags', shape: [1, 3], datatype: 'BOOL', data: [true, true, true] },
        { name: 'bytes', shape: [1, 3], datatype: 'UINT8', data: [1, 2, 3] },
        { name: 'scale', shape: [], datatype: 'FP32', data: [1] },
      ],
    },
    status: 400,
    code: 'VALUE_OUT_OF_RANGE',
    says: /decimal string/,
  },
  {
    name: 'batch sizes that disagree between inputs',
    path: 'tensor-types',
    body: {
      inputs: [
        { name: 'ints', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] },
        { name: 'longs', shape: [2, 3], datatype: 'INT64', data: [1, 2, 3, 4, 5, 6] },
        { name: 'flags', shape: [1, 3], datatype: 'BOOL', data: [true, true, true] },
        { name: 'bytes', shape: [1, 3], datatype: 'UINT8', data: [1, 2, 3] },
        { name: 'scale', shape: [], datatype: 'FP32', data: [1] },
      ],
    },
    status: 400,
    code: 'SHAPE_MISMATCH',
    says: /batch/,
  },
  {
    name: 'unknown model',
    path: 'nope',
    body: iris([1, 2, 3, 4]),
    status: 404,
    code: 'MODEL_NOT_FOUND',
  },
  {
    name: 'invalid model name',
    path: 'NOPE..',
    body: iris([1, 2, 3, 4]),
    status: 404,
    code: 'MODEL_NOT_FOUND',
  },
  {
    name: 'unknown version',
    path: 'iris/versions/7',
    body: iris([1, 2, 3, 4]),
    status: 404,
    code: 'VERSION_NOT_FOUND',
  },
  {
    name: 'malformed version',
    path: 'iris/versions/01',
    body: iris([1, 2, 3, 4]),
    status: 400,
    code: 'INVALID_VERSION',
  },
  {
    name: 'model whose only version failed to load',
    path: 'broken',
    body: iris([1, 2, 3, 4]),
    status: 503,
    code: 'MODEL_NOT_READY',
  },
];

function assertErrorBody(body: unknown, code: string): void {
  assert.ok(typeof body === 'object' && body !== null, 'error body is an object');
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error']);
  const { error, code: got } = body as { error: string; code: string };
  assert.equal(got, code, `code (message: ${error})`);
  assert.ok(error.length > 0);
  assert.doesNotMatch(
    error,
    /\/(work|tmp|home|usr|node_modules)\/|\bat .*\(.*:\d+:\d+\)/,
    'no path or stack',
  );
}

void describe('errors: every bad request gets its status and stable code', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  after(() => cleanup.run());
  before(async () => {
    const repo = await tempDir(cleanup);
    await cp(join(demoModels, 'iris'), join(repo, 'iris'), { recursive: true });
    await cp(join(demoModels, 'tensor-types'), join(repo, 'tensor-types'), { recursive: true });
    await writeModel(repo, 'broken', 1, new TextEncoder().encode('this is not an ONNX model'));
    gw = await startGateway(cleanup, repo, 'limits:\n  bodyBytes: 1048576\n');
  });

  for (const row of badRequests) {
    void it(`${row.status} ${row.code}: ${row.name}`, async () => {
      const res = await gw.post(`/v2/models/${row.path ?? 'iris'}/infer`, row.body);
      assert.equal(res.status, row.status, JSON.stringify(res.body));
      assertErrorBody(res.body, row.code);
      if (row.says) assert.match((res.body as { error: string }).error, row.says);
      if (row.status === 503) assert.ok(res.headers.get('retry-after'));
    });
  }

  void it('413 BODY_TOO_LARGE over limits.bodyBytes', async () => {
    const data = new Array<number>(300_000).fill(1.25);
    const res = await gw.post(`/v2/models/iris/infer`, iris(data, [75_000, 4]));
    assert.equal(res.status, 413);
    assertErrorBody(res.body, 'BODY_TOO_LARGE');
  });

  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
    void it(`415 UNSUPPORTED_MEDIA_TYPE for ${type}`, async () => {
      const res = await gw.post(`/v2/models/iris/infer`, '{"inputs":[]}', {
        'content-type': type,
      });
      assert.equal(res.status, 415);
      assertErrorBody(res.body, 'UNSUPPORTED_MEDIA_TYPE');
    });
  }

  void it('a body without a content type is read as JSON (tritonclient sends none)', async () => {
    const res = await fetch(`${gw.url}/v2/models/iris/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await gw.token()}` },
      body: new Uint8Array([123, 125]),
    });
    assert.equal(res.status, 400);
    assertErrorBody(await res.json(), 'INVALID_REQUEST');
  });

  void it('405 METHOD_NOT_ALLOWED with Allow for a known path', async () => {
    const res = await fetch(`${gw.url}/v2/models/iris/infer`, { method: 'DELETE' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
    assertErrorBody(await res.json(), 'METHOD_NOT_ALLOWED');
    const get = await gw.post(`/v2/health/live`, {});
    assert.equal(get.status, 405);
  });

  void it('404 NOT_FOUND for an unknown route', async () => {
    const res = await gw.get(`/v3/whatever`);
    assert.equal(res.status, 404);
    assertErrorBody(res.body, 'NOT_FOUND');
  });

  void it('model ready: 200 ready, 503 failed, 404 unknown', async () => {
    assert.equal((await gw.get(`/v2/models/iris/ready`)).status, 200);
    assert.equal((await gw.get(`/v2/models/iris/versions/1/ready`)).status, 200);
    const failed = await gw.get(`/v2/models/broken/versions/1/ready`);
    assert.equal(failed.status, 503);
    // The model-ready body clients parse (`name`, `ready`), with the error shape beside it.
    const { name, ready, ...error } = failed.body as Record<string, unknown>;
    assert.deepEqual({ name, ready }, { name: 'broken', ready: false });
    assertErrorBody(error, 'MODEL_NOT_READY');
    assert.match((failed.body as { error: string }).error, /failed/);
    assert.equal((await gw.get(`/v2/models/nope/ready`)).status, 404);
  });

  void it('x-request-id: a well-formed one is echoed, a malformed one replaced', async () => {
    const echoed = await fetch(`${gw.url}/v2/health/live`, {
      headers: { 'x-request-id': 'client-42.a:b' },
    });
    assert.equal(echoed.headers.get('x-request-id'), 'client-42.a:b');
    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '']) {
      const res = await fetch(`${gw.url}/v2/models/nope/infer`, {
        method: 'POST',
        headers: { 'x-request-id': bad },
      });
      const id = res.headers.get('x-request-id');
      assert.ok(id !== null && id !== bad);
      assert.match(id, /^[0-9a-f-]{36}$/);
    }
  });

  void it('a failed version is reported in the log with its reason', () => {
    const refused = gw.log.find((l) => l.msg === 'model version refused');
    assert.ok(refused, 'a refusal was logged');
    assert.equal(refused.model, 'broken');
    assert.equal(typeof refused.reason, 'string');
  });
});
