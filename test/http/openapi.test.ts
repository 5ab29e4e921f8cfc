import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { get } from 'node:http';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, inflateSync } from 'node:zlib';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { registeredRoutes } from '../../src/http/openapi.js';
import { createCleanup, startGateway, type TestGateway } from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';

const oipDocument = resolve(
  import.meta.dirname,
  '../../../shared/vectors/oip/open_inference_rest.yaml',
);

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown> };
};

/** `/v2/models/{model}` → `/v2/models/:model` (Fastify's form). */
const fastifyPath = (path: string): string => path.replace(/\{(\w+)\}/g, ':$1');
/** JSON Pointer escaping (RFC 6901). */
const pointer = (...parts: string[]): string =>
  parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

void describe('GET /openapi.json', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let doc: Doc;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  before(async () => {
    gw = await startGateway(cleanup, demoModels);
    const res = await fetch(`${gw.url}/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = (await res.json()) as Doc;
    ajv.addSchema(doc, 'openapi');
  });
  after(() => cleanup.run());

  /** Checks a real response body against the document's 200 schema of an operation. */
  function assertMatches(path: string, method: string, body: unknown): void {
    const ref = `openapi#/${pointer('paths', path, method, 'responses', '200', 'content', 'application/json', 'schema')}`;
    const validate = ajv.compile({ $ref: ref });
    assert.ok(
      validate(body),
      `${method} ${path}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
    );
  }

  function assertError(body: unknown): void {
    const validate = ajv.compile({ $ref: 'openapi#/components/schemas/Error' });
    assert.ok(validate(body), ajv.errorsText(validate.errors));
  }

  void it('needs no token, names no model, and is a valid OpenAPI 3.1 document', async () => {
    assert.equal(doc.openapi, '3.1.0');
    assert.doesNotMatch(JSON.stringify(doc), /iris|tensor-types|"mlp"/);
    const result = await new Validator().validate(structuredClone(doc));
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  });

  void it('is compressed for a client that accepts gzip or deflate, as the v2 routes are', async () => {
    /** The raw answer to `GET /openapi.json` with this Accept-Encoding (fetch would decode it). */
    const raw = (acceptEncoding: string) =>
      new Promise<{ headers: Record<string, unknown>; body: Buffer }>((done, fail) => {
        get(`${gw.url}/openapi.json`, { headers: { 'accept-encoding': acceptEncoding } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            done({ headers: res.headers, body: Buffer.concat(chunks) });
          });
        }).on('error', fail);
      });
    const plain = await raw('identity');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.deepEqual(JSON.parse(plain.body.toString('utf8')), doc);
    for (const [encoding, decode] of [
      ['gzip', gunzipSync],
      ['deflate', inflateSync],
    ] as const) {
      const packed = await raw(encoding);
      assert.equal(packed.headers['content-encoding'], encoding);
      assert.match(String(packed.headers.vary), /accept-encoding/i);
      assert.ok(packed.body.length < plain.body.length / 3, `${encoding}: ${packed.body.length}`);
      assert.deepEqual(decode(packed.body), plain.body);
    }
  });

  void it('documents exactly the routes the app registers', () => {
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${fastifyPath(path)}`),
      ),
    );
    const served = new Set(
      registeredRoutes(gw.gateway.app)
        .filter((r) => !r.methodNotAllowed && (r.method === 'GET' || r.method === 'POST'))
        .map((r) => `${r.method} ${r.url.length > 1 ? r.url.replace(/\/$/, '') : r.url}`),
    );
    assert.deepEqual([...served].sort(), [...documented].sort());
  });

  void it('real responses match their documented schemas', async () => {
    const iris = {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
    };
    assert.equal((await gw.post('/v2/models/iris/infer', iris)).status, 200);
    const checks: [string, string, () => Promise<{ status: number; body: unknown }>][] = [
      ['/v2', 'get', () => gw.get('/v2')],
      ['/v2/models/{model}', 'get', () => gw.get('/v2/models/iris')],
      ['/v2/models/{model}/versions/{version}', 'get', () => gw.get('/v2/models/mlp/versions/1')],
      ['/v2/models/{model}/infer', 'post', () => gw.post('/v2/models/iris/infer', iris)],
      ['/v2/models/stats', 'get', () => gw.get('/v2/models/stats')],
      ['/v2/models/{model}/stats', 'get', () => gw.get('/v2/models/iris/stats')],
      ['/v2/models/{model}/config', 'get', () => gw.get('/v2/models/tensor-types/config')],
      ['/v2/repository/index', 'post', () => gw.post('/v2/repository/index', {})],
    ];
    for (const [path, method, call] of checks) {
      const res = await call();
      assert.equal(res.status, 200, path);
      assertMatches(path, method, res.body);
    }
    const classified = await gw.post('/v2/models/iris/infer', {
      ...iris,
      outputs: [{ name: 'probabilities', parameters: { classification: 2 } }],
    });
    assertMatches('/v2/models/{model}/infer', 'post', classified.body);
    for (const refused of [
      await gw.get('/v2', { authorization: '' }),
      await gw.get('/v2/models/nope'),
      await gw.post('/v2/models/iris/infer', { inputs: [] }),
      await gw.get('/v2/models/iris/stats', {
        authorization: `Bearer ${await gw.token(['infer:mlp'])}`,
      }),
    ]) {
      assert.ok(refused.status >= 400);
      assertError(refused.body);
    }
  });

  void it('the documented infer request schema is the validator: what it refuses, the gateway refuses', async () => {
    const validate = ajv.compile({ $ref: 'openapi#/components/schemas/InferRequest' });
    const bad = [
      {
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
        extra: 1,
      },
      { inputs: [] },
      { inputs: [{ name: 'features', shape: [-1], datatype: 'FP32', data: [] }] },
    ];
    for (const body of bad) {
      assert.equal(validate(body), false, JSON.stringify(body));
      const res = await gw.post('/v2/models/iris/infer', body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
  });

  void it('agrees with the Open Inference Protocol document where they overlap', async (t) => {
    if (!existsSync(oipDocument)) {
      t.skip(`no ${oipDocument} (the shared OIP vectors are not beside this clone)`);
      return;
    }
    const oip = parseYaml(await readFile(oipDocument, 'utf8')) as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { 'x-examples'?: Record<string, unknown> }> };
    };
    // Every OIP route is served (OIP writes {model_name}/{model_version} and `/v2/`).
    const ours = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map(
          (m) => `${m} ${path.replace(/\{model\}/g, '{}').replace(/\{version\}/g, '{}')}`,
        ),
      ),
    );
    for (const [path, ops] of Object.entries(oip.paths)) {
      const normal = path.replace(/\$?\{[^}]+\}/g, '{}').replace(/\/$/, '');
      for (const method of Object.keys(ops).filter((m) => m === 'get' || m === 'post')) {
        assert.ok(ours.has(`${method} ${normal}`), `${method} ${path} is not served`);
      }
    }
    // OIP's own example infer request is valid against Bastion's request schema.
    const validate = ajv.compile({ $ref: 'openapi#/components/schemas/InferRequest' });
    const example = oip.components.schemas['inference_request']?.['x-examples']?.['Example 1'];
    assert.ok(example !== undefined);
    assert.ok(validate(example), ajv.errorsText(validate.errors));
    // Bastion's real metadata answers are valid against OIP's schemas too.
    const oipAjv = new Ajv2020({ strict: false });
    oipAjv.addSchema({ ...oip, openapi: undefined }, 'oip');
    const server = oipAjv.compile({ $ref: 'oip#/components/schemas/metadata_server_response' });
    assert.ok(server((await gw.get('/v2')).body));
    const model = oipAjv.compile({ $ref: 'oip#/components/schemas/metadata_model_response' });
    assert.ok(model((await gw.get('/v2/models/iris')).body));
  });
});
