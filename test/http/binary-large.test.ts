/**
 * Binary tensor extension bodies over 64 KiB: read as they stream into a buffer of their own,
 * parsed, decoded and checked on a parse worker, and answered in parts. Every answer must be
 * the one a small body gets, over real HTTP, for a plain, a chunked and a gzip-encoded body.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { inlineJsonBytes } from '../../src/http/json-body.js';
import {
  createCleanup,
  startGateway,
  tempDir,
  writeModel,
  type TestGateway,
} from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The JSON body, or a binary answer's JSON header. */
  json: {
    outputs?: { name: string; data?: unknown[]; parameters?: { binary_data_size?: number } }[];
    code?: string;
    error?: string;
  };
  /** Each binary output's bytes, by name. */
  binary: Record<string, Buffer>;
}

/** A binary body: the JSON header padded to `pad` bytes past a multiple of 8, then `parts`. */
function binaryBody(header: object, parts: readonly Uint8Array[], pad = 3) {
  const json = JSON.stringify(header);
  const head = Buffer.from(json.padEnd(json.length + ((pad - (json.length % 8) + 8) % 8), ' '));
  return { body: Buffer.concat([head, ...parts]), headerLength: head.length };
}

function decode(status: number, headers: Answer['headers'], bytes: Buffer): Answer {
  const length = Number(headers['inference-header-content-length'] ?? bytes.length);
  const json = JSON.parse(bytes.subarray(0, length).toString()) as Answer['json'];
  const binary: Record<string, Buffer> = {};
  let at = length;
  for (const output of json.outputs ?? []) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary[output.name] = bytes.subarray(at, at + size);
    at += size;
  }
  assert.equal(at, bytes.length, 'the binary outputs account for the whole answer');
  return { status, headers, json, binary };
}

/** POSTs `body` with node:http: with its length, or chunked, or gzip-encoded and chunked. */
async function post(
  gw: TestGateway,
  path: string,
  body: Buffer,
  headerLength: number,
  how: 'length' | 'chunked' | 'gzip' = 'length',
  extra: Record<string, string> = {},
): Promise<Answer> {
  const url = new URL(gw.url);
  const headers: Record<string, string> = {
    authorization: `Bearer ${await gw.token()}`,
    'content-type': 'application/octet-stream',
    'inference-header-content-length': String(headerLength),
    ...extra,
  };
  if (how === 'length') headers['content-length'] = String(body.length);
  if (how === 'gzip') headers['content-encoding'] = 'gzip';
  const payload = how === 'gzip' ? gzipSync(body) : body;
  return new Promise((done, fail) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: 'POST', path, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const bytes = Buffer.concat(chunks);
          if (res.headers['content-length'] !== undefined) {
            assert.equal(Number(res.headers['content-length']), bytes.length);
          }
          done(decode(res.statusCode ?? 0, res.headers, bytes));
        });
      },
    );
    req.on('error', fail);
    // Written in pieces, so a chunked body really arrives in several chunks.
    for (let at = 0; at < payload.length; at += 50_000)
      req.write(payload.subarray(at, at + 50_000));
    req.end();
  });
}

const input = (name: string, shape: number[], datatype: string, bytes: Uint8Array) => ({
  name,
  shape,
  datatype,
  parameters: { binary_data_size: bytes.length },
});

void describe('binary bodies over 64 KiB (decoded on a parse worker)', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let auditPath: string;
  after(() => cleanup.run());
  before(async () => {
    const dir = await tempDir(cleanup);
    const repo = join(dir, 'models');
    for (const model of ['iris', 'tensor-types']) {
      await cp(join(demoModels, model), join(repo, model), { recursive: true });
    }
    await writeModel(repo, 'id-float64', 1, buildIdentityModel('float64', ['batch', 2]));
    auditPath = join(dir, 'audit.log');
    gw = await startGateway(
      cleanup,
      repo,
      `audit:\n  path: ${JSON.stringify(auditPath)}\nlimits:\n  bodyBytes: 4194304\n  maxJsonOutputElements: 10000\n`,
    );
  });

  const rows = 20_000; // 320 KB of FP64 pairs
  const values = Float64Array.from({ length: rows * 2 }, (_, i) => (i % 7919) * 0.37 - 1000);
  const idHeader = { inputs: [input('x', [rows, 2], 'FP64', new Uint8Array(values.buffer))] };

  for (const how of ['length', 'chunked', 'gzip'] as const) {
    for (const pad of [0, 3]) {
      void it(`FP64 round-trips in binary (${how}, header ending ${pad} past 8)`, async () => {
        const { body, headerLength } = binaryBody(
          { ...idHeader, parameters: { binary_data_output: true } },
          [new Uint8Array(values.buffer)],
          pad,
        );
        assert.ok(body.length > inlineJsonBytes);
        const res = await post(gw, '/v2/models/id-float64/infer', body, headerLength, how);
        assert.equal(res.status, 200, JSON.stringify(res.json));
        assert.ok(res.binary['y']?.equals(Buffer.from(values.buffer)), 'the same bytes back');
      });
    }
  }

  void it('iris answers a large batch as it answers each row alone', async () => {
    const samples = [
      [5.1, 3.5, 1.4, 0.2],
      [6.4, 3.2, 4.5, 1.5],
      [6.7, 3.0, 5.2, 2.3],
    ];
    const n = 6000;
    const features = Float32Array.from(
      { length: n * 4 },
      (_, i) => samples[Math.floor(i / 4) % 3]?.[i % 4] ?? 0,
    );
    const header = {
      inputs: [input('features', [n, 4], 'FP32', new Uint8Array(features.buffer))],
      outputs: [{ name: 'label', parameters: { binary_data: true } }],
    };
    const { body, headerLength } = binaryBody(header, [new Uint8Array(features.buffer)]);
    const res = await post(gw, '/v2/models/iris/infer', body, headerLength);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const labels = res.binary['label'] ?? assert.fail('no label bytes');
    const got = Array.from({ length: n }, (_, i) => Number(labels.readBigInt64LE(i * 8)));
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => i % 3),
    );
  });

  void it('classification strings count against maxJsonOutputElements, binary or not', async () => {
    // Regression: a binary classification of 1M iris rows built 2M strings on the event loop
    // (minutes). Every classified output is built string by string here, so it is capped.
    const classify = (n: number, k: number, binary: boolean) => {
      const features = new Float32Array(n * 4).fill(5);
      const header = {
        inputs: [input('features', [n, 4], 'FP32', new Uint8Array(features.buffer))],
        outputs: [
          { name: 'probabilities', parameters: { classification: k, binary_data: binary } },
        ],
      };
      const { body, headerLength } = binaryBody(header, [new Uint8Array(features.buffer)]);
      return post(gw, '/v2/models/iris/infer', body, headerLength);
    };
    const over = await classify(5001, 2, true);
    assert.equal(over.status, 413, JSON.stringify(over.json));
    assert.equal(over.json.code, 'OUTPUT_TOO_LARGE');
    const [binary, json] = await Promise.all([classify(4000, 2, true), classify(4000, 2, false)]);
    assert.equal(binary.status, 200, JSON.stringify(binary.json));
    assert.equal(json.status, 200, JSON.stringify(json.json));
    const strings: string[] = [];
    const bytes = binary.binary['probabilities'] ?? assert.fail('no binary classification');
    for (let at = 0; at < bytes.length;) {
      const length = bytes.readUInt32LE(at);
      strings.push(bytes.subarray(at + 4, at + 4 + length).toString('utf8'));
      at += 4 + length;
    }
    assert.equal(strings.length, 8000);
    assert.deepEqual(strings, json.json.outputs?.[0]?.data);
  });

  void it('several inputs sharing the body, misaligned by a BOOL one, decode right', async () => {
    const n = 5001; // 3 × 5001 BOOL bytes: the FP32 scalar after them is misaligned
    const longs = new BigInt64Array(n * 3).map((_, i) => BigInt(i) * 1_000_003n - 7n);
    const flags = Uint8Array.from({ length: n * 3 }, (_, i) => (i % 3 === 1 ? 1 : 0));
    const scale = new Uint8Array(Float32Array.from([1.25]).buffer);
    const ints = Array.from({ length: n * 3 }, (_, i) => i - 100);
    const header = {
      inputs: [
        { name: 'ints', shape: [n, 3], datatype: 'INT32', data: ints },
        input('longs', [n, 3], 'INT64', new Uint8Array(longs.buffer)),
        input('flags', [n, 3], 'BOOL', flags),
        { name: 'bytes', shape: [n, 3], datatype: 'UINT8', data: ints.map((v) => v & 0xff) },
        input('scale', [], 'FP32', scale),
      ],
      parameters: { binary_data_output: true },
    };
    const { body, headerLength } = binaryBody(header, [new Uint8Array(longs.buffer), flags, scale]);
    const res = await post(gw, '/v2/models/tensor-types/infer', body, headerLength);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const plusOne = res.binary['longs_plus_one'] ?? assert.fail('no longs_plus_one');
    assert.deepEqual(
      [
        ...new BigInt64Array(
          plusOne.buffer.slice(plusOne.byteOffset, plusOne.byteOffset + plusOne.length),
        ),
      ],
      [...longs].map((v) => v + 1n),
    );
    assert.deepEqual(
      [...(res.binary['flags_not'] ?? [])],
      [...flags].map((f) => 1 - f),
    );
    assert.equal(res.binary['scaled']?.readFloatLE(0), 2.5);
    const doubled = res.binary['ints_doubled'] ?? assert.fail('no ints_doubled');
    assert.equal(doubled.readInt32LE(4 * (n * 3 - 1)), 2 * (n * 3 - 1 - 100));
  });

  void it('400 NON_FINITE_VALUE for a NaN deep in a large body, naming its element', async () => {
    const bad = values.slice();
    bad[rows * 2 - 3] = NaN;
    const { body, headerLength } = binaryBody(idHeader, [new Uint8Array(bad.buffer)]);
    const res = await post(gw, '/v2/models/id-float64/infer', body, headerLength);
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'NON_FINITE_VALUE');
    assert.match(res.json.error ?? '', new RegExp(`element ${rows * 2 - 3}\\b`));
  });

  void it('400 INVALID_BINARY_DATA when the sizes do not add up', async () => {
    const { body, headerLength } = binaryBody(idHeader, [
      new Uint8Array(values.buffer),
      Buffer.alloc(8),
    ]);
    const res = await post(gw, '/v2/models/id-float64/infer', body, headerLength, 'chunked');
    assert.equal(res.status, 400);
    assert.equal(res.json.code, 'INVALID_BINARY_DATA');
  });

  void it('413 past bodyBytes, declared or chunked', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1);
    for (const how of ['length', 'chunked'] as const) {
      const res = await post(gw, '/v2/models/id-float64/infer', huge, 10, how);
      assert.equal(res.status, 413, how);
      assert.equal(res.json.code, 'BODY_TOO_LARGE');
    }
  });

  void it('the audit log records the SHA-256 of the whole body as it was received', async () => {
    const { body, headerLength } = binaryBody(
      { ...idHeader, parameters: { binary_data_output: true } },
      [new Uint8Array(values.buffer)],
    );
    for (const how of ['length', 'gzip'] as const) {
      const id = `large-binary-${how}`;
      const res = await post(gw, '/v2/models/id-float64/infer', body, headerLength, how, {
        'x-request-id': id,
      });
      assert.equal(res.status, 200);
      await new Promise((r) => setTimeout(r, 50));
      const record = (await readFile(auditPath, 'utf8'))
        .split('\n')
        .filter((l) => l.includes(`"${id}"`))
        .map((l) => JSON.parse(l) as { inputSha256?: string })[0];
      // The decoded body's digest for an encoded one, as for JSON bodies.
      assert.equal(record?.inputSha256, createHash('sha256').update(body).digest('hex'), how);
    }
  });
});
