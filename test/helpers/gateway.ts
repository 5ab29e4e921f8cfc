/**
 * Test helpers: a model repository in a temp folder and a real gateway listening on loopback.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.js';
import { createLogger } from '../../src/logger.js';
import { createGateway, type Gateway } from '../../src/server.js';

/** The demo publisher's public key: the committed demo models are signed with it. */
export const demoPublisherKey = join(
  import.meta.dirname,
  '../../config/keys/demo-publisher.pub.pem',
);

/** A temp folder removed when the test ends. */
export async function tempDir(
  t: TestContext | { after: (fn: () => Promise<void>) => void },
  prefix = 'bastion-',
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `models/<name>/<version>/model.onnx` (and optional extra files) under `repo`. */
export async function writeModel(
  repo: string,
  name: string,
  version: number,
  bytes: Uint8Array,
  extra: Record<string, string | Uint8Array> = {},
): Promise<string> {
  const dir = join(repo, name, String(version));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), bytes);
  for (const [file, content] of Object.entries(extra)) await writeFile(join(dir, file), content);
  return dir;
}

/** Collects the application log in memory (as parsed JSON lines). */
export function memoryLog(): { stream: Writable; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { stream, lines };
}

/** A gateway listening on an ephemeral loopback port. */
export interface TestGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly log: Record<string, unknown>[];
  /** A token from the gateway's dev issuer (default scopes: `infer:* models:manage`). */
  token(scopes?: readonly string[], sub?: string): Promise<string>;
  /** POSTs JSON to a path with a token holding `infer:* models:manage` unless headers say otherwise. */
  post(
    path: string,
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: unknown }>;
  /** GETs a path with a token holding `infer:* models:manage` unless headers say otherwise. */
  get(
    path: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: unknown }>;
}

/**
 * Starts a real gateway over `repo` with the given YAML overriding a loopback test config.
 * Closed when the test ends.
 */
export async function startGateway(
  t: { after: (fn: () => Promise<void>) => void },
  repo: string,
  yaml = '',
): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'bastion-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const text = `mode: development
stateDir: ${JSON.stringify(join(dir, 'var'))}
server:
  host: 127.0.0.1
  port: 0
${yaml.includes('auth:') ? '' : 'auth:\n  devIssuer: true\n'}${yaml.includes('models:') ? '' : `models:\n  repository: ${JSON.stringify(repo)}\n  allowUnsigned: true\n  trustedKeys: [${JSON.stringify(demoPublisherKey)}]\n`}${yaml.includes('metrics:') ? '' : 'metrics:\n  enabled: false\n'}${yaml.includes('audit:') ? '' : 'audit:\n  enabled: false\n'}${yaml}`;
  const config = parseConfigText(text, join(dir, 'config.yaml'));
  const { stream, lines } = memoryLog();
  const gateway = await createGateway(config, { logger: createLogger('info', stream) });
  t.after(() => gateway.close());
  const { port } = await gateway.listen();
  const url = `http://127.0.0.1:${port}`;
  const token = async (
    scopes: readonly string[] = ['infer:*', 'models:manage'],
    sub = 'tester',
  ) => {
    const issuer = gateway.auth.devIssuer;
    if (issuer === undefined) throw new Error('this gateway has no dev issuer');
    return issuer.mint({ sub, scopes, ttlSec: 600 });
  };
  const admin = `Bearer ${await token()}`;
  return {
    gateway,
    url,
    log: lines,
    token,
    post: (path, body, headers = {}) =>
      postJson(`${url}${path}`, body, { authorization: admin, ...headers }),
    get: (path, headers = {}) => getJson(`${url}${path}`, { authorization: admin, ...headers }),
  };
}

/** POSTs JSON (or a raw string) and returns status, headers and the parsed body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? undefined : JSON.parse(text),
  };
}

/** GETs a URL and returns status, headers and the parsed body. */
export async function getJson(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? undefined : JSON.parse(text),
  };
}

/** Collects cleanup work for a `describe` block; run it from the suite's `after` hook. */
export function createCleanup(): {
  after: (fn: () => Promise<void>) => void;
  run: () => Promise<void>;
} {
  const fns: (() => Promise<void>)[] = [];
  return {
    after(fn) {
      fns.unshift(fn);
    },
    async run() {
      for (const fn of fns.splice(0)) await fn();
    },
  };
}
