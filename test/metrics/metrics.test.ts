import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import {
  createLabelGuard,
  createModelLabeler,
  statusLabel,
} from '../../src/metrics/label-guard.js';
import { createMetrics } from '../../src/metrics/metrics.js';

function exercise(metrics: ReturnType<typeof createMetrics>): void {
  metrics.requests.inc({ model: 'iris', version: 1, status: 200 });
  metrics.requestDuration.observe({ model: 'iris', version: '1', status: 200 }, 0.012);
  metrics.inferenceDuration.observe({ model: 'iris', version: 1 }, 0.004);
  metrics.queueWait.observe({ model: 'iris' }, 0.0002);
  metrics.queueDepth.set({ model: 'iris' }, 3);
  metrics.queueDepth.inc({ model: 'iris' });
  metrics.queueDepth.dec({ model: 'iris' });
  metrics.batchSize.observe({ model: 'iris' }, 8);
  metrics.authFailures.inc({ reason: 'expired' });
  metrics.modelLoads.inc({ model: 'iris', version: 1, result: 'loaded' });
  metrics.auditWriteFailures.inc();
  metrics.workerRestarts.inc({ model: 'iris' });
  metrics.rateLimited.inc();
}

const expectedTypes: Record<string, string> = {
  bastion_requests_total: 'counter',
  bastion_request_duration_seconds: 'histogram',
  bastion_inference_duration_seconds: 'histogram',
  bastion_queue_wait_seconds: 'histogram',
  bastion_queue_depth: 'gauge',
  bastion_batch_size: 'histogram',
  bastion_auth_failures_total: 'counter',
  bastion_model_loads_total: 'counter',
  bastion_audit_write_failures_total: 'counter',
  bastion_audit_records_total: 'counter',
  bastion_audit_fsyncs_total: 'counter',
  bastion_worker_restarts_total: 'counter',
  bastion_rate_limited_total: 'counter',
  nodejs_eventloop_lag_seconds: 'gauge',
  nodejs_eventloop_lag_p99_seconds: 'gauge',
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
};

test('every contract metric is in its own registry with its type', async () => {
  const metrics = createMetrics({ knownModels: ['iris'] });
  exercise(metrics);
  const text = await metrics.registry.metrics();
  for (const [name, type] of Object.entries(expectedTypes)) {
    // prom-client writes a counter's TYPE line under the name it was given, _total included.
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
  }
  assert.match(text, /^bastion_requests_total\{model="iris",version="1",status="200"\} 1$/m);
  assert.match(text, /^bastion_queue_depth\{model="iris"\} 3$/m);
  assert.match(text, /^bastion_batch_size_bucket\{le="8",model="iris"\} 1$/m);
  assert.match(text, /^bastion_model_loads_total\{model="iris",version="1",result="loaded"\} 1$/m);
  // Never the global registry.
  assert.equal(
    await globalRegistry.getSingleMetricAsString('bastion_requests_total').catch(() => ''),
    '',
  );
  // Two instances do not collide.
  assert.doesNotThrow(() => createMetrics());
});

test('unknown models and raw input become _unknown; labels stay bounded', async () => {
  const metrics = createMetrics({ knownModels: ['iris'], defaultMetrics: false });
  metrics.requests.inc({ model: 'no-such-model', version: 1, status: 404 });
  metrics.requests.inc({ model: '<script>', version: '../../etc', status: 'abc' });
  metrics.requests.inc({ model: 'iris', version: 'x9', status: 400 });
  metrics.requests.inc({ status: 401 });
  for (let i = 0; i < 100; i++) metrics.authFailures.inc({ reason: `reason_${i}` });
  metrics.authFailures.inc({ reason: 'Bearer eyJhbGciOi...' });
  const text = await metrics.registry.metrics();
  assert.match(
    text,
    /bastion_requests_total\{model="_unknown",version="_unknown",status="404"\} 1/,
  );
  assert.match(
    text,
    /bastion_requests_total\{model="_unknown",version="_unknown",status="_unknown"\} 1/,
  );
  assert.match(text, /bastion_requests_total\{model="iris",version="_unknown",status="400"\} 1/);
  assert.match(
    text,
    /bastion_requests_total\{model="_unknown",version="_unknown",status="401"\} 1/,
  );
  assert.doesNotMatch(text, /no-such-model|script|etc|eyJ/);
  const reasons = text.split('\n').filter((l) => l.startsWith('bastion_auth_failures_total{'));
  assert.equal(reasons.length, 33); // 32 distinct + "other"
  assert.match(text, /bastion_auth_failures_total\{reason="other"\} 69/);

  assert.equal(metrics.modelLabel('mnist'), '_unknown');
  metrics.setKnownModels([{ name: 'mnist', versions: [1, 2] }]);
  assert.equal(metrics.modelLabel('mnist'), 'mnist');
  assert.equal(metrics.modelLabel('iris'), '_unknown');
  assert.equal(metrics.versionLabel('mnist', 2), '2');
  assert.equal(metrics.versionLabel('mnist', 3), '_unknown');
});

test('label helpers', () => {
  const labeler = createModelLabeler(['iris']);
  assert.equal(labeler.model(undefined), '_unknown');
  assert.equal(labeler.version('iris', 12), '12');
  assert.equal(labeler.version('iris', 1234567), '_unknown');
  assert.equal(labeler.version('iris', undefined), '_unknown');
  assert.equal(statusLabel(503), '503');
  assert.equal(statusLabel(999), '_unknown');
  const guard = createLabelGuard({ maxDistinct: 1, fallback: 'x' });
  assert.equal(guard('a'), 'a');
  assert.equal(guard('a'), 'a');
  assert.equal(guard('b'), 'x');
  assert.equal(guard('BAD VALUE'), 'x');
});

// prom-client's default metrics name three gauges *_total; promtool lints that. They are upstream
// names operators' dashboards already use, so they are tolerated here and nothing else is.
const upstreamLintFindings = new Set([
  'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
]);

test('promtool check metrics accepts the scrape', async (t) => {
  const which = spawnSync('sh', ['-c', 'command -v promtool']);
  if (which.status !== 0) {
    t.skip('promtool not installed (Debian package "prometheus")');
    return;
  }
  const check = (text: string): { status: number | null; output: string } => {
    const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  };
  const ours = createMetrics({ knownModels: ['iris'], defaultMetrics: false });
  exercise(ours);
  const strict = check(await ours.registry.metrics());
  assert.equal(strict.status, 0, strict.output);

  const full = createMetrics({ knownModels: ['iris'] });
  exercise(full);
  const all = check(await full.registry.metrics());
  const findings = all.output.split('\n').filter((line) => line.trim() !== '');
  assert.deepEqual(
    findings.filter((line) => !upstreamLintFindings.has(line)),
    [],
  );
  // promtool exits 3 for lint findings only, 1 for a scrape it cannot parse.
  assert.ok(all.status === 0 || (all.status === 3 && findings.length > 0), all.output);
});
