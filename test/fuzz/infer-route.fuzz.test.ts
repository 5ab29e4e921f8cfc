/**
 * Property-based fuzzing of the infer route over a real loopback socket, on the real demo models
 * and real ONNX Runtime: valid requests mutated at random, random JSON, random raw bytes, random
 * content types and binary-extension headers. No answer is a 5xx, every error is in the
 * contract's shape with a stable code, and the gateway keeps serving with bounded memory.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { v2Datatypes } from '../../src/inference/datatypes.js';
import { createCleanup, startGateway, type TestGateway } from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';
import { fuzzRuns, fuzzSeed } from './fuzz-settings.js';

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/** One HTTP request with exactly the given headers (fetch would add a content type). */
function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A valid v2 input for each demo model, as a base to mutate. */
const validInputs: Record<string, unknown[]> = {
  iris: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
  mlp: [
    {
      name: 'input',
      shape: [1, 64],
      datatype: 'FP32',
      data: Array.from({ length: 64 }, (_, i) => i / 64),
    },
  ],
  'tensor-types': [
    { name: 'ints', shape: [1, 3], datatype: 'INT32', data: [1, 2, 3] },
    { name: 'longs', shape: [1, 3], datatype: 'INT64', data: [1, '2', 3] },
    { name: 'flags', shape: [1, 3], datatype: 'BOOL', data: [true, false, true] },
    { name: 'bytes', shape: [1, 3], datatype: 'UINT8', data: [0, 127, 255] },
    { name: 'scale', shape: [], datatype: 'FP32', data: [1.5] },
  ],
};

const datatypes = [...v2Datatypes, 'BF16', 'fp32', ''];

const element = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.boolean(),
  fc.string(),
  fc.constantFrom(null, 'NaN', 'Infinity', '-0', '1e999', 1e308, -0, 2 ** 53, 2 ** 64),
);

const data = fc.oneof(
  fc.array(element, { maxLength: 20 }),
  fc.array(fc.array(element, { maxLength: 6 }), { maxLength: 6 }),
  fc.jsonValue({ maxDepth: 4 }),
);

const shape = fc.oneof(
  fc.array(fc.integer({ min: -2, max: 8 }), { maxLength: 4 }),
  fc.array(fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(2 ** 40)), {
    maxLength: 20,
  }),
  fc.jsonValue({ maxDepth: 2 }),
);

/** A mutation of one input object. */
const mutateInput = (input: Record<string, unknown>) =>
  fc.oneof(
    fc.record({ shape }).map((m) => ({ ...input, ...m })),
    fc.record({ datatype: fc.constantFrom(...datatypes) }).map((m) => ({ ...input, ...m })),
    fc.record({ data }).map((m) => ({ ...input, ...m })),
    fc
      .record({ name: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor')) })
      .map((m) => ({ ...input, ...m })),
    fc.record({ parameters: fc.jsonValue({ maxDepth: 3 }) }).map((m) => ({ ...input, ...m })),
    fc
      .tuple(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }))
      .map(([k, v]) => ({ ...input, [k]: v })),
    fc
      .constantFrom('name', 'shape', 'datatype', 'data')
      .map((k) => Object.fromEntries(Object.entries(input).filter(([key]) => key !== k))),
  );

/** A body for `model`: a valid request with one or more mutations, or something else entirely. */
function bodyFor(model: string): fc.Arbitrary<Buffer> {
  const base = (validInputs[model] ?? []) as Record<string, unknown>[];
  const mutatedInputs =
    base.length === 0
      ? fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 })
      : fc
          .tuple(fc.nat({ max: base.length - 1 }), fc.nat())
          .chain(([i]) =>
            mutateInput(base[i] as Record<string, unknown>).map((m) =>
              base.map((b, j) => (j === i ? m : b)),
            ),
          );
  const envelope = fc.record(
    {
      id: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
      parameters: fc.jsonValue({ maxDepth: 3 }),
      outputs: fc.oneof(
        fc.array(fc.record({ name: fc.string() }), { maxLength: 4 }),
        fc.array(fc.record({ name: fc.string(), parameters: fc.jsonValue({ maxDepth: 2 }) }), {
          maxLength: 3,
        }),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      model_name: fc.oneof(fc.constant(model), fc.string()),
      model_version: fc.oneof(fc.constant('1'), fc.string(), fc.integer()),
    },
    { requiredKeys: [] },
  );
  const json = fc
    .tuple(mutatedInputs, envelope)
    .map(([inputs, rest]) => Buffer.from(JSON.stringify({ ...rest, inputs })));
  return fc.oneof(
    { weight: 6, arbitrary: json },
    {
      weight: 1,
      arbitrary: fc.jsonValue({ maxDepth: 5 }).map((v) => Buffer.from(JSON.stringify(v))),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)) },
    {
      weight: 1,
      arbitrary: json.chain((b) =>
        fc.nat({ max: Math.max(0, b.length - 1) }).map((cut) => b.subarray(0, cut)),
      ),
    },
  );
}

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/octet-stream',
  'application/vnd.sagemaker-triton.binary+json',
  'text/plain',
  'multipart/form-data; boundary=x',
  '',
  undefined,
);

void describe('fuzz: the infer route over a real socket', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let token: string;
  after(() => cleanup.run());
  before(async () => {
    gw = await startGateway(cleanup, demoModels, 'audit:\n  enabled: false\n');
    token = await gw.token(['infer:*']);
  });

  void it('never answers 5xx, always in the contract shape, and keeps serving', async (t) => {
    const seed = fuzzSeed(t);
    const rssBefore = process.memoryUsage().rss;
    const codes = new Map<number, number>();
    const models = fc.constantFrom('iris', 'mlp', 'tensor-types');
    const cases = models.chain((model) =>
      fc.record({
        model: fc.constant(model),
        body: bodyFor(model),
        contentType: contentTypes,
        headerLength: fc.option(
          fc.oneof(fc.nat({ max: 600 }).map(String), fc.string({ maxLength: 8 })),
          { freq: 4 },
        ),
        versioned: fc.boolean(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const headers: Record<string, string> = { authorization: `Bearer ${token}` };
        if (c.contentType !== undefined) headers['content-type'] = c.contentType;
        if (c.headerLength !== null) headers['inference-header-content-length'] = c.headerLength;
        const path = `/v2/models/${c.model}${c.versioned ? '/versions/1' : ''}/infer`;
        const res = await send(gw.url, 'POST', path, headers, c.body);
        codes.set(res.status, (codes.get(res.status) ?? 0) + 1);
        assert.ok(res.status < 500, `${res.status} ${res.text.slice(0, 300)}`);
        assert.ok(typeof res.headers['x-request-id'] === 'string', 'x-request-id on every answer');
        if (res.status >= 400) {
          const parsed = JSON.parse(res.text) as { error?: unknown; code?: unknown };
          assert.equal(typeof parsed.error, 'string');
          assert.match(String(parsed.code), /^[A-Z][A-Z0-9_]+$/);
          assert.doesNotMatch(res.text, /\n\s+at |\/work\/|node_modules/);
        }
      }),
      { seed, numRuns: fuzzRuns(400), endOnFailure: true },
    );
    t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(codes))}`);
    // Still serving, and memory did not run away.
    const live = await send(gw.url, 'GET', '/v2/health/live', {}, undefined);
    assert.equal(live.status, 200);
    const ok = await gw.post(
      '/v2/models/iris/infer',
      { inputs: validInputs.iris },
      { authorization: `Bearer ${token}` },
    );
    assert.equal(ok.status, 200);
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 256 * 1024 * 1024, `RSS grew by ${grown} bytes`);
  });

  void it('random methods and paths never answer 5xx and never echo the path', async (t) => {
    const seed = fuzzSeed(t);
    const segment = fc.oneof(
      fc.constantFrom('v2', 'models', 'iris', 'versions', '1', 'infer', 'ready', 'repository'),
      fc.constantFrom('index', 'load', 'unload', 'stats', 'config', 'health', 'live', '..', '.'),
      fc.constantFrom('%ZZ', '%00', '%2e%2e', 'a'.repeat(300), '', '~', '%E2%82'),
      fc.stringMatching(/^[A-Za-z0-9._~-]{0,12}$/),
    );
    const cases = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      segments: fc.array(segment, { minLength: 1, maxLength: 7 }),
      authorized: fc.boolean(),
      query: fc.option(fc.stringMatching(/^[a-z=&%0-9]{0,16}$/)),
    });
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const path = `/${c.segments.join('/')}${c.query === null ? '' : `?${c.query}`}`;
        const headers: Record<string, string> = c.authorized
          ? { authorization: `Bearer ${token}` }
          : {};
        const body = c.method === 'POST' || c.method === 'PUT' ? Buffer.from('{}') : undefined;
        if (body !== undefined) headers['content-type'] = 'application/json';
        const res = await send(gw.url, c.method, path, headers, body);
        assert.ok(res.status < 500, `${c.method} ${path}: ${res.status} ${res.text.slice(0, 200)}`);
        assert.ok(typeof res.headers['x-request-id'] === 'string', `${c.method} ${path}`);
        if (res.status >= 400 && c.method !== 'HEAD') {
          const parsed = JSON.parse(res.text) as { error?: unknown; code?: unknown };
          assert.equal(typeof parsed.error, 'string', `${c.method} ${path}: ${res.text}`);
          assert.match(String(parsed.code), /^[A-Z][A-Z0-9_]+$/);
          assert.doesNotMatch(res.text, /FST_ERR/);
          if (path.length > 24) assert.ok(!res.text.includes(path), `echoed ${path}`);
        }
      }),
      { seed, numRuns: fuzzRuns(300), endOnFailure: true },
    );
  });
});
