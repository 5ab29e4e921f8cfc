/**
 * Keeps the operator docs honest: the Prometheus config and alert rules pass promtool, every
 * metric they and the Grafana dashboard name is one Bastion really exports (with labels it really
 * has), and every alert's runbook link lands on a heading of docs/operations.md.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { createMetrics } from '../../src/metrics/metrics.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const promDir = join(root, 'docs/prometheus');
const alertsFile = join(promDir, 'bastion-alerts.yml');
const alertTestsFile = join(promDir, 'bastion-alerts.test.yml');
const configFile = join(promDir, 'prometheus.yml');
const dashboardFile = join(root, 'docs/grafana/bastion-dashboard.json');
const operationsFile = join(root, 'docs/operations.md');

const promtoolMissing =
  spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).status === 0
    ? false
    : 'promtool not installed (Debian/Ubuntu: apt-get install prometheus)';

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

function alertRules(): Rule[] {
  const doc = parseYaml(readFileSync(alertsFile, 'utf8')) as {
    groups: { name: string; rules: Rule[] }[];
  };
  return doc.groups.flatMap((group) => group.rules);
}

interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly datasource?: { type: string; uid: string };
  readonly targets?: { expr?: string; refId: string }[];
}

interface Dashboard {
  readonly __inputs: { name: string; type: string; pluginId: string }[];
  readonly schemaVersion: number;
  readonly title: string;
  readonly uid: string;
  readonly panels: Panel[];
  readonly templating: { list: { name: string; query: { query: string } | string }[] };
}

function dashboard(): Dashboard {
  return JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
}

function dashboardExprs(d: Dashboard): string[] {
  const panelExprs = d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
  const variableQueries = d.templating.list.map((v) =>
    typeof v.query === 'string' ? v.query : v.query.query,
  );
  return [...panelExprs, ...variableQueries];
}

/** Metric families Bastion exports, with their type and the label names seen on their samples. */
async function exportedFamilies(): Promise<Map<string, { type: string; labels: Set<string> }>> {
  const metrics = createMetrics({ knownModels: ['iris'] });
  // Exercise every metric so that labelled ones have samples whose label names can be read.
  metrics.requests.inc({ model: 'iris', version: 1, status: 200 });
  metrics.requestDuration.observe({ model: 'iris', version: 1, status: 200 }, 0.01);
  metrics.inferenceDuration.observe({ model: 'iris', version: 1 }, 0.004);
  metrics.queueWait.observe({ model: 'iris' }, 0.0002);
  metrics.queueDepth.set({ model: 'iris' }, 1);
  metrics.batchSize.observe({ model: 'iris' }, 4);
  metrics.authFailures.inc({ reason: 'expired' });
  metrics.modelLoads.inc({ model: 'iris', version: 1, result: 'refused' });
  metrics.auditWriteFailures.inc();
  metrics.workerRestarts.inc({ model: 'iris' });
  metrics.rateLimited.inc();
  const text = await metrics.registry.metrics();

  const families = new Map<string, { type: string; labels: Set<string> }>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    families.set(match[1] ?? '', { type: match[2] ?? '', labels: new Set() });
  }
  for (const line of text.split('\n')) {
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? /.exec(line);
    if (sample?.[1] === undefined) continue;
    const family = familyOf(sample[1], families);
    if (family === undefined) continue;
    for (const label of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) {
      family.labels.add(label[1] ?? '');
    }
  }
  return families;
}

function familyOf<T extends { type: string }>(
  name: string,
  families: ReadonlyMap<string, T>,
): T | undefined {
  const direct = families.get(name);
  if (direct !== undefined) return direct;
  const base = /^(.*)_(?:bucket|sum|count)$/.exec(name)?.[1];
  const family = base === undefined ? undefined : families.get(base);
  return family !== undefined && (family.type === 'histogram' || family.type === 'summary')
    ? family
    : undefined;
}

/** Labels a matcher may use on any series: Prometheus adds the target's labels. */
const targetLabels = new Set(['job', 'instance', 'service']);

/**
 * Checks every metric named in `exprs` (and, for bastion_*, anywhere in `text`) against the
 * registry, and every label matcher on it against the labels it really has.
 */
function checkMetricNames(
  source: string,
  exprs: readonly string[],
  text: string,
  families: ReadonlyMap<string, { type: string; labels: Set<string> }>,
): void {
  const metricName = /\b(?:bastion|nodejs|process)_[a-z0-9_]*[a-z0-9]\b/g;
  const names = new Set<string>();
  for (const expr of exprs) for (const m of expr.matchAll(metricName)) names.add(m[0]);
  for (const m of text.matchAll(/\bbastion_[a-z0-9_]*[a-z0-9]\b/g)) names.add(m[0]);
  assert.ok(names.size > 0, `${source}: names no metric at all`);
  for (const name of names) {
    assert.ok(familyOf(name, families), `${source}: ${name} is not exported by createMetrics()`);
  }
  for (const expr of exprs) {
    for (const m of expr.matchAll(/\b((?:bastion|nodejs|process)_[a-z0-9_]+)\{([^}]*)\}/g)) {
      const name = m[1] ?? '';
      const family = familyOf(name, families);
      if (family === undefined) continue;
      for (const matcher of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
        const label = matcher[1] ?? '';
        const ok =
          family.labels.has(label) ||
          targetLabels.has(label) ||
          (label === 'le' && name.endsWith('_bucket'));
        assert.ok(ok, `${source}: ${name} has no label "${label}" (in: ${expr.trim()})`);
      }
    }
  }
}

/** GitHub's anchor for a Markdown heading. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

test('promtool accepts the alert rules', { skip: promtoolMissing }, () => {
  const { status, output } = promtool('check', 'rules', alertsFile);
  assert.equal(status, 0, output);
  assert.match(output, /SUCCESS/);
});

test('the alert rules pass their promtool unit tests', { skip: promtoolMissing }, () => {
  const { status, output } = promtool('test', 'rules', alertTestsFile);
  assert.equal(status, 0, output);
});

test('promtool accepts the scrape config', { skip: promtoolMissing }, (t) => {
  const syntax = promtool('check', 'config', '--syntax-only', configFile);
  assert.equal(syntax.status, 0, syntax.output);

  // A full check also loads the rule files and wants the credentials file to exist: run it on a
  // copy whose credentials_file points at a real (throwaway) token file.
  const dir = mkdtempSync(join(tmpdir(), 'bastion-prom-'));
  t.after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const tokenFile = join(dir, 'bastion-metrics.token');
  writeFileSync(tokenFile, 'test-token', { mode: 0o600 });
  const config = readFileSync(configFile, 'utf8');
  assert.match(config, /credentials_file: \S+/, 'the example shows the bearer token file');
  writeFileSync(
    join(dir, 'prometheus.yml'),
    config.replace(/credentials_file: \S+/, `credentials_file: ${tokenFile}`),
  );
  copyFileSync(alertsFile, join(dir, 'bastion-alerts.yml'));
  const full = promtool('check', 'config', join(dir, 'prometheus.yml'));
  assert.equal(full.status, 0, full.output);
  assert.match(full.output, /SUCCESS: \d+ rules found/);
});

test('the scrape config targets the default metrics listener', () => {
  const config = parseYaml(readFileSync(configFile, 'utf8')) as {
    rule_files: string[];
    scrape_configs: {
      job_name: string;
      metrics_path: string;
      authorization?: { credentials_file?: string };
      static_configs: { targets: string[] }[];
    }[];
  };
  assert.deepEqual(config.rule_files, ['bastion-alerts.yml']);
  const job = config.scrape_configs.find((c) => c.job_name === 'bastion');
  assert.ok(job, 'a scrape job named "bastion" (the alert rules select job="bastion")');
  assert.equal(job.metrics_path, '/metrics');
  assert.ok(job.authorization?.credentials_file, 'shows the bearer token file');
  assert.ok(job.static_configs.some((s) => s.targets.includes('127.0.0.1:9464')));
});

test('alert rules name only exported metrics and labels', async () => {
  const families = await exportedFamilies();
  const rules = alertRules();
  checkMetricNames(
    'bastion-alerts.yml',
    rules.map((r) => r.expr),
    readFileSync(alertsFile, 'utf8'),
    families,
  );
});

test('every alert has a severity, a summary, a description and a runbook in operations.md', () => {
  const rules = alertRules();
  const names = rules.map((r) => r.alert);
  assert.equal(new Set(names).size, names.length, 'alert names are unique');
  for (const expected of [
    'BastionAuthFailureSpike',
    'BastionModelRefused',
    'BastionQueueSaturated',
    'BastionAuditWriteFailure',
    'BastionHigh5xxRatio',
    'BastionHighP99Latency',
    'BastionWorkerRestarts',
    'BastionEventLoopLag',
  ]) {
    assert.ok(names.includes(expected), `missing alert ${expected}`);
  }
  const docs = readFileSync(operationsFile, 'utf8');
  const anchors = new Set(
    [...docs.matchAll(/^#{1,6} (.+)$/gm)].map((m) => `docs/operations.md#${anchorOf(m[1] ?? '')}`),
  );
  for (const rule of rules) {
    assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, rule.alert);
    assert.ok((rule.annotations?.summary ?? '').length > 0, `${rule.alert}: summary`);
    assert.ok((rule.annotations?.description ?? '').length > 0, `${rule.alert}: description`);
    const runbook = rule.annotations?.runbook_url ?? '';
    assert.ok(anchors.has(runbook), `${rule.alert}: runbook_url ${runbook} is no heading`);
  }
});

test('the dashboard parses and every panel has a query', () => {
  const d = dashboard();
  assert.equal(d.schemaVersion, 39);
  assert.ok(d.uid.length > 0 && d.title.length > 0);
  assert.ok(
    d.__inputs.some((i) => i.name === 'DS_PROMETHEUS' && i.pluginId === 'prometheus'),
    'a ${DS_PROMETHEUS} datasource input',
  );
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const graphs = d.panels.filter((p) => p.type !== 'row');
  assert.ok(graphs.length >= 10);
  for (const panel of graphs) {
    assert.equal(panel.datasource?.uid, '${DS_PROMETHEUS}', panel.title);
    assert.ok((panel.targets ?? []).length > 0, `${panel.title}: no query`);
    for (const target of panel.targets ?? []) {
      assert.ok((target.expr ?? '').trim().length > 0, `${panel.title}: empty expression`);
    }
  }
  const all = dashboardExprs(d).join('\n');
  for (const needed of [
    'bastion_requests_total',
    'bastion_request_duration_seconds_bucket',
    'bastion_inference_duration_seconds_bucket',
    'bastion_queue_depth',
    'bastion_batch_size',
    'bastion_auth_failures_total',
    'bastion_model_loads_total',
    'bastion_audit_write_failures_total',
    'nodejs_eventloop_lag_p99_seconds',
    'process_resident_memory_bytes',
    'process_cpu_seconds_total',
  ]) {
    assert.ok(all.includes(needed), `no panel shows ${needed}`);
  }
});

test('the dashboard names only exported metrics and labels', async () => {
  const families = await exportedFamilies();
  const d = dashboard();
  checkMetricNames(
    'bastion-dashboard.json',
    dashboardExprs(d),
    readFileSync(dashboardFile, 'utf8'),
    families,
  );
});

test('operations.md names only exported bastion_* metrics', async () => {
  const families = await exportedFamilies();
  checkMetricNames('operations.md', [], readFileSync(operationsFile, 'utf8'), families);
});
