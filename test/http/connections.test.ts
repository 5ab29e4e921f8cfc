/**
 * Connections from one client address are capped (`server.maxConnectionsPerIp`) and a request
 * head that does not arrive within `server.headersTimeoutMs` is answered 408 and closed close to
 * that time (Node alone checks only every 30 s). A slowloris from one address leaves health
 * answering for everyone else. Real sockets on loopback: 127.0.0.1 attacks, 127.0.0.2 probes.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEdgeGateway } from '../helpers/edge-gateway.js';
import { createCleanup } from '../helpers/gateway.js';
import { parseResponses } from '../helpers/raw-http.js';

const perIp = 20;
const headersTimeoutMs = 1000;

/** GET /v2/health/live from another loopback address; resolves with the status. */
function healthFrom(port: number, localAddress: string): Promise<number> {
  return new Promise((done, fail) => {
    request(
      { host: '127.0.0.1', port, path: '/v2/health/live', localAddress, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => {
          done(res.statusCode ?? 0);
        });
      },
    )
      .on('error', fail)
      .end();
  });
}

interface Slow {
  readonly socket: Socket;
  closedAfterMs: number | undefined;
  received: Buffer;
}

/** Opens a connection that sends half a request head and never finishes it. */
function slowloris(port: number): Promise<Slow> {
  return new Promise((done) => {
    const started = performance.now();
    const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    const slow: Slow = { socket, closedAfterMs: undefined, received: Buffer.alloc(0) };
    socket.on('data', (chunk: Buffer) => (slow.received = Buffer.concat([slow.received, chunk])));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      slow.closedAfterMs = performance.now() - started;
      done(slow);
    });
    socket.on('connect', () => {
      socket.write('GET /v2/health/live HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ');
      done(slow);
    });
  });
}

void describe('connection limits', () => {
  const cleanup = createCleanup();
  let port = 0;
  after(() => cleanup.run());
  before(async () => {
    const gw = await startEdgeGateway(cleanup, {
      repo: join(import.meta.dirname, '../../models'),
      config: { server: { maxConnectionsPerIp: perIp, headersTimeoutMs } },
    });
    port = gw.port;
  });

  void it('a slowloris from one address is capped, timed out on time, and others are served', async () => {
    const slow = await Promise.all(Array.from({ length: 4 * perIp }, () => slowloris(port)));
    for (let i = 0; i < 5; i++) assert.equal(await healthFrom(port, '127.0.0.2'), 200);
    await new Promise((r) => setTimeout(r, headersTimeoutMs * 2.5));
    // Refused at once: closed long before any timeout could have fired.
    const refused = slow.filter((s) => (s.closedAfterMs ?? Infinity) < headersTimeoutMs / 2);
    assert.ok(
      refused.length >= 3 * perIp - 2,
      `${refused.length} connections over the cap closed at once`,
    );
    const held = slow.filter((s) => !refused.includes(s));
    assert.ok(held.length <= perIp);
    for (const s of held) {
      assert.ok(s.closedAfterMs !== undefined, 'the slow socket was closed');
      assert.ok(
        s.closedAfterMs >= headersTimeoutMs * 0.9 && s.closedAfterMs < headersTimeoutMs * 2.5,
        `closed after ${s.closedAfterMs.toFixed(0)} ms`,
      );
      const [answer] = parseResponses(s.received);
      assert.equal(answer?.status, 408);
      assert.equal((JSON.parse(answer.text) as { code: string }).code, 'REQUEST_TIMEOUT');
      assert.ok(answer.headers['x-request-id']);
    }
    // The address is free again once its sockets are gone.
    assert.equal(await healthFrom(port, '127.0.0.1'), 200);
  });
});
