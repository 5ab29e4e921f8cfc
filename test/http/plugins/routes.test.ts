/**
 * The route plugins on their own, over the real registry and inference service of the demo
 * models: health, OpenAPI, server metadata, model metadata/ready/infer, statistics, model
 * configuration and the repository; each with a dependency that throws for the 500 path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BastionError } from '../../../src/errors.js';
import { configRoutesPlugin } from '../../../src/http/config-routes.js';
import { healthRoutesPlugin } from '../../../src/http/health-routes.js';
import { jsonBodyPlugin } from '../../../src/http/json-body.js';
import { createJsonParsePool } from '../../../src/http/json-parse-pool.js';
import { modelRoutesPlugin } from '../../../src/http/model-routes.js';
import { openApiPlugin } from '../../../src/http/openapi.js';
import { repositoryRoutesPlugin } from '../../../src/http/repository-routes.js';
import { serverRoutesPlugin } from '../../../src/http/server-routes.js';
import { statsRoutesPlugin } from '../../../src/http/stats-routes.js';
import type { InferenceService } from '../../../src/serving/inference-service.js';
import {
  createInferenceStats,
  type InferenceStats,
} from '../../../src/inference/inference-stats.js';
import type { ServingRegistry } from '../../../src/serving/serving-registry.js';
import { createCleanup } from '../../helpers/gateway.js';
import {
  assertError,
  assertInternalError,
  type Cleanup,
  demoServing,
  irisRequest,
  leakyFault,
  pluginApp,
} from './plugin-app.js';

const cleanup = createCleanup();
let registry: ServingRegistry;
let inference: InferenceService;
before(async () => {
  ({ registry, inference } = await demoServing(cleanup));
});
after(() => cleanup.run());

/** The registry with `acquire` (what every model route asks first) failing unexpectedly. */
function failingRegistry(): ServingRegistry {
  return {
    ...registry,
    acquire: () => {
      throw leakyFault();
    },
    load: () => Promise.reject(leakyFault()),
    index: () => {
      throw leakyFault();
    },
  };
}

async function modelApp(t: Cleanup, over = registry, service = inference) {
  const parsePool = createJsonParsePool({ threads: 1, maxQueue: 4 });
  t.after(() => parsePool.close());
  return pluginApp(t, async (app) => {
    await app.register(jsonBodyPlugin, { limit: 1024 * 1024 });
    await app.register(modelRoutesPlugin, {
      registry: over,
      inference: service,
      maxJsonOutputElements: 1024,
      jsonHeaderBytes: 1024 * 1024,
      parsePool,
    });
  });
}

void describe('route plugins', () => {
  void it('health: live 200; ready 200 or 503 with Retry-After; a failing check is a 500', async (t) => {
    let ready: boolean | 'broken' = true;
    const { app, log } = await pluginApp(t, (app) =>
      app.register(healthRoutesPlugin, {
        isReady: () => {
          if (ready === 'broken') throw leakyFault();
          return ready;
        },
      }),
    );
    assert.deepEqual((await app.inject('/v2/health/live')).json(), { live: true });
    assert.deepEqual((await app.inject('/v2/health/ready')).json(), { ready: true });
    ready = false;
    const down = await app.inject('/v2/health/ready');
    assert.equal(down.statusCode, 503);
    assert.deepEqual(down.json(), { ready: false });
    assert.equal(down.headers['retry-after'], '5');
    ready = 'broken';
    assertInternalError(await app.inject('/v2/health/ready'), log);
  });

  void it('openapi: the document, built once, names no model', async (t) => {
    const { app } = await pluginApp(t, (app) => app.register(openApiPlugin, { version: '9.9.9' }));
    const res = await app.inject('/openapi.json');
    const doc = res.json<{ openapi: string; info: { version: string }; paths: object }>();
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.info.version, '9.9.9');
    assert.ok('/v2/models/{model}/infer' in doc.paths);
    assert.doesNotMatch(res.body, /iris/);
  });

  void it('server metadata: GET /v2 and /v2/, serialized by its schema', async (t) => {
    const { app } = await pluginApp(t, (app) =>
      app.register(serverRoutesPlugin, { version: '1.2.3' }),
    );
    for (const url of ['/v2', '/v2/']) {
      const body = (await app.inject(url)).json<{
        name: string;
        version: string;
        extensions: string[];
      }>();
      assert.equal(body.name, 'bastion');
      assert.equal(body.version, '1.2.3');
      assert.ok(body.extensions.includes('model_repository'));
    }
  });

  void it('model metadata and ready: answers, and the path schema maps bad names and versions', async (t) => {
    const { app } = await modelApp(t);
    const meta = (await app.inject('/v2/models/iris')).json<{ name: string; platform: string }>();
    assert.equal(meta.name, 'iris');
    assert.equal(meta.platform, 'onnxruntime_onnx');
    assert.deepEqual((await app.inject('/v2/models/iris/ready')).json(), {
      name: 'iris',
      ready: true,
    });
    assertError(await app.inject('/v2/models/Not_A_Name!'), 404, 'MODEL_NOT_FOUND');
    assertError(await app.inject('/v2/models/iris/versions/01'), 400, 'INVALID_VERSION');
    assertError(await app.inject('/v2/models/nosuch/ready'), 404, 'MODEL_NOT_FOUND');
  });

  void it('model ready: a version that is not ready is 503 with the body clients parse', async (t) => {
    const { app } = await modelApp(t, {
      ...registry,
      acquire: () => {
        throw new BastionError('MODEL_NOT_READY', 'model "iris" is loading', { retryAfterSec: 2 });
      },
    });
    const res = await app.inject('/v2/models/iris/ready');
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '2');
    assert.deepEqual(res.json(), {
      name: 'iris',
      ready: false,
      error: 'model "iris" is loading',
      code: 'MODEL_NOT_READY',
    });
  });

  void it('infer: JSON in, JSON out, through the real inference service', async (t) => {
    const { app } = await modelApp(t);
    const res = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      headers: { 'content-type': 'application/json' },
      payload: irisRequest,
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ model_name: string; outputs: { name: string }[] }>();
    assert.equal(body.model_name, 'iris');
    assert.ok(body.outputs.length > 0);
    const wrong = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      headers: { 'content-type': 'application/json' },
      payload: { inputs: [{ ...irisRequest.inputs[0], name: 'nope' }] },
    });
    assertError(wrong, 400, 'UNKNOWN_INPUT');
  });

  void it('model routes: a registry or inference service that throws is the contract 500', async (t) => {
    const broken = await modelApp(t, failingRegistry());
    assertInternalError(await broken.app.inject('/v2/models/iris'), broken.log);
    const failingInference: InferenceService = {
      ...inference,
      infer: () => Promise.reject(leakyFault()),
    };
    const { app, log } = await modelApp(t, registry, failingInference);
    const res = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      headers: { 'content-type': 'application/json' },
      payload: irisRequest,
    });
    assertInternalError(res, log);
  });

  void it('stats: per model and version; statistics that throw are the contract 500', async (t) => {
    const stats = createInferenceStats();
    const statsApp = (s: InferenceStats) =>
      pluginApp(t, (app) => app.register(statsRoutesPlugin, { registry, stats: s }));
    const { app } = await statsApp(stats);
    const res = await app.inject('/v2/models/iris/stats');
    const body = res.json<{ model_stats: { name: string }[] }>();
    assert.deepEqual(
      body.model_stats.map((s) => s.name),
      ['iris'],
    );
    assertError(await app.inject('/v2/models/nosuch/stats'), 404, 'MODEL_NOT_FOUND');
    const broken = await statsApp({
      ...stats,
      snapshot: () => {
        throw leakyFault();
      },
    });
    assertInternalError(await broken.app.inject('/v2/models/iris/stats'), broken.log);
  });

  void it('config: the configuration in force; a registry that throws is the contract 500', async (t) => {
    const { app } = await pluginApp(t, (app) => app.register(configRoutesPlugin, { registry }));
    const config = (await app.inject('/v2/models/iris/config')).json<{
      name: string;
      platform: string;
    }>();
    assert.equal(config.name, 'iris');
    assert.equal(config.platform, 'onnxruntime_onnx');
    const broken = await pluginApp(t, (app) =>
      app.register(configRoutesPlugin, { registry: failingRegistry() }),
    );
    assertInternalError(await broken.app.inject('/v2/models/iris/config'), broken.log);
  });

  void it('repository: index, bad bodies, and a registry that throws is the contract 500', async (t) => {
    const repositoryApp = (over: ServingRegistry) =>
      pluginApp(t, async (app) => {
        await app.register(jsonBodyPlugin, { limit: 1024 });
        await app.register(repositoryRoutesPlugin, { registry: over });
      });
    const { app } = await repositoryApp(registry);
    const post = (url: string, payload: Record<string, unknown>) =>
      app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
    const rows = (await post('/v2/repository/index', { ready: true })).json<{ name: string }[]>();
    assert.deepEqual([...new Set(rows.map((r) => r.name))].sort(), ['iris', 'mlp', 'tensor-types']);
    assertError(await post('/v2/repository/index', { ready: 'yes' }), 400, 'INVALID_REQUEST');
    assertError(await post('/v2/repository/models/Bad!/load', {}), 404, 'MODEL_NOT_FOUND');
    const broken = await repositoryApp(failingRegistry());
    const res = await broken.app.inject({
      method: 'POST',
      url: '/v2/repository/models/iris/load',
      headers: { 'content-type': 'application/json' },
      payload: {},
    });
    assertInternalError(res, broken.log);
  });
});
