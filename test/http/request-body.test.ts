/**
 * The edge's handling of a body it answered before reading (request-body.ts), over real
 * loopback sockets: the rest is dropped without resetting a client that is still sending it, the
 * response hooks run once, and only a body past the limit gets the connection closed.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { BastionError } from '../../src/errors.js';
import { registerRequestBodyHooks } from '../../src/http/request-body.js';
import { parseResponses } from '../helpers/raw-http.js';

const MiB = 1024 * 1024;
const limit = 4 * MiB;

/** An app with the real hooks: an early 401 (as the auth hook answers) and a refused route. */
async function app(): Promise<{ app: FastifyInstance; port: number; responses: () => number }> {
  const server = Fastify();
  registerRequestBodyHooks(server, { bodyBytes: limit });
  let responses = 0;
  server.addHook('onResponse', (_request, _reply, done) => {
    responses += 1;
    done();
  });
  server.post('/token-needed', {
    onRequest: (_request, reply, done) => {
      void reply.code(401).send({ error: 'no token', code: 'UNAUTHENTICATED' });
      done();
    },
    handler: () => ({ ok: true }),
  });
  server.put('/refused', {
    config: { refuse: () => new BastionError('METHOD_NOT_ALLOWED', 'no') },
    handler: () => ({ ok: true }),
  });
  server.get('/ping', () => ({ ok: true }));
  await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    app: server,
    port: (server.server.address() as AddressInfo).port,
    responses: () => responses,
  };
}

/** Node's client with `agent: false` (so `Connection: close`), as the stall test sends. */
function sendClosing(
  port: number,
  method: string,
  path: string,
  body: Buffer,
): Promise<{ status: number; errors: string[] }> {
  return new Promise((done) => {
    const errors: string[] = [];
    let status = -1;
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        status = res.statusCode ?? 0;
        res.resume();
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
    // The socket closes once the whole conversation is over, errors included.
    req.on('close', () => {
      setTimeout(() => {
        done({ status, errors });
      }, 20);
    });
    req.end(body);
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((done, fail) => {
    const socket = connect(port, '127.0.0.1', () => {
      done(socket);
    });
    socket.on('error', fail);
  });
}

void describe('a body answered before it was read', () => {
  let server: Awaited<ReturnType<typeof app>>;
  before(async () => {
    server = await app();
  });
  after(() => server.app.close());

  for (const [method, path, status] of [
    ['POST', '/token-needed', 401],
    ['PUT', '/refused', 405],
    ['POST', '/nope', 404],
  ] as const) {
    void it(`${status}: a client sending Connection: close and a full-size body is never reset`, async () => {
      // Regression (CI flake, status -1): Node destroyed the socket as soon as the answer was
      // flushed, with the unread body in the receive buffer, so the kernel reset the client.
      const body = Buffer.alloc(limit - 16, 0x31);
      for (let i = 0; i < 3; i++) {
        const outcome = await sendClosing(server.port, method, path, body);
        assert.deepEqual(outcome, { status, errors: [] });
      }
    });
  }

  void it('runs the response hooks once, even when no more of the body arrives', async () => {
    // Regression: the hook called `done` for every chunk that arrived after the answer, and never
    // when none did.
    const before = server.responses();
    const socket = await open(server.port);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.write(
      'POST /token-needed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n',
    );
    while (parseResponses(Buffer.concat(received)).length === 0) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.responses() - before, 1, 'once, with none of the body sent');
    for (let i = 0; i < 10; i++) {
      await new Promise<void>((done) =>
        socket.write(Buffer.alloc(100_000, 0x31), () => {
          done();
        }),
      );
    }
    // The body is complete: the keep-alive connection answers its next request.
    socket.write('GET /ping HTTP/1.1\r\nhost: x\r\n\r\n');
    while (parseResponses(Buffer.concat(received)).length < 2) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(
      parseResponses(Buffer.concat(received)).map((a) => a.status),
      [401, 200],
    );
    assert.equal(server.responses() - before, 2, 'once per request');
    socket.destroy();
  });

  void it('past the limit, half-closes after the answer instead of resetting', async () => {
    const socket = await open(server.port);
    const received: Buffer[] = [];
    const state = { ended: false };
    const errors: string[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('end', () => {
      state.ended = true;
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!state.ended) errors.push(error.code ?? '');
    });
    socket.write(
      `POST /token-needed HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${4 * limit}\r\n\r\n`,
    );
    const chunk = Buffer.alloc(256 * 1024, 0x31);
    for (let sent = 0; !state.ended && sent < 4 * limit; sent += chunk.length) {
      // Each write waits to be flushed (at most 200 ms): a server that stopped reading holds the
      // client here, which then only waits for its end of stream.
      await Promise.race([
        new Promise<void>((done) =>
          socket.write(chunk, () => {
            done();
          }),
        ),
        new Promise((r) => setTimeout(r, 200)),
      ]);
    }
    for (let waited = 0; !state.ended && waited < 3000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(state.ended, 'the server closed its side');
    assert.deepEqual(errors, [], 'no reset before the end of stream');
    assert.deepEqual(
      parseResponses(Buffer.concat(received)).map((a) => a.status),
      [401],
    );
    socket.destroy();
  });
});
