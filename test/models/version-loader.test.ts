import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { builtInTuning } from '../../src/config/tuning-defaults.js';
import { createEngineFactory } from '../../src/inference/engine-factory.js';
import type { ModelEvent } from '../../src/models/model-state.js';
import { readUnsignedVersion } from '../../src/models/version-files.js';
import { createVersionLoader } from '../../src/models/version-loader.js';
import type {
  VerifiedVersion,
  VersionParts,
  VersionPreparer,
} from '../../src/models/version-preparer.js';
import { createVersionPreparer } from '../../src/serving/serving-registry.js';
import { tempDir, writeModel } from '../helpers/gateway.js';

/** A preparer that keeps what it was handed and serves it with an engine that only closes. */
function recordingPreparer(
  fail?: Error,
): VersionPreparer<VersionParts> & { readonly seen: VerifiedVersion[] } {
  const seen: VerifiedVersion[] = [];
  return {
    seen,
    prepare(version) {
      seen.push(version);
      if (fail !== undefined) return Promise.reject(fail);
      return Promise.resolve({ engine: { close: () => Promise.resolve() } });
    },
    refusalCode: (error) => (error instanceof CodedError ? 'coded-refusal' : undefined),
  };
}

class CodedError extends Error {}

function loaderOver<P extends VersionParts>(repo: string, preparer: VersionPreparer<P>) {
  const events: ModelEvent[] = [];
  const lines: string[] = [];
  const load = createVersionLoader({
    repository: repo,
    defaults: { ...builtInTuning, poolSize: 0 },
    readVersion: readUnsignedVersion,
    preparer,
    emit: (e) => events.push(e),
    log: (level, msg) => lines.push(`${level} ${msg}`),
  });
  return { load, events, lines };
}

void describe('version loader', () => {
  void it('reads, checks and prepares a version: ready, with its digest and a load event', async (t) => {
    const repo = await tempDir(t);
    const bytes = buildIdentityModel('float32', ['batch']);
    await writeModel(repo, 'echo', 3, bytes, { 'labels.txt': 'a\nb\n' });
    await writeFile(join(repo, 'echo', 'config.yaml'), 'timeoutMs: 1234\n');
    const { load, events, lines } = loaderOver(repo, createVersionPreparer(createEngineFactory()));
    const ready = await load('echo', 3);
    assert.equal(ready.state, 'ready');
    t.after(() => ready.engine.close());
    const sha = createHash('sha256').update(bytes).digest('hex');
    assert.equal(ready.modelSha256, sha);
    assert.equal(ready.tuning.timeoutMs, 1234, 'the model folder config.yaml applies');
    assert.equal(ready.signedBy, undefined);
    assert.deepEqual(ready.labels, ['a', 'b']);
    assert.deepEqual(
      ready.signature.inputs.map((i) => i.name),
      ['x'],
    );
    assert.equal(
      ready.parser.parse({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }).rows,
      1,
    );
    assert.deepEqual(events, [
      { type: 'load', model: 'echo', version: 3, signedBy: undefined, modelSha256: sha },
    ]);
    assert.deepEqual(lines, ['info model version ready']);
  });

  void it('refuses a folder without a model before anything is prepared', async (t) => {
    const repo = await tempDir(t);
    await mkdir(join(repo, 'm', '1'), { recursive: true });
    await writeFile(join(repo, 'm', '1', 'notes.txt'), 'no model here');
    const preparer = recordingPreparer();
    const { load, events, lines } = loaderOver(repo, preparer);
    const state = await load('m', 1);
    assert.deepEqual(state, {
      state: 'failed',
      model: 'm',
      version: 1,
      reason: 'the version folder has no model.onnx',
    });
    assert.deepEqual(preparer.seen, []);
    assert.deepEqual(events, [
      {
        type: 'refused',
        model: 'm',
        version: 1,
        reason: 'the version folder has no model.onnx',
        code: 'model-missing',
      },
    ]);
    assert.deepEqual(lines, ['warn model version refused']);
  });

  void it('refuses what the preparer throws, led by its stable code when the preparer names one', async (t) => {
    const repo = await tempDir(t);
    await writeModel(repo, 'm', 1, buildIdentityModel('float32', [2]));
    const coded = loaderOver(
      repo,
      recordingPreparer(new CodedError(`bad ${repo}/m/1/policy.yaml\nmore`)),
    );
    // The first line only, the repository path left out, the code in front.
    assert.deepEqual(await coded.load('m', 1), {
      state: 'failed',
      model: 'm',
      version: 1,
      reason: 'coded-refusal: bad m/1/policy.yaml',
    });
    assert.equal(coded.events[0]?.type, 'refused');
    const plain = loaderOver(repo, recordingPreparer(new Error('engine failed at /opt/x')));
    assert.deepEqual(await plain.load('m', 1), {
      state: 'failed',
      model: 'm',
      version: 1,
      reason: 'engine failed at <path>',
    });
  });

  void it('hands the preparer the verified files, the model bytes and the tuning', async (t) => {
    const repo = await tempDir(t);
    const bytes = buildIdentityModel('float32', [2]);
    await writeModel(repo, 'm', 7, bytes, { 'policy.yaml': 'x: 1\n' });
    const preparer = recordingPreparer();
    const { load } = loaderOver(repo, preparer);
    assert.equal((await load('m', 7)).state, 'ready');
    const [seen] = preparer.seen;
    assert.ok(seen !== undefined);
    assert.equal(seen.label, 'm/7');
    assert.deepEqual([...seen.files.keys()].sort(), ['model.onnx', 'policy.yaml']);
    assert.ok(seen.bytes.equals(bytes));
    assert.deepEqual(seen.externalData, []);
    assert.equal(seen.tuning.poolSize, 0);
  });
});
