/**
 * Test helpers for the edge (auth, rate limits, TLS): a real gateway started from a config built
 * section by section (so `server:` or a dev-issuer-less `auth:` can be set), HTTP(S) requests
 * with client certificates, and a check for external binaries.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfigText } from '../../src/config/load-config.js';
import { createLogger } from '../../src/logger.js';
import { createGateway, type Gateway } from '../../src/server.js';
import { demoPublisherKey, memoryLog } from './gateway.js';

type Cleanup = { after: (fn: () => Promise<void>) => void };

/** Options of {@link startEdgeGateway}. */
export interface EdgeGatewayOptions {
  /** The model repository. */
  readonly repo: string;
  /**
   * Top-level config sections, each merged one level deep over a loopback test config
   * (dev issuer on, metrics and audit off, unsigned models allowed).
   */
  readonly config?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** The state folder (the dev issuer's key pair); two gateways sharing it share the issuer. */
  readonly stateDir?: string;
}

/** A gateway listening on an ephemeral loopback port. */
export interface EdgeGateway {
  readonly gateway: Gateway;
  readonly port: number;
  /** `http://127.0.0.1:PORT` (or `https://` with `server.tls`). */
  readonly origin: string;
  readonly log: Record<string, unknown>[];
  /** A token from the gateway's dev issuer (default scopes: `infer:* models:manage`). */
  token(scopes?: readonly string[], sub?: string): Promise<string>;
}

/** Starts a real gateway; closed when the test ends. */
export async function startEdgeGateway(
  t: Cleanup,
  options: EdgeGatewayOptions,
): Promise<EdgeGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'bastion-edge-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const base: Record<string, Record<string, unknown>> = {
    server: { host: '127.0.0.1', port: 0 },
    auth: options.config?.auth === undefined ? { devIssuer: true } : {},
    models: {
      repository: options.repo,
      allowUnsigned: true,
      trustedKeys: [demoPublisherKey],
    },
    metrics: { enabled: false },
    audit: { enabled: false },
  };
  const sections: Record<string, unknown> = { ...base };
  for (const [name, section] of Object.entries(options.config ?? {})) {
    sections[name] = { ...base[name], ...section };
  }
  const text = stringify({
    mode: 'development',
    stateDir: options.stateDir ?? join(dir, 'var'),
    ...sections,
  });
  const config = parseConfigText(text, join(dir, 'config.yaml'));
  const { stream, lines } = memoryLog();
  const gateway = await createGateway(config, { logger: createLogger('info', stream) });
  t.after(() => gateway.close());
  const { port } = await gateway.listen();
  const scheme = config.server.tls === undefined ? 'http' : 'https';
  return {
    gateway,
    port,
    origin: `${scheme}://127.0.0.1:${port}`,
    log: lines,
    token: async (scopes = ['infer:*', 'models:manage'], sub = 'tester') => {
      const issuer = gateway.auth.devIssuer;
      if (issuer === undefined) throw new Error('this gateway has no dev issuer');
      return issuer.mint({ sub, scopes, ttlSec: 600 });
    },
  };
}

/** A response read to the end. */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/** TLS material for a client: the CA to trust, and an optional client certificate. */
export interface ClientTls {
  readonly ca?: string | Buffer;
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
}

/**
 * Sends one request over a fresh connection (no agent, so no TLS session is reused) and parses
 * a JSON body. Rejects when the connection or the TLS handshake fails.
 */
export function sendRequest(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    tls?: ClientTls;
  } = {},
): Promise<RawResponse> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
        timeout: 5000,
        ...(options.tls ?? {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text === '' ? undefined : (JSON.parse(text) as unknown),
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}
