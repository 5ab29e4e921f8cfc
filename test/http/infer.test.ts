import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import {
  createCleanup,
  startGateway,
  tempDir,
  writeModel,
  type TestGateway,
} from '../helpers/gateway.js';
import { datatypeRoundTrips } from '../helpers/datatype-cases.js';
import { demoModels } from '../helpers/observe.js';

interface InferBody {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: { name: string; datatype: string; shape: number[]; data: unknown[] }[];
}

void describe('infer on the demo models', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway(cleanup, demoModels);
  });
  after(() => cleanup.run());

  void it('iris predicts the right species for known samples', async () => {
    const samples = [
      { features: [5.1, 3.5, 1.4, 0.2], label: 0 },
      { features: [4.9, 3.0, 1.4, 0.2], label: 0 },
      { features: [6.4, 3.2, 4.5, 1.5], label: 1 },
      { features: [5.7, 2.8, 4.1, 1.3], label: 1 },
      { features: [6.7, 3.0, 5.2, 2.3], label: 2 },
      { features: [6.3, 3.3, 6.0, 2.5], label: 2 },
    ];
    const res = await gw.post(`/v2/models/iris/infer`, {
      id: 'req-1',
      inputs: [
        {
          name: 'features',
          shape: [samples.length, 4],
          datatype: 'FP32',
          data: samples.map((s) => s.features),
        },
      ],
    });
    assert.equal(res.status, 200);
    const body = res.body as InferBody;
    assert.equal(body.model_name, 'iris');
    assert.equal(body.model_version, '1');
    assert.equal(body.id, 'req-1');
    const label = body.outputs.find((o) => o.name === 'label');
    assert.deepEqual(label, {
      name: 'label',
      datatype: 'INT64',
      shape: [samples.length],
      data: samples.map((s) => s.label),
    });
    const probabilities = body.outputs.find((o) => o.name === 'probabilities');
    assert.deepEqual(probabilities?.shape, [samples.length, 3]);
    for (let row = 0; row < samples.length; row++) {
      const p = probabilities.data.slice(row * 3, row * 3 + 3) as number[];
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.equal(p.indexOf(Math.max(...p)), samples[row]!.label);
    }
  });

  void it('returns only the requested outputs, by version too', async () => {
    const res = await gw.post(`/v2/models/iris/versions/1/infer`, {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }],
      outputs: [{ name: 'label' }],
    });
    assert.equal(res.status, 200);
    const body = res.body as InferBody;
    assert.deepEqual(body.outputs, [{ name: 'label', datatype: 'INT64', shape: [1], data: [2] }]);
    assert.equal(body.id, undefined);
  });

  void it('serves several inputs and outputs, integers, booleans and a scalar', async () => {
    const res = await gw.post(`/v2/models/tensor-types/infer`, {
      inputs: [
        {
          name: 'ints',
          shape: [2, 3],
          datatype: 'INT32',
          data: [
            [1, -2, 3],
            [2147483647, 0, -5],
          ],
        },
        {
          name: 'longs',
          shape: [2, 3],
          datatype: 'INT64',
          data: [1, '9007199254740993', -3, 0, 7, '-9223372036854775808'],
        },
        {
          name: 'flags',
          shape: [2, 3],
          datatype: 'BOOL',
          data: [true, false, true, false, false, true],
        },
        { name: 'bytes', shape: [2, 3], datatype: 'UINT8', data: [0, 128, 255, 1, 2, 3] },
        { name: 'scale', shape: [], datatype: 'FP32', data: [1.25] },
      ],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const outputs = Object.fromEntries((res.body as InferBody).outputs.map((o) => [o.name, o]));
    assert.deepEqual(outputs.ints_doubled?.data, [2, -4, 6, -2, 0, -10]);
    assert.deepEqual(outputs.longs_plus_one?.data, [
      2,
      '9007199254740994',
      -2,
      1,
      8,
      '-9223372036854775807',
    ]);
    assert.deepEqual(outputs.flags_not?.data, [false, true, false, true, true, false]);
    assert.deepEqual(outputs.bytes_out?.data, [0, 128, 255, 1, 2, 3]);
    assert.deepEqual(outputs.scaled, { name: 'scaled', datatype: 'FP32', shape: [], data: [2.5] });
  });

  void it('answers model metadata with -1 for dynamic dims', async () => {
    const res = await gw.get(`/v2/models/iris`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      name: 'iris',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
      ],
    });
  });
});

const roundTrips = datatypeRoundTrips;

void describe('every datatype round-trips through an Identity model', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  after(() => cleanup.run());
  before(async () => {
    const repo = await tempDir(cleanup);
    for (const { type } of roundTrips) {
      await writeModel(repo, `id-${type}`, 1, buildIdentityModel(type, ['batch', 2]));
      await writeModel(repo, `scalar-${type}`, 1, buildIdentityModel(type, []));
    }
    gw = await startGateway(cleanup, repo);
  });

  for (const { datatype, type, data } of roundTrips) {
    void it(`${datatype} as [2,2] nested`, async () => {
      const res = await gw.post(`/v2/models/id-${type}/infer`, {
        inputs: [{ name: 'x', shape: [2, 2], datatype, data: [data.slice(0, 2), data.slice(2)] }],
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual((res.body as InferBody).outputs, [
        { name: 'y', datatype, shape: [2, 2], data },
      ]);
    });
    void it(`${datatype} as a rank-0 scalar`, async () => {
      const res = await gw.post(`/v2/models/scalar-${type}/infer`, {
        inputs: [{ name: 'x', shape: [], datatype, data: [data[1]] }],
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual((res.body as InferBody).outputs, [
        { name: 'y', datatype, shape: [], data: [data[1]] },
      ]);
    });
  }

  void it('an empty batch (shape [0,2]) round-trips', async () => {
    const res = await gw.post(`/v2/models/id-float32/infer`, {
      inputs: [{ name: 'x', shape: [0, 2], datatype: 'FP32', data: [] }],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual((res.body as InferBody).outputs, [
      { name: 'y', datatype: 'FP32', shape: [0, 2], data: [] },
    ]);
  });
});
