/**
 * Fixtures for the HTTP adapters' unit tests: a minimal Fastify app holding only the plugin
 * under test and the edge plugins it declares as dependencies, exercised with `inject`; the real
 * model registry and inference service over the demo models; real HS256 tokens.
 */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type LightMyRequestResponse,
} from 'fastify';
import { SignJWT } from 'jose';
import { createTokenVerifier, type TokenVerifier } from '../../../src/auth/token-verifier.js';
import { builtInTuning } from '../../../src/config/tuning-defaults.js';
import { errorHandlerPlugin } from '../../../src/http/error-handler.js';
import { requestIdFor, requestIdHeader, requestIdPlugin } from '../../../src/http/request-id.js';
import { requestStatePlugin } from '../../../src/http/request-state.js';
import { createEngineFactory } from '../../../src/inference/engine-factory.js';
import {
  createInferenceService,
  type InferenceService,
} from '../../../src/serving/inference-service.js';
import { createLogger } from '../../../src/logger.js';
import {
  createServingRegistry,
  type ServingRegistry,
} from '../../../src/serving/serving-registry.js';
import { readUnsignedVersion } from '../../../src/models/version-files.js';
import { memoryLog } from '../../helpers/gateway.js';

/** Something with `after`, like node:test's context or a suite's cleanup list. */
export interface Cleanup {
  after(fn: () => Promise<void>): void;
}

/** A minimal app and its application log. */
export interface PluginApp {
  readonly app: FastifyInstance;
  readonly log: Record<string, unknown>[];
}

/**
 * Builds an app with the edge every adapter depends on (request state, request id, the error
 * handler), then `setup` registers the plugin under test (and whatever else it declares).
 * `edge: false` leaves the edge out, to test a plugin's declared dependencies.
 */
export async function pluginApp(
  t: Cleanup,
  setup: (app: FastifyInstance) => PromiseLike<unknown>,
  options: { readonly edge?: boolean } = {},
): Promise<PluginApp> {
  const { stream, lines } = memoryLog();
  const logger: FastifyBaseLogger = createLogger('info', stream);
  const app = Fastify({
    loggerInstance: logger,
    genReqId: requestIdFor,
    requestIdHeader: false,
  });
  t.after(() => app.close());
  if (options.edge !== false) {
    await app.register(requestStatePlugin);
    await app.register(requestIdPlugin);
    await app.register(errorHandlerPlugin);
  }
  await setup(app);
  await app.ready();
  return { app, log: lines };
}

/** The error message every 500 answer carries. */
export const internalMessage = 'internal error; the request id identifies it in the log';

/** A fault that must never reach a client: its message names a path and looks like a secret. */
export function leakyFault(): Error {
  return new Error('disk on fire at /etc/bastion/secret.key (token=s3cr3t)');
}

/**
 * Asserts the contract's 500: `{"error", "code": "INTERNAL"}` and nothing else, an
 * `x-request-id`, no stack, path or fault message in the body, and the fault (with its stack) in
 * the log under that request id.
 */
export function assertInternalError(
  res: LightMyRequestResponse,
  log: readonly Record<string, unknown>[],
): void {
  assert.equal(res.statusCode, 500, res.body);
  assert.deepEqual(res.json(), { error: internalMessage, code: 'INTERNAL' });
  const id = res.headers[requestIdHeader];
  assert.equal(typeof id, 'string');
  assert.doesNotMatch(res.body, /disk on fire|\/etc|s3cr3t|\bat .*:\d+:\d+/);
  const line = log.find((l) => l.reqId === id && l.msg === 'request failed');
  assert.ok(line !== undefined, 'the fault is logged with the request id');
  assert.match(String((line.err as { stack?: unknown } | undefined)?.stack), /disk on fire/);
}

/** Asserts an error answer in the contract's shape, with `x-request-id`. */
export function assertError(res: LightMyRequestResponse, status: number, code: string): void {
  assert.equal(res.statusCode, status, res.body);
  const body = res.json<Record<string, unknown>>();
  assert.equal(body.code, code, res.body);
  assert.equal(typeof body.error, 'string');
  assert.equal(typeof res.headers[requestIdHeader], 'string');
}

const demoModels = resolve(import.meta.dirname, '../../../models');

/** The real registry and inference service over the demo models (inline engines, unsigned). */
export async function demoServing(
  t: Cleanup,
): Promise<{ registry: ServingRegistry; inference: InferenceService }> {
  const registry = createServingRegistry({
    repository: demoModels,
    defaults: { ...builtInTuning, poolSize: 0 },
    readVersion: readUnsignedVersion,
    createEngine: createEngineFactory(),
  });
  t.after(() => registry.close());
  await registry.loadAll();
  return { registry, inference: createInferenceService({ registry }) };
}

/** One iris row, as a client sends it. */
export const irisRequest = {
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
};

const secret = 'unit-test-secret-of-at-least-32-bytes!';
const issuer = 'https://issuer.test';
const audience = 'bastion';

/** A real token verifier (HS256, shared secret) for {@link bearer}'s tokens. */
export function testVerifier(): Promise<TokenVerifier> {
  return createTokenVerifier({
    issuer,
    audience,
    keys: { kind: 'shared-secret', secret },
    algorithms: ['HS256'],
    cache: false,
  });
}

/** An `Authorization` header with a token for `sub` holding `scopes`. */
export async function bearer(scopes: readonly string[], sub = 'tester'): Promise<string> {
  const token = await new SignJWT({ scope: scopes.join(' ') })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(secret));
  return `Bearer ${token}`;
}
