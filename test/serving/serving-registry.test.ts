import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { builtInTuning } from '../../src/config/tuning-defaults.js';
import { BastionError } from '../../src/errors.js';
import type { ModelEngine } from '../../src/inference/engine.js';
import { createEngineFactory } from '../../src/inference/engine-factory.js';
import type { VerifiedVersion } from '../../src/models/version-preparer.js';
import { PolicyError } from '../../src/policy/policy-schema.js';
import {
  createVersionPreparer,
  type ModelEngineFactory,
} from '../../src/serving/serving-registry.js';

const tuning = { ...builtInTuning, poolSize: 0 as const };

function verified(files: Record<string, string> = {}): VerifiedVersion {
  const bytes = Buffer.from(buildIdentityModel('float32', ['batch']));
  return {
    model: 'echo',
    version: 1,
    label: 'echo/1',
    files: new Map<string, Buffer>([
      ['model.onnx', bytes],
      ...Object.entries(files).map(([k, v]) => [k, Buffer.from(v)] as const),
    ]),
    bytes,
    externalData: [],
    tuning,
  };
}

/** The real engine factory, keeping every engine it made. */
function keptEngines(): { readonly made: ModelEngine[]; readonly factory: ModelEngineFactory } {
  const real = createEngineFactory();
  const made: ModelEngine[] = [];
  return {
    made,
    factory: async (...args) => {
      const engine = await real(...args);
      made.push(engine);
      return engine;
    },
  };
}

const feeds = { x: { type: 'float32' as const, dims: [1], data: new Float32Array([1]) } };

void describe('the gateway version preparer', () => {
  void it('serves a version with its engine, parser, labels and compiled policy', async (t) => {
    const { made, factory } = keptEngines();
    const parts = await createVersionPreparer(factory).prepare(
      verified({
        'labels.txt': 'one\n',
        'policy.yaml': 'inputs:\n  x: {all: {min: 0, max: 30}}\n',
      }),
    );
    t.after(() => parts.engine.close());
    assert.equal(parts.engine, made[0]);
    assert.equal(parts.signature, parts.engine.signature);
    assert.deepEqual(parts.labels, ['one']);
    assert.ok(parts.policy !== undefined);
    const request = parts.parser.parse({
      inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [2] }],
    });
    assert.deepEqual(Object.keys(request.feeds), ['x']);
    assert.deepEqual([...((await parts.engine.run(feeds, ['y'])).y?.data as Float32Array)], [1]);
  });

  void it('a version without labels or policy has neither', async (t) => {
    const parts = await createVersionPreparer(createEngineFactory()).prepare(verified());
    t.after(() => parts.engine.close());
    assert.equal(parts.labels, undefined);
    assert.equal('policy' in parts, false);
  });

  void it('a policy that does not compile closes the engine and refuses with policy-invalid', async () => {
    const { made, factory } = keptEngines();
    const preparer = createVersionPreparer(factory);
    const refusal = await preparer
      .prepare(verified({ 'policy.yaml': 'inputs:\n  petals: {all: {min: 0}}\n' }))
      .then(
        () => assert.fail('the version was prepared'),
        (error: unknown) => error,
      );
    assert.ok(refusal instanceof PolicyError, String(refusal));
    assert.match(refusal.message, /no input "petals"/);
    assert.ok(preparer.refusalCode !== undefined);
    assert.equal(preparer.refusalCode(refusal), 'policy-invalid');
    assert.equal(preparer.refusalCode(new Error('other')), undefined);
    assert.equal(made.length, 1);
    await assert.rejects(made[0]!.run(feeds, ['y']), (error: unknown) => {
      assert.ok(error instanceof BastionError);
      assert.equal(error.code, 'SHUTTING_DOWN');
      return true;
    });
  });
});
