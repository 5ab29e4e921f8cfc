import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { builtInTuning } from '../../src/config/tuning-defaults.js';
import { BastionError } from '../../src/errors.js';
import { createEngineFactory } from '../../src/inference/engine-factory.js';
import { readUnsignedVersion } from '../../src/models/version-files.js';
import { outcomeOf, outputEntries } from '../../src/serving/infer-response.js';
import { createServingRegistry } from '../../src/serving/serving-registry.js';
import { tempDir, writeModel } from '../helpers/gateway.js';

async function servedEcho(t: { after: (fn: () => Promise<void>) => void }) {
  const repo = await tempDir(t);
  await writeModel(repo, 'echo', 1, buildIdentityModel('float32', ['batch']), {
    'labels.txt': 'zero\none\ntwo\n',
  });
  const registry = createServingRegistry({
    repository: repo,
    defaults: { ...builtInTuning, poolSize: 0 },
    readVersion: readUnsignedVersion,
    createEngine: createEngineFactory(),
  });
  t.after(() => registry.close());
  await registry.loadAll();
  const lease = registry.acquire('echo');
  t.after(() => {
    lease.release();
    return Promise.resolve();
  });
  return lease.version;
}

const x = { name: 'x', shape: [3], datatype: 'FP32', data: [0.5, 2, 1] };

void describe('infer response', () => {
  void it('answers JSON outputs; json() is byte for byte JSON.stringify(response)', async (t) => {
    const ready = await servedEcho(t);
    const request = ready.parser.parse({ id: 'r1', inputs: [x] });
    const outputs = await ready.engine.run(request.feeds, request.outputs);
    const { entries, binary } = outputEntries(ready, request, request.outputs, outputs, {
      hardening: undefined,
    });
    assert.equal(binary, undefined);
    const outcome = outcomeOf(ready, request.id, entries, binary, {
      version: 1,
      rows: request.rows,
      inferenceMs: 1,
    });
    assert.deepEqual(outcome.response, {
      model_name: 'echo',
      model_version: '1',
      id: 'r1',
      outputs: [{ name: 'y', datatype: 'FP32', shape: [3], data: [0.5, 2, 1] }],
    });
    assert.equal(outcome.json(), JSON.stringify(outcome.response));
    assert.equal(outcome.response, outcome.response, 'built once');
    assert.equal('policy' in outcome, false);
  });

  void it('answers binary outputs as a header, their bytes collected in order', async (t) => {
    const ready = await servedEcho(t);
    const request = ready.parser.parse({ inputs: [x], parameters: { binary_data_output: true } });
    const outputs = await ready.engine.run(request.feeds, request.outputs);
    const { entries, binary } = outputEntries(ready, request, request.outputs, outputs, {
      hardening: undefined,
    });
    assert.equal(binary?.length, 1);
    assert.deepEqual([...new Float32Array(binary[0]!.slice().buffer)], [0.5, 2, 1]);
    const outcome = outcomeOf(ready, undefined, entries, binary, {
      version: 1,
      rows: 3,
      inferenceMs: 1,
    });
    assert.deepEqual(outcome.response.outputs, [
      { name: 'y', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 12 } },
    ]);
    assert.equal(outcome.json(), JSON.stringify(outcome.response));
  });

  void it('classifies an output asked for as top-k, with the signed labels', async (t) => {
    const ready = await servedEcho(t);
    const request = ready.parser.parse({
      inputs: [x],
      outputs: [{ name: 'y', parameters: { classification: 2 } }],
    });
    const outputs = await ready.engine.run(request.feeds, request.outputs);
    const { entries } = outputEntries(ready, request, request.outputs, outputs, {
      hardening: undefined,
    });
    const [entry] = entries;
    assert.ok(entry !== undefined);
    assert.equal(entry.tensor.type, 'string');
    assert.deepEqual(entry.tensor.data, ['2:1:one', '1:2:two']);
  });

  void it('refuses with INTERNAL when the model did not produce an output', async (t) => {
    const ready = await servedEcho(t);
    const request = ready.parser.parse({ inputs: [x] });
    assert.throws(
      () => outputEntries(ready, request, request.outputs, {}, { hardening: undefined }),
      (error: unknown) => error instanceof BastionError && error.code === 'INTERNAL',
    );
  });
});
