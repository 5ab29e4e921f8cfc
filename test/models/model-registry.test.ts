import assert from 'node:assert/strict';
import { cp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { builtInTuning } from '../../src/config/tuning-defaults.js';
import { BastionError } from '../../src/errors.js';
import { createEngineFactory } from '../../src/inference/engine-factory.js';
import type { ModelEvent } from '../../src/models/model-state.js';
import { readUnsignedVersion } from '../../src/models/version-files.js';
import { createInferenceService } from '../../src/serving/inference-service.js';
import { createServingRegistry } from '../../src/serving/serving-registry.js';
import { tempDir, writeModel } from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';

function registryOver(repo: string, events: ModelEvent[] = []) {
  return createServingRegistry({
    repository: repo,
    defaults: { ...builtInTuning, poolSize: 0 },
    readVersion: readUnsignedVersion,
    createEngine: createEngineFactory(),
    onEvent: (e) => events.push(e),
  });
}

const irisRow = {
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }],
  outputs: [{ name: 'label' }],
};

function assertCode(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof BastionError, String(error));
    assert.equal(error.code, code);
    return true;
  };
}

void describe('model registry', () => {
  void it('loads every version, refuses broken ones with a reason, serves the highest ready one', async (t) => {
    const repo = await tempDir(t);
    await cp(join(demoModels, 'iris', '1'), join(repo, 'iris', '1'), { recursive: true });
    await writeModel(repo, 'iris', 2, new TextEncoder().encode('garbage'));
    await mkdir(join(repo, 'iris', 'latest'));
    await mkdir(join(repo, 'Bad Name'));
    const events: ModelEvent[] = [];
    const registry = registryOver(repo, events);
    t.after(() => registry.close());
    await registry.loadAll();
    assert.ok(registry.started);
    assert.deepEqual(
      registry.index().map((e) => [e.name, e.version, e.state]),
      [
        ['iris', '1', 'READY'],
        ['iris', '2', 'UNAVAILABLE'],
      ],
    );
    assert.match(registry.index()[1]?.reason ?? '', /./);
    assert.deepEqual(
      events.map((e) => [e.type, e.version]),
      [
        ['load', 1],
        ['refused', 2],
      ],
    );
    const lease = registry.acquire('iris');
    assert.equal(lease.version.version, 1);
    lease.release();
    assert.throws(() => registry.acquire('iris', 2), assertCode('MODEL_NOT_READY'));
    assert.throws(() => registry.acquire('iris', 3), assertCode('VERSION_NOT_FOUND'));
    assert.throws(() => registry.acquire('other'), assertCode('MODEL_NOT_FOUND'));
  });

  void it('the inference path runs without HTTP', async (t) => {
    const repo = await tempDir(t);
    await cp(join(demoModels, 'iris'), join(repo, 'iris'), { recursive: true });
    const registry = registryOver(repo);
    t.after(() => registry.close());
    await registry.loadAll();
    const service = createInferenceService({ registry });
    const outcome = await service.infer({ model: 'iris', body: irisRow });
    assert.deepEqual(outcome.response.outputs, [
      { name: 'label', datatype: 'INT64', shape: [1], data: [2] },
    ]);
    assert.equal(outcome.version, 1);
    assert.equal(outcome.rows, 1);
    await assert.rejects(
      service.infer({ model: 'iris', body: { inputs: [] } }),
      assertCode('INVALID_REQUEST'),
    );
  });

  void it('reload swaps in a new version; a held lease keeps the old engine until released', async (t) => {
    const repo = await tempDir(t);
    await writeModel(repo, 'echo', 1, buildIdentityModel('float32', ['batch']));
    const registry = registryOver(repo);
    t.after(() => registry.close());
    await registry.loadAll();
    const service = createInferenceService({ registry });
    const old = registry.acquire('echo');
    await writeModel(repo, 'echo', 2, buildIdentityModel('float32', ['batch']));
    const states = await registry.load('echo');
    assert.deepEqual(
      states.map((s) => [s.version, s.state]),
      [
        [1, 'ready'],
        [2, 'ready'],
      ],
    );
    const body = { inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2] }] };
    assert.equal((await service.infer({ model: 'echo', body })).version, 2);
    // Remove version 1 from disk and reload: it leaves the index, but the held lease still works.
    await rm(join(repo, 'echo', '1'), { recursive: true });
    await registry.load('echo');
    assert.deepEqual(
      registry.index().map((e) => e.version),
      ['2'],
    );
    const feeds = { x: { type: 'float32' as const, dims: [1], data: new Float32Array([5]) } };
    const out = await old.version.engine.run(feeds, ['y']);
    assert.deepEqual([...(out.y?.data as Float32Array)], [5]);
    old.release();
    await assert.rejects(old.version.engine.run(feeds, ['y']), assertCode('SHUTTING_DOWN'));
  });

  void it('a failed reload keeps the ready version serving', async (t) => {
    const repo = await tempDir(t);
    const dir = await writeModel(repo, 'echo', 1, buildIdentityModel('float32', ['batch']));
    const events: ModelEvent[] = [];
    const registry = registryOver(repo, events);
    t.after(() => registry.close());
    await registry.loadAll();
    await writeFile(join(dir, 'model.onnx'), 'tampered');
    const [state] = await registry.load('echo');
    assert.equal(state?.state, 'failed');
    assert.equal(registry.acquire('echo').version.version, 1);
    assert.equal(events.at(-1)?.type, 'refused');
  });

  void it('unload stops serving; load brings it back', async (t) => {
    const repo = await tempDir(t);
    await writeModel(repo, 'echo', 1, buildIdentityModel('float32', ['batch']));
    const registry = registryOver(repo);
    t.after(() => registry.close());
    await registry.loadAll();
    await registry.unload('echo');
    assert.equal(registry.index()[0]?.state, 'UNLOADED');
    assert.throws(() => registry.acquire('echo'), assertCode('MODEL_NOT_READY'));
    await registry.load('echo');
    assert.equal(registry.acquire('echo').version.version, 1);
    await assert.rejects(registry.unload('ghost'), assertCode('MODEL_NOT_FOUND'));
    await assert.rejects(registry.load('ghost'), assertCode('MODEL_NOT_FOUND'));
    await assert.rejects(registry.load('../etc'), assertCode('INVALID_MODEL_NAME'));
  });

  void it('refuses symlinks, two model files, a missing model file and a bad config.yaml', async (t) => {
    const repo = await tempDir(t);
    const linked = await writeModel(repo, 'linked', 1, buildIdentityModel('float32', ['n']));
    await symlink('/etc/passwd', join(linked, 'extra'));
    const both = await writeModel(repo, 'both', 1, buildIdentityModel('float32', ['n']));
    await writeFile(join(both, 'model.onnx.enc'), 'x');
    await mkdir(join(repo, 'empty', '1'), { recursive: true });
    await writeModel(repo, 'tuned', 1, buildIdentityModel('float32', ['n']));
    await writeFile(join(repo, 'tuned', 'config.yaml'), 'maxBatchSize: -3\nbogus: 1\n');
    const registry = registryOver(repo);
    t.after(() => registry.close());
    await registry.loadAll();
    const reasons = Object.fromEntries(registry.index().map((e) => [e.name, e.reason]));
    assert.match(reasons.linked ?? '', /symbolic link/);
    assert.match(reasons.both ?? '', /both model\.onnx and model\.onnx\.enc/);
    assert.match(reasons.empty ?? '', /no model\.onnx/);
    assert.match(reasons.tuned ?? '', /config\.yaml: .*maxBatchSize.*bogus/);
  });
});
