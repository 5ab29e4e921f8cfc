/**
 * Requests as the official v2 clients send them (read from tritonclient's http `_client.py` and
 * KServe's `inference_client.py`): no Content-Type on infer and load, a top-level `model_name`,
 * `GET /v2/`, compressed bodies both ways; and the edge's own limits on them (large JSON bodies
 * parsed off the event loop, the JSON output cap, rate-limit headers on 403 that name no model).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import {
  createCleanup,
  demoPublisherKey,
  startGateway,
  tempDir,
  type TestGateway,
} from '../helpers/gateway.js';
import { readAudit } from '../helpers/observe.js';

const root = resolve(import.meta.dirname, '../..');
const irisRow = [6.7, 3.0, 5.2, 2.3];
const irisBody = (rows: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...extra,
  inputs: [
    {
      name: 'features',
      shape: [rows, 4],
      datatype: 'FP32',
      data: Array.from({ length: rows }, () => irisRow).flat(),
    },
  ],
  outputs: [{ name: 'label' }],
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}
/** One request with exactly these headers (fetch would add a Content-Type and Accept-Encoding). */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', fail);
    req.end(body);
  });
}
const json = (a: Answer): Record<string, unknown> =>
  JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;

void describe('official client request shapes', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let auth: Record<string, string>;
  let auditPath: string;
  after(() => cleanup.run());
  before(async () => {
    const dir = await tempDir(cleanup);
    // iris without its config.yaml (no element limit of its own) and a rate-limited copy.
    await cp(join(root, 'models/iris/1'), join(dir, 'models/iris/1'), { recursive: true });
    await cp(join(root, 'models/iris/1'), join(dir, 'models/limited/1'), { recursive: true });
    await writeFile(join(dir, 'models/limited/config.yaml'), 'requestsPerMinute: 7\n');
    auditPath = join(dir, 'audit.log');
    gw = await startGateway(
      cleanup,
      join(dir, 'models'),
      `models:\n  repository: ${JSON.stringify(join(dir, 'models'))}\n  allowUnsigned: true\n  trustedKeys: [${JSON.stringify(demoPublisherKey)}]\naudit:\n  path: ${JSON.stringify(auditPath)}\nlimits:\n  maxJsonOutputElements: 20000\n`,
    );
    auth = { authorization: `Bearer ${await gw.token()}` };
  });
  const url = (path: string): string => `${gw.url}${path}`;

  void it('tritonclient: JSON infer without Content-Type', async () => {
    const res = await send(
      url('/v2/models/iris/infer'),
      'POST',
      auth,
      Buffer.from(JSON.stringify(irisBody(1))),
    );
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual((json(res).outputs as { data: number[] }[])[0]?.data, [2]);
  });

  void it('tritonclient: binary infer without Content-Type', async () => {
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          {
            name: 'features',
            shape: [1, 4],
            datatype: 'FP32',
            parameters: { binary_data_size: 16 },
          },
        ],
        outputs: [{ name: 'label', parameters: { binary_data: false } }],
      }),
    );
    const res = await send(
      url('/v2/models/iris/infer'),
      'POST',
      { ...auth, 'inference-header-content-length': String(header.length) },
      Buffer.concat([header, Buffer.from(new Float32Array(irisRow).buffer)]),
    );
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual((json(res).outputs as { data: number[] }[])[0]?.data, [2]);
  });

  void it('tritonclient: load_model without Content-Type', async () => {
    const res = await send(url('/v2/repository/models/iris/load'), 'POST', auth, Buffer.from('{}'));
    assert.equal(res.status, 200, res.body.toString());
  });

  for (const [what, extra, status] of [
    ['model_name equal to the path', { model_name: 'iris' }, 200],
    ['model_name and model_version equal', { model_name: 'iris', model_version: '1' }, 200],
    ['another model_name', { model_name: 'limited' }, 400],
    ['another model_version', { model_name: 'iris', model_version: '2' }, 400],
    ['a numeric model_version', { model_version: 1 }, 400],
  ] as const) {
    for (const rows of [1, 6000]) {
      void it(`KServe: ${what} (${rows === 1 ? 'small body' : 'large body, parsed on a worker'})`, async () => {
        const res = await gw.post('/v2/models/iris/infer', irisBody(rows, extra));
        assert.equal(res.status, status, JSON.stringify(res.body));
        if (rows > 1) assert.ok(JSON.stringify(irisBody(rows, extra)).length > 64 * 1024);
        if (status === 400) assert.equal((res.body as { code: string }).code, 'INVALID_REQUEST');
        else
          assert.equal(
            (res.body as { outputs: { data: number[] }[] }).outputs[0]?.data.length,
            rows,
          );
      });
    }
  }

  void it('a large body parsed on a worker is audited with the digest of its bytes', async () => {
    const text = JSON.stringify(irisBody(6000));
    assert.ok(text.length > 64 * 1024);
    const res = await gw.post('/v2/models/iris/infer', text);
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 50));
    const last = (await readAudit(auditPath)).filter((r) => r.event === 'request').at(-1);
    assert.equal(last?.inputSha256, createHash('sha256').update(text).digest('hex'));
  });

  void it('KServe: every error answer is exactly application/json, so its client shows the message', async () => {
    // InferenceRESTClient._construct_http_status_error reads the body's "error" only when
    // response.headers["content-type"] == "application/json".
    const refusals = [
      await send(url('/v2/models/iris/infer'), 'POST', auth, Buffer.from('{"inputs": []}')),
      await send(url('/v2/models/iris/infer'), 'POST', {}, Buffer.from('{}')),
      await send(url('/v2/models/nope/ready'), 'GET', auth),
      await send(url('/v2/nothing-here'), 'GET', auth),
      await send(url('/v2/models/%ZZ/infer'), 'POST', auth, Buffer.from('{}')),
      await send(url('/v2/models/iris/infer'), 'POST', { ...auth, 'content-encoding': 'br' }),
    ];
    for (const res of refusals) {
      assert.ok(res.status >= 400, String(res.status));
      assert.equal(res.headers['content-type'], 'application/json', String(res.status));
      assert.equal(typeof json(res).error, 'string');
    }
  });

  void it('GET /v2/ is /v2', async () => {
    const [a, b] = await Promise.all([gw.get('/v2'), gw.get('/v2/')]);
    assert.equal(b.status, 200);
    assert.deepEqual(b.body, a.body);
  });

  for (const [encoding, pack] of [
    ['gzip', gzipSync],
    ['deflate', deflateSync],
  ] as const) {
    void it(`Content-Encoding: ${encoding} is decoded`, async () => {
      const body = pack(Buffer.from(JSON.stringify(irisBody(2))));
      const res = await send(
        url('/v2/models/iris/infer'),
        'POST',
        { ...auth, 'content-type': 'application/json', 'content-encoding': encoding },
        body,
      );
      assert.equal(res.status, 200, res.body.toString());
    });
  }

  void it('a corrupt gzip body is 400, a gzip bomb 413 before it is inflated', async () => {
    const corrupt = await send(
      url('/v2/models/iris/infer'),
      'POST',
      { ...auth, 'content-encoding': 'gzip' },
      Buffer.from('not gzip at all'),
    );
    assert.equal(corrupt.status, 400);
    const bomb = gzipSync(Buffer.alloc(256 * 1024 * 1024));
    const started = performance.now();
    const res = await send(
      url('/v2/models/iris/infer'),
      'POST',
      { ...auth, 'content-encoding': 'gzip' },
      bomb,
    );
    assert.equal(res.status, 413);
    assert.equal(json(res).code, 'BODY_TOO_LARGE');
    assert.ok(performance.now() - started < 5000);
  });

  void it('large answers are compressed when the client accepts it, small ones are not', async () => {
    const big = await send(
      url('/v2/models/iris/infer'),
      'POST',
      { ...auth, 'accept-encoding': 'gzip' },
      Buffer.from(JSON.stringify(irisBody(1000))),
    );
    assert.equal(big.status, 200);
    assert.equal(big.headers['content-encoding'], 'gzip');
    const decoded = JSON.parse(gunzipSync(big.body).toString('utf8')) as {
      outputs: { data: number[] }[];
    };
    assert.equal(decoded.outputs[0]?.data.length, 1000);
    const small = await send(
      url('/v2/models/iris/infer'),
      'POST',
      { ...auth, 'accept-encoding': 'gzip' },
      Buffer.from(JSON.stringify(irisBody(1))),
    );
    assert.equal(small.headers['content-encoding'], undefined);
  });

  void it('413 OUTPUT_TOO_LARGE past limits.maxJsonOutputElements; binary outputs are not capped', async () => {
    const body = irisBody(6000);
    delete body.outputs;
    const res = await gw.post('/v2/models/iris/infer', body);
    assert.equal(res.status, 413);
    assert.equal((res.body as { code: string }).code, 'OUTPUT_TOO_LARGE');
    const binary = await send(
      url('/v2/models/iris/infer'),
      'POST',
      auth,
      Buffer.from(JSON.stringify({ ...body, parameters: { binary_data_output: true } })),
    );
    assert.equal(binary.status, 200);
    assert.equal(binary.headers['content-type'], 'application/octet-stream');
  });

  void it('a 403 carries the same rate-limit headers whether the model exists or has its own limit', async () => {
    const token = `Bearer ${await gw.token(['infer:other'], 'outsider')}`;
    const answers: Answer[] = [];
    for (const model of ['limited', 'no-such-model', 'iris']) {
      answers.push(
        await send(
          url(`/v2/models/${model}/infer`),
          'POST',
          { authorization: token },
          Buffer.from('{}'),
        ),
      );
    }
    for (const a of answers) assert.equal(a.status, 403);
    const limits = answers.map((a) => a.headers['x-ratelimit-limit']);
    assert.equal(new Set(limits).size, 1, `x-ratelimit-limit: ${limits.join(', ')}`);
    assert.deepEqual(
      answers.map((a) => a.body.toString()),
      answers.map(() => (answers[0] as Answer).body.toString()),
    );
  });
});
