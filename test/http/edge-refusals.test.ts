/**
 * The edge refuses before it reads: 404, 405, 401, 403, 415 and 429 are answered without the
 * body being parsed (their audit records carry no input digest), a large unread body closes the
 * connection while a small one keeps it, and errors raised by the router or by Node's HTTP
 * parser come in the contract's shape with x-request-id and the security headers. Real gateway,
 * real sockets, real audit file.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { createCleanup, startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { copyDemoModels, readAudit } from '../helpers/observe.js';
import { exchange, type RawAnswer } from '../helpers/raw-http.js';

const MiB = 1024 * 1024;
/** A syntactically valid JSON body of `bytes` bytes: parsing it would take a while. */
function jsonOf(bytes: number): Buffer {
  const body = Buffer.alloc(bytes, '1,');
  body.write('[', 0);
  body.write(body.length % 2 === 0 ? '1]' : ']', body.length - 2);
  return body;
}
const big = jsonOf(16 * MiB);
const small = jsonOf(1024);

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  /** Scopes of the token to send (undefined: no token); each case has its own subject. */
  readonly scopes?: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer;
  readonly status: number;
  readonly code: string;
  /** Whether the answer must be in the audit log (model and repository paths). */
  readonly audited: boolean;
}

const cases: readonly Case[] = [
  {
    name: 'unknown route',
    method: 'POST',
    path: '/nope',
    body: big,
    status: 404,
    code: 'NOT_FOUND',
    audited: false,
  },
  {
    name: 'unknown path under a model',
    method: 'POST',
    path: '/v2/models/iris/nope',
    body: big,
    status: 404,
    code: 'NOT_FOUND',
    audited: true,
  },
  {
    name: 'unknown path under the repository',
    method: 'POST',
    path: '/v2/repository/nope',
    body: big,
    status: 404,
    code: 'NOT_FOUND',
    audited: true,
  },
  {
    name: 'wrong method on infer',
    method: 'PUT',
    path: '/v2/models/iris/infer',
    body: big,
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
    audited: true,
  },
  {
    name: 'wrong method on load',
    method: 'GET',
    path: '/v2/repository/models/iris/load',
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
    audited: true,
  },
  {
    name: 'wrong method on health',
    method: 'POST',
    path: '/v2/health/live',
    body: big,
    status: 405,
    code: 'METHOD_NOT_ALLOWED',
    audited: false,
  },
  {
    name: 'infer without a token',
    method: 'POST',
    path: '/v2/models/iris/infer',
    body: big,
    status: 401,
    code: 'UNAUTHENTICATED',
    audited: true,
  },
  {
    name: 'infer without the scope',
    method: 'POST',
    path: '/v2/models/iris/infer',
    scopes: ['infer:other'],
    body: big,
    status: 403,
    code: 'FORBIDDEN',
    audited: true,
  },
  {
    name: 'unload without models:manage',
    method: 'POST',
    path: '/v2/repository/models/iris/unload',
    scopes: ['infer:*'],
    body: big,
    status: 403,
    code: 'FORBIDDEN',
    audited: true,
  },
  {
    name: 'a brotli body',
    method: 'POST',
    path: '/v2/models/iris/infer',
    scopes: ['infer:*'],
    headers: { 'content-encoding': 'br' },
    body: big,
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    audited: true,
  },
  {
    name: 'a text/plain body',
    method: 'POST',
    path: '/v2/models/iris/infer',
    scopes: ['infer:*'],
    headers: { 'content-type': 'text/plain' },
    body: big,
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    audited: true,
  },
  {
    name: 'a JSON body over limits.jsonBodyBytes',
    method: 'POST',
    path: '/v2/models/iris/infer',
    scopes: ['infer:*'],
    body: big,
    status: 413,
    code: 'BODY_TOO_LARGE',
    audited: true,
  },
  {
    name: 'a bad percent-escape',
    method: 'GET',
    path: '/v2/models/%ZZ',
    status: 400,
    code: 'BAD_REQUEST',
    audited: true,
  },
  {
    name: 'a 300-character model name',
    method: 'POST',
    path: `/v2/models/${'m'.repeat(300)}/infer`,
    body: small,
    status: 404,
    code: 'NOT_FOUND',
    audited: true,
  },
];

function request(c: Case, token: string | undefined, body: Buffer | undefined): Buffer {
  const headers: Record<string, string> = {
    host: '127.0.0.1',
    'content-type': 'application/json',
    ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    ...(body === undefined ? {} : { 'content-length': String(body.length) }),
    ...c.headers,
  };
  const head = `${c.method} ${c.path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body ?? Buffer.alloc(0)]);
}

/** The record's input digest, null when absent (missing or `null`, whichever the log writes). */
function digestOf(record: AuditRecord | undefined): string | null {
  const value = (record as { inputSha256?: string | null } | undefined)?.inputSha256;
  return value ?? null;
}

function assertContractAnswer(answer: RawAnswer | undefined, status: number, code: string): void {
  assert.ok(answer !== undefined, 'an answer came back');
  assert.equal(answer.status, status, answer.text);
  const body = JSON.parse(answer.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error']);
  assert.equal(body.code, code);
  assert.doesNotMatch(answer.text, /FST_ERR|%ZZ|mmmmmmmm|nope/, 'no framework code, no URL echo');
  assert.match(answer.headers['x-request-id'] ?? '', /^[A-Za-z0-9._:-]{1,128}$/);
  assert.equal(answer.headers['x-content-type-options'], 'nosniff');
  assert.match(answer.headers['content-security-policy'] ?? '', /default-src 'none'/);
}

void describe('the edge answers before reading the body', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let auditPath: string;
  after(() => cleanup.run());
  before(async () => {
    const dir = await tempDir(cleanup);
    const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
    auditPath = join(dir, 'audit.log');
    gw = await startGateway(
      cleanup,
      repo,
      `audit:\n  path: ${JSON.stringify(auditPath)}\nlimits:\n  requestsPerMinute: 3\n`,
    );
  });
  const port = (): number => Number(new URL(gw.url).port);
  const records = async (): Promise<AuditRecord[]> => {
    await new Promise((r) => setTimeout(r, 50));
    return (await readAudit(auditPath)).filter((r) => r.event === 'request');
  };

  cases.forEach((c, i) => {
    void it(`${c.status} ${c.code}: ${c.name}`, async () => {
      const states = JSON.stringify(
        gw.gateway.registry.list().map((s) => [s.model, s.version, s.state]),
      );
      const token = c.scopes === undefined ? undefined : await gw.token(c.scopes, `case-${i}`);
      const before = (await records()).length;
      const started = performance.now();
      const { answers } = await exchange(port(), [request(c, token, c.body)]);
      const ms = performance.now() - started;
      assertContractAnswer(answers[0], c.status, c.code);
      const added = (await records()).slice(before);
      if (c.audited) {
        assert.equal(added.length, 1, 'one audit record');
        assert.equal(added[0]?.status, c.status);
        assert.equal(digestOf(added[0]), null, 'the body was never read and hashed');
      } else {
        assert.equal(added.length, 0);
      }
      assert.equal(
        JSON.stringify(gw.gateway.registry.list().map((s) => [s.model, s.version, s.state])),
        states,
        'no model state changed',
      );
      assert.ok(ms < 5000, `${ms.toFixed(0)} ms`);
    });
  });

  void it('429 RATE_LIMITED is answered before a large body is read', async () => {
    const token = await gw.token(['infer:*'], 'limited');
    const c: Case = cases[0] as Case;
    const probe = { ...c, method: 'GET', path: '/v2/models/iris/ready' };
    for (let n = 0; n < 3; n++) await exchange(port(), [request(probe, token, undefined)]);
    const infer = { ...c, method: 'POST', path: '/v2/models/iris/infer' };
    const { answers } = await exchange(port(), [request(infer, token, big)]);
    assertContractAnswer(answers[0], 429, 'RATE_LIMITED');
    assert.ok(Number(answers[0]?.headers['retry-after']) >= 1);
    const last = (await records()).at(-1);
    assert.equal(last?.status, 429);
    assert.equal(digestOf(last), null);
  });

  for (const [what, body] of [
    ['a small', small],
    ['a 16 MiB', big],
  ] as const) {
    void it(`${what} unread body is drained unparsed: the keep-alive connection stays in step`, async () => {
      const health = 'GET /v2/health/live HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n';
      const unknown = cases[0] as Case;
      const { answers } = await exchange(port(), [request(unknown, undefined, body), health], {
        expect: 2,
      });
      assert.deepEqual(
        answers.map((a) => a.status),
        [404, 200],
      );
    });
  }

  void it('a chunked unread body is cut off past limits.bodyBytes', async () => {
    const head =
      'POST /nope HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n';
    const chunk = Buffer.concat([
      Buffer.from(`${MiB.toString(16)}\r\n`),
      Buffer.alloc(MiB, 0x31),
      Buffer.from('\r\n'),
    ]);
    const { answers, closedByServer } = await exchange(
      port(),
      [head, ...Array.from({ length: 20 }, () => chunk)],
      {
        expect: 2,
        timeoutMs: 10_000,
      },
    );
    assert.equal(answers[0]?.status, 404);
    assert.ok(closedByServer, 'closed after bodyBytes of an endless body');
  });
});

void describe("Node's HTTP parser errors in the contract shape", () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  after(() => cleanup.run());
  before(async () => {
    gw = await startGateway(cleanup, join(import.meta.dirname, '../../models'));
  });

  const malformed: readonly { name: string; bytes: string; status: number; code: string }[] = [
    {
      name: 'a malformed request line',
      bytes: 'GARBAGE\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'a space in the method',
      bytes: 'G ET / HTTP/1.1\r\nhost: x\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'a header without a colon',
      bytes: 'GET /v2/health/live HTTP/1.1\r\nhost x\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'a control character in a header',
      bytes: 'GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-a: \x01\r\n\r\n',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'two Content-Length headers',
      bytes:
        'POST /v2/models/iris/infer HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'headers over 16 KiB',
      bytes: `GET /v2/health/live HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
      status: 431,
      code: 'HEADERS_TOO_LARGE',
    },
  ];
  for (const m of malformed) {
    void it(`${m.status} ${m.code}: ${m.name}`, async () => {
      const { answers, closedByServer } = await exchange(Number(new URL(gw.url).port), [m.bytes]);
      assertContractAnswer(answers[0], m.status, m.code);
      assert.ok(closedByServer);
      const live = await fetch(`${gw.url}/v2/health/live`);
      assert.equal(live.status, 200);
    });
  }
});
