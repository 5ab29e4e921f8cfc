/**
 * The named boot parts of createGateway on their own: how model events and engine hooks reach
 * the metrics, the audit log and the log, and when the gateway counts as ready.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import type { AuditEntry } from '../../src/audit/audit-record.js';
import { parseConfigText } from '../../src/config/load-config.js';
import { builtInTuning } from '../../src/config/tuning-defaults.js';
import { createEngineFactory } from '../../src/inference/engine-factory.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.js';
import type { ModelEvent } from '../../src/models/model-state.js';
import { readUnsignedVersion } from '../../src/models/version-files.js';
import { createServingRegistry } from '../../src/serving/serving-registry.js';
import { createRunState } from '../../src/server-lifecycle.js';
import { engineHooksFor, recordModelEvent } from '../../src/server-parts.js';
import { memoryLog, tempDir, writeModel } from '../helpers/gateway.js';

async function sample(metrics: Metrics, name: string): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

function metricsFor(model: string): Metrics {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.setKnownModels([{ name: model, versions: new Set(['1']) }]);
  return metrics;
}

void describe('model events', () => {
  const events: [ModelEvent, Partial<AuditEntry>][] = [
    [
      { type: 'load', model: 'm', version: 1, signedBy: 'publisher', modelSha256: 'ab' },
      {
        event: 'model.load',
        outcome: 'allowed',
        reason: 'signed by publisher; sha256 ab',
      },
    ],
    [
      { type: 'load', model: 'm', version: 1, signedBy: undefined, modelSha256: 'ab' },
      { event: 'model.load', reason: 'signed by nobody (allowUnsigned); sha256 ab' },
    ],
    [
      {
        type: 'refused',
        model: 'm',
        version: 1,
        reason: 'digest-mismatch: model.onnx',
        code: 'digest-mismatch',
      },
      { event: 'model.refused', outcome: 'denied', reason: 'digest-mismatch: model.onnx' },
    ],
    [
      { type: 'unload', model: 'm', version: 1 },
      { event: 'model.unload', outcome: 'allowed' },
    ],
  ];
  for (const [event, expected] of events) {
    void it(`${event.type}${event.type === 'load' ? ` (signed by ${event.signedBy ?? 'nobody'})` : ''} is audited`, () => {
      const audited: AuditEntry[] = [];
      recordModelEvent(event, undefined, (e) => audited.push(e));
      const [entry, ...more] = audited;
      assert.ok(entry !== undefined && more.length === 0);
      assert.deepEqual({ ...entry, ...expected }, entry);
      assert.equal(entry.model, 'm');
      assert.equal(entry.version, 1);
    });
  }

  void it('counts loads and refusals, a refusal by its stable code (`other` without one)', async () => {
    const metrics = metricsFor('m');
    const audit = (): void => undefined;
    recordModelEvent(events[0]![0], metrics, audit);
    recordModelEvent(events[2]![0], metrics, audit);
    recordModelEvent(
      { type: 'refused', model: 'm', version: 1, reason: 'No code here', code: undefined },
      metrics,
      audit,
    );
    recordModelEvent({ type: 'unload', model: 'm', version: 1 }, metrics, audit);
    assert.deepEqual(await sample(metrics, 'bastion_model_loads_total'), [
      'bastion_model_loads_total{model="m",version="1",result="loaded"} 1',
      'bastion_model_loads_total{model="m",version="1",result="refused"} 2',
    ]);
    assert.deepEqual(await sample(metrics, 'bastion_model_refusals_total'), [
      'bastion_model_refusals_total{model="m",reason="digest-mismatch"} 1',
      'bastion_model_refusals_total{model="m",reason="other"} 1',
    ]);
  });
});

void describe('engine hooks', () => {
  const target = { model: 'm', version: 1, label: 'm/1' };

  void it('without metrics: only a log line per worker restart', () => {
    const { stream, lines } = memoryLog();
    const hooks = engineHooksFor(undefined, createLogger('info', stream))(target);
    assert.deepEqual(Object.keys(hooks), ['onWorkerRestart']);
    hooks.onWorkerRestart?.('m/1', 'exit 1');
    const [line] = lines;
    assert.ok(line !== undefined);
    assert.equal(line.msg, 'model worker crashed and was replaced');
    assert.equal(line.level, 50);
    assert.deepEqual([line.label, line.reason], ['m/1', 'exit 1']);
  });

  void it('with metrics: inference time, queue wait, batch rows and restarts are observed', async () => {
    const metrics = metricsFor('m');
    const { stream, lines } = memoryLog();
    const hooks = engineHooksFor(metrics, createLogger('info', stream))(target);
    hooks.onInference?.(250);
    hooks.onQueueWait?.(2);
    hooks.onBatch?.(3, 8);
    hooks.onWorkerRestart?.('m/1', 'exit 1');
    assert.ok(
      (await sample(metrics, 'bastion_inference_duration_seconds_sum')).includes(
        'bastion_inference_duration_seconds_sum{model="m",version="1"} 0.25',
      ),
    );
    assert.ok(
      (await sample(metrics, 'bastion_queue_wait_seconds_sum')).includes(
        'bastion_queue_wait_seconds_sum{model="m"} 0.002',
      ),
    );
    assert.ok(
      (await sample(metrics, 'bastion_batch_size_sum')).includes(
        'bastion_batch_size_sum{model="m"} 8',
      ),
    );
    assert.deepEqual(await sample(metrics, 'bastion_worker_restarts_total'), [
      'bastion_worker_restarts_total{model="m"} 1',
    ]);
    assert.equal(lines.length, 1);
  });
});

void describe('run state', () => {
  void it('ready once the first load has finished with a ready version, until the drain begins', async (t) => {
    const repo = await tempDir(t);
    const config = parseConfigText(
      `mode: development\nstateDir: ${JSON.stringify(join(repo, 'var'))}\nauth:\n  devIssuer: true\nmodels:\n  repository: ${JSON.stringify(repo)}\n  allowUnsigned: true\n`,
      join(repo, 'config.yaml'),
    );
    const registry = createServingRegistry({
      repository: repo,
      defaults: { ...builtInTuning, poolSize: 0 },
      readVersion: readUnsignedVersion,
      createEngine: createEngineFactory(),
    });
    t.after(() => registry.close());
    const run = createRunState(config, registry, undefined);
    assert.equal(run.isReady(), false, 'before the first load');
    await registry.loadAll();
    assert.equal(run.isReady(), false, 'no model in the repository');
    await writeModel(repo, 'echo', 1, buildIdentityModel('float32', ['batch']));
    await registry.load('echo');
    assert.equal(run.isReady(), true);
    run.beginDrain();
    assert.deepEqual([run.isReady(), run.draining, run.shuttingDown], [false, true, false]);
    run.beginShutdown();
    assert.deepEqual([run.isReady(), run.shuttingDown], [false, true]);
  });
});
