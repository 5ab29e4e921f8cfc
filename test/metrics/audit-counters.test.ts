/**
 * `bastion_audit_records_total` and `bastion_audit_fsyncs_total` on a real gateway: audit with
 * `fsync: always`, real HTTP requests, a real scrape of the metrics listener.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCleanup, startGateway, tempDir } from '../helpers/gateway.js';
import {
  copyDemoModels,
  keyedAudit,
  metricsPortOf,
  parseScrape,
  readAudit,
  sumOf,
} from '../helpers/observe.js';

const irisBody = {
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
};

test('the audit counters count every durable record and the fsyncs that covered them', async (t) => {
  const cleanup = createCleanup();
  t.after(() => cleanup.run());
  const dir = await tempDir(cleanup);
  const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
  const path = join(dir, 'audit.log');
  const keyed = await keyedAudit(dir, path);
  const gw = await startGateway(
    cleanup,
    repo,
    `${keyed.yaml}  fsync: always\nmetrics:\n  host: 127.0.0.1\n  port: 0\n`,
  );
  const scrape = async (): Promise<{ records: number; fsyncs: number }> => {
    const res = await fetch(`http://127.0.0.1:${metricsPortOf(gw)}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^# TYPE bastion_audit_records_total counter$/m);
    assert.match(text, /^# TYPE bastion_audit_fsyncs_total counter$/m);
    const samples = parseScrape(text);
    return {
      records: sumOf(samples, 'bastion_audit_records_total'),
      fsyncs: sumOf(samples, 'bastion_audit_fsyncs_total'),
    };
  };

  const audit = gw.gateway.audit;
  assert.ok(audit);
  await audit.flush(); // the start-up records (model.load, server.start) are queued unawaited
  const before = await scrape();
  assert.equal(before.records, (await readAudit(path)).length);
  assert.ok(before.records >= 1, 'server.start is recorded');

  const sequential = 3;
  for (let i = 0; i < sequential; i++) {
    assert.equal((await gw.post('/v2/models/iris/infer', irisBody)).status, 200);
  }
  const concurrent = 12;
  const answers = await Promise.all(
    Array.from({ length: concurrent }, () => gw.post('/v2/models/iris/infer', irisBody)),
  );
  assert.deepEqual(
    answers.map((a) => a.status),
    Array.from({ length: concurrent }, () => 200),
  );

  const after = await scrape();
  // Every 200 had its record durable before it left, so each is counted by now.
  assert.equal(after.records - before.records, sequential + concurrent);
  assert.equal(after.records, (await readAudit(path)).length);
  assert.equal(after.records, audit.stats().records);
  assert.equal(after.fsyncs, audit.stats().syncs);
  // fsync: always — each sequential request needed its own fsync; none is skipped, none wasted.
  assert.ok(
    after.fsyncs - before.fsyncs >= sequential,
    `fsyncs ${before.fsyncs} → ${after.fsyncs}`,
  );
  assert.ok(after.fsyncs >= 1 && after.fsyncs <= after.records, JSON.stringify(after));
});

test('without an audit log both counters are exported as 0', async (t) => {
  const cleanup = createCleanup();
  t.after(() => cleanup.run());
  const dir = await tempDir(cleanup);
  const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
  const gw = await startGateway(cleanup, repo, 'metrics:\n  host: 127.0.0.1\n  port: 0\n');
  assert.equal((await gw.post('/v2/models/iris/infer', irisBody)).status, 200);
  const res = await fetch(`http://127.0.0.1:${metricsPortOf(gw)}/metrics`);
  const samples = parseScrape(await res.text());
  assert.equal(samples.filter((s) => s.name === 'bastion_audit_records_total').length, 1);
  assert.equal(sumOf(samples, 'bastion_audit_records_total'), 0);
  assert.equal(sumOf(samples, 'bastion_audit_fsyncs_total'), 0);
});
