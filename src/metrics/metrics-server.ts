/**
 * The management listener: a bare `node:http` server, apart from the API, serving `GET /metrics`
 * and the health probes `GET /v2/health/live`, `/v2/health/ready`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { type HealthAnswer, liveAnswer, readyAnswer } from './health-answer.js';

/** Options for {@link createMetricsServer}. */
export interface MetricsServerOptions {
  /** Address to bind; the contract's default is 127.0.0.1. */
  readonly host: string;
  /** Port to bind; 0 picks a free one (see the address `listen` returns). */
  readonly port: number;
  /** The registry to expose. */
  readonly registry: Registry;
  /** When set, a scrape must send `Authorization: Bearer <token>` or gets 401. */
  readonly bearerToken?: string;
  /**
   * When set, `/v2/health/live` and `/v2/health/ready` answer here too, without the bearer
   * token: a kubelet probe cannot read a Secret, and the answer is one boolean.
   */
  readonly isReady?: () => boolean;
}

/** The bound address. */
export interface MetricsServerAddress {
  readonly host: string;
  readonly port: number;
}

/** A metrics listener. */
export interface MetricsServer {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<MetricsServerAddress>;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Whether a request carries the bearer token (compared in constant time); always, without one. */
function bearerCheck(token: string | undefined): (req: IncomingMessage) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(token);
  return (req) => {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    // Comparing digests keeps lengths equal, so timingSafeEqual never throws nor leaks length.
    return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), expected);
  };
}

function send(res: ServerResponse, status: number, body: string, headers = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}

/** The probe answer for `path`, when probes are served here and `path` is one. */
function healthAnswerFor(
  path: string | undefined,
  isReady: (() => boolean) | undefined,
): HealthAnswer | undefined {
  if (isReady === undefined) return undefined;
  if (path === '/v2/health/live') return liveAnswer();
  if (path === '/v2/health/ready') return readyAnswer(isReady);
  return undefined;
}

function sendProbe(req: IncomingMessage, res: ServerResponse, probe: HealthAnswer): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
    return;
  }
  const body = JSON.stringify(probe.body);
  res.writeHead(probe.status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...(probe.status === 503 ? { 'retry-after': '5' } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The request handler: probes first (no token), then the token, then `/metrics`. */
function createHandler(
  options: MetricsServerOptions,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { registry } = options;
  const authorized = bearerCheck(options.bearerToken);
  return async (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    const probe = healthAnswerFor(path, options.isReady);
    if (probe !== undefined) {
      sendProbe(req, res, probe);
      return;
    }
    if (!authorized(req)) {
      send(res, 401, 'unauthorized\n', { 'www-authenticate': 'Bearer realm="metrics"' });
      return;
    }
    if (path !== '/metrics') {
      send(res, 404, 'not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
}

/**
 * Creates the management listener. `GET`/`HEAD /metrics` answer the registry's text; with
 * `isReady`, the two health paths answer as on the API listener (no token needed); any other path
 * is 404, another method 405. With a bearer token configured, a request for anything but health
 * without it (compared in constant time) is 401 before anything else.
 */
export function createMetricsServer(options: MetricsServerOptions): MetricsServer {
  const handle = createHandler(options);
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  let closing: Promise<void> | undefined;

  return {
    listen() {
      return new Promise<MetricsServerAddress>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          resolve({ host: address.address, port: address.port });
        });
      });
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close((error) => {
          if (error === undefined) resolve();
          else reject(error);
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
