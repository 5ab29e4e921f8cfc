/**
 * Nothing that could name a path reaches an ONNX Runtime session: the session options are an
 * allow-list, and neither the configuration (`models.defaults`) nor a model's config.yaml can set
 * optimizedModelFilePath, profiling, custom-op libraries or free-form `extra` entries.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.js';
import { builtInTuning } from '../../src/config/tuning-defaults.js';
import { sessionSettingsOf } from '../../src/inference/engine-factory.js';
import { ortEnvironment } from '../../src/inference/ort-environment.js';
import { buildSessionOptions } from '../../src/inference/ort-session.js';
import { readModelTuning } from '../../src/models/model-repository.js';
import { tempDir } from '../helpers/gateway.js';

const pathOptions = [
  'optimizedModelFilePath',
  'enableProfiling',
  'profileFilePrefix',
  'extra',
  'externalData',
  'customOpsLibraries',
  'logId',
];

void describe('session options: an allow-list', () => {
  void it('are built from exactly the allowed fields, profiling off', () => {
    const options = buildSessionOptions(sessionSettingsOf(builtInTuning), ['cpu']);
    assert.deepEqual(Object.keys(options).sort(), [
      'enableProfiling',
      'executionProviders',
      'graphOptimizationLevel',
      'interOpNumThreads',
      'intraOpNumThreads',
      'logSeverityLevel',
    ]);
    assert.equal(options.enableProfiling, false);
    const data = new Uint8Array(4);
    const external = buildSessionOptions(
      { ...sessionSettingsOf(builtInTuning), externalData: [{ path: 'w.bin', data }] },
      ['cpu'],
    );
    assert.deepEqual(external.externalData, [{ path: 'w.bin', data }]);
  });

  void it('models.defaults refuses every path-naming session option', () => {
    for (const key of pathOptions) {
      assert.throws(
        () =>
          parseConfigText(
            `models:\n  defaults:\n    ${key}: ${key === 'enableProfiling' ? 'true' : '"/tmp/x"'}\n`,
            '/tmp/bastion.yaml',
          ),
        new RegExp(key),
        key,
      );
    }
  });

  void it("a model's config.yaml refuses them too, and allowExternalData must be a boolean", async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'm'));
    for (const line of [...pathOptions.map((k) => `${k}: "/tmp/x"`), 'allowExternalData: "yes"']) {
      await writeFile(join(dir, 'm', 'config.yaml'), `${line}\n`);
      await assert.rejects(readModelTuning(join(dir, 'm'), builtInTuning), /config\.yaml/, line);
    }
    await writeFile(join(dir, 'm', 'config.yaml'), 'allowExternalData: true\n');
    assert.equal((await readModelTuning(join(dir, 'm'), builtInTuning)).allowExternalData, true);
    assert.equal(builtInTuning.allowExternalData, false);
  });

  void it('ONNX Runtime environment is forced: telemetry off, no config from the model', () => {
    assert.deepEqual(ortEnvironment, {
      ORT_DISABLE_TELEMETRY: '1',
      ORT_LOAD_CONFIG_FROM_MODEL: '0',
      ORT_ENABLE_PROFILING: '0',
    });
    for (const [name, value] of Object.entries(ortEnvironment))
      assert.equal(process.env[name], value);
  });
});
