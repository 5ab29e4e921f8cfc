/** The audit and metrics plugin, and response compression after it, on their own. */
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import type { AuditEntry } from '../../../src/audit/audit-record.js';
import { createMetrics } from '../../../src/metrics/metrics.js';
import { type AuditSink, observePlugin } from '../../../src/http/observe-hooks.js';
import { responseCompressionPlugin } from '../../../src/http/response-compression.js';
import type { Cleanup } from './plugin-app.js';
import { assertError, assertInternalError, leakyFault, pluginApp } from './plugin-app.js';

/** An audit sink that keeps the entries, or fails every append when `failing`. */
function memorySink(failing = false): AuditSink & { entries: AuditEntry[] } {
  const entries: AuditEntry[] = [];
  return {
    entries,
    append(entry) {
      if (failing) return Promise.reject(new Error('disk full'));
      entries.push(entry);
      return Promise.resolve(entry);
    },
  };
}

async function observed(t: Cleanup, sink: AuditSink, failClosed = false) {
  const metrics = createMetrics({ defaultMetrics: false, knownModels: ['iris'] });
  const failures: unknown[] = [];
  const built = await pluginApp(t, async (app) => {
    await app.register(observePlugin, {
      audit: sink,
      failClosed,
      metrics,
      onAuditFailure: (error) => failures.push(error),
    });
    await app.register(responseCompressionPlugin);
    const audited = { policy: { access: 'infer', audit: true } } as const;
    app.get('/m/:model', { config: audited }, (request) => {
      request.bastionTarget = { model: 'iris', version: 2 };
      return { big: 'x'.repeat(4096) };
    });
    app.get('/fault/:model', { config: audited }, () => {
      throw leakyFault();
    });
    app.get('/quiet', { config: { policy: { access: 'token', audit: false } } }, () => 'ok');
  });
  return { ...built, metrics, failures };
}

void describe('observe plugin', () => {
  void it('writes one audit record per audited request, every field from the request', async (t) => {
    const sink = memorySink();
    const { app, metrics } = await observed(t, sink);
    const res = await app.inject({ url: '/m/iris', headers: { 'x-request-id': 'req-1' } });
    assert.equal(res.statusCode, 200);
    await app.inject('/quiet');
    assert.equal(sink.entries.length, 1, 'unaudited routes write nothing');
    const [entry] = sink.entries;
    assert.equal(entry?.event, 'request');
    assert.equal(entry.outcome, 'allowed');
    assert.equal(entry.requestId, 'req-1');
    assert.equal(entry.method, 'GET');
    assert.equal(entry.path, '/m/iris');
    assert.equal(entry.model, 'iris');
    assert.equal(entry.version, 2);
    assert.equal(entry.status, 200);
    assert.equal(entry.sub, undefined, 'no principal, no sub');
    const text = await metrics.registry.metrics();
    assert.match(text, /bastion_requests_total\{model="iris",version="2",status="200"\} 1/);
  });

  void it('a handler that throws: the contract 500, audited as an error with its code', async (t) => {
    const sink = memorySink();
    const { app, log } = await observed(t, sink);
    assertInternalError(await app.inject('/fault/iris'), log);
    assert.equal(sink.entries[0]?.outcome, 'error');
    assert.equal(sink.entries[0].status, 500);
    assert.equal(sink.entries[0].reason, 'INTERNAL');
  });

  void it('fail-closed: an answer whose record cannot be written becomes a 503', async (t) => {
    const { app, failures } = await observed(t, memorySink(true), true);
    const res = await app.inject({ url: '/m/iris', headers: { 'accept-encoding': 'gzip' } });
    assertError(res, 503, 'AUDIT_UNAVAILABLE');
    assert.equal(res.headers['retry-after'], '5');
    assert.equal(res.headers['content-encoding'], undefined, 'the refusal is not compressed');
    assert.equal(failures.length, 1);
  });

  void it('fail-open: the answer goes out without its record', async (t) => {
    const { app, failures } = await observed(t, memorySink(true), false);
    assert.equal((await app.inject('/m/iris')).statusCode, 200);
    assert.equal(failures.length, 1);
  });

  void it('compression: a large answer is gzipped when asked for, after its record', async (t) => {
    const sink = memorySink();
    const { app } = await observed(t, sink);
    const res = await app.inject({ url: '/m/iris', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.deepEqual(JSON.parse(gunzipSync(res.rawPayload).toString('utf8')), {
      big: 'x'.repeat(4096),
    });
    assert.equal(sink.entries.length, 1);
  });
});
