import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BastionError } from '../errors.js';
import { v2DatatypeOf } from '../inference/datatypes.js';
import type { TensorSpec } from '../inference/engine.js';
import type { InferenceService } from '../serving/inference-service.js';
import type { ServedVersion, ServingRegistry } from '../serving/serving-registry.js';
import {
  BinaryInferBody,
  DeferredBinaryBody,
  headerLengthHeader,
  registerBinaryBodyParser,
} from './binary-body.js';
import type { BoundInferRequest } from '../inference/input-schema.js';
import { takeModelFields } from './infer-body.js';
import { DeferredJsonBody } from './json-body.js';
import type { JsonParsePool } from './json-parse-pool.js';
import { type ModelParams, parseModelParams } from './route-params.js';
import { type PolicyReport, quotaHeaders } from '../policy/policy-enforcer.js';

/** Dependencies of the model routes. */
export interface ModelRoutesOptions {
  readonly registry: ServingRegistry;
  readonly inference: InferenceService;
  /** Largest element count answered as JSON in one response (`limits.maxJsonOutputElements`). */
  readonly maxJsonOutputElements: number;
  /** Largest JSON header of a binary request (`limits.jsonBodyBytes`). */
  readonly jsonHeaderBytes: number;
  /** Where JSON bodies over 64 KiB are parsed and validated, off the event loop. */
  readonly parsePool: JsonParsePool;
}

/** Per-route policy read by the auth and audit hooks (STYLE.md: the rate-limit/helmet idiom). */
export interface RoutePolicy {
  /**
   * What the caller must hold: a model's infer scope, the manage scope, or any valid token.
   * `none`: answered before authentication (audited 405 and 404 answers on model paths).
   */
  readonly access: 'infer' | 'manage' | 'token' | 'none';
  /** Whether requests to this route get an audit record. */
  readonly audit: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    policy?: RoutePolicy;
  }
  interface FastifyRequest {
    /** The model version that served (or was chosen for) this request, for audit and metrics. */
    bastionTarget?: { model: string; version: number | undefined };
    /** Why the model's policy flagged an allowed request (audit `reason`), e.g. `ood-flagged`. */
    policyReason?: string;
  }
}

/** `GET /v2/models/...` metadata and ready, `POST .../infer`. */
export function registerModelRoutes(app: FastifyInstance, options: ModelRoutesOptions): void {
  const { registry, inference, maxJsonOutputElements, jsonHeaderBytes, parsePool } = options;
  const infer = { policy: { access: 'infer', audit: true } } as const;

  for (const prefix of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
    app.get(prefix, { config: infer }, (request: FastifyRequest<{ Params: ModelParams }>) => {
      const { model, version } = parseModelParams(request.params);
      request.bastionTarget = { model, version };
      const lease = registry.acquire(model, version);
      try {
        return metadataOf(lease.version, readyVersions(registry, model));
      } finally {
        lease.release();
      }
    });

    app.get(
      `${prefix}/ready`,
      { config: infer },
      async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
        const { model, version } = parseModelParams(request.params);
        request.bastionTarget = { model, version };
        try {
          registry.acquire(model, version).release();
        } catch (error) {
          // Not ready is an answer, not a failure: 503 with the body clients parse.
          if (!(error instanceof BastionError) || error.code !== 'MODEL_NOT_READY') throw error;
          request.failure = { code: error.code, reason: undefined };
          return reply
            .code(503)
            .header('retry-after', String(error.retryAfterSec ?? 5))
            .send({ name: model, ready: false, error: error.message, code: error.code });
        }
        return reply.code(200).send({ name: model, ready: true });
      },
    );
  }

  // The infer routes get their own scope so that only they accept the binary tensor extension.
  void app.register((scope, _options, done) => {
    registerBinaryBodyParser(scope, jsonHeaderBytes);
    for (const prefix of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
      scope.post(
        `${prefix}/infer`,
        { config: { ...infer, offThreadJson: true } },
        async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
          const { model, version } = parseModelParams(request.params);
          request.bastionTarget = { model, version };
          const controller = new AbortController();
          const onClose = (): void => {
            if (!reply.raw.writableFinished) {
              controller.abort(
                new BastionError('CLIENT_CLOSED_REQUEST', 'the client closed the request'),
              );
            }
          };
          reply.raw.once('close', onClose);
          try {
            const outcome = await inference.infer(
              {
                model,
                version,
                body: undefined,
                bind: binderOf(request, parsePool),
                controller,
                caller: request.principal,
                maxJsonOutputElements,
              },
              {
                onResolved: (ready) => {
                  request.bastionTarget = { model, version: ready.version };
                },
              },
            );
            if (outcome.policy !== undefined) applyPolicyReport(request, reply, outcome.policy);
            // Written directly from the output tensors (tensor-json.ts), not by Fastify's stringify.
            if (outcome.binary === undefined) {
              void reply.type('application/json; charset=utf-8');
              return outcome.json(); // a string is sent as is
            }
            const header = Buffer.from(outcome.json(), 'utf8');
            void reply
              .header('content-type', 'application/octet-stream')
              .header(headerLengthHeader, String(header.length));
            return binaryAnswer(reply, [header, ...outcome.binary]);
          } finally {
            reply.raw.off('close', onClose);
          }
        },
      );
    }
    done();
  });
}

/** Binary answers up to this size are sent as one buffer; larger ones as their parts. */
const concatAnswerBytes = 64 * 1024;

/**
 * The body of a binary answer: the JSON header, then each binary output's bytes. A large one is
 * streamed part by part (with its length declared), not copied into one buffer on the event loop.
 */
function binaryAnswer(reply: FastifyReply, parts: readonly Uint8Array[]): Buffer | Readable {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  if (length <= concatAnswerBytes) return Buffer.concat(parts);
  void reply.header('content-length', String(length));
  return Readable.from(
    parts.map((part) => Buffer.from(part.buffer, part.byteOffset, part.byteLength)),
    { objectMode: false },
  );
}

/**
 * Headers for what the policy decided: `Bastion-OOD` when a row scored out of distribution
 * (`flagged;score=…;threshold=…`), and the quota's `RateLimit-*`.
 */
function applyPolicyReport(
  request: FastifyRequest,
  reply: FastifyReply,
  report: PolicyReport,
): void {
  if (report.oodFlagged && report.oodScore !== undefined && report.oodThreshold !== undefined) {
    void reply.header(
      'bastion-ood',
      `flagged;score=${report.oodScore.toFixed(3)};threshold=${report.oodThreshold.toFixed(3)}`,
    );
  }
  if (report.reason !== undefined) request.policyReason = report.reason;
  if (report.quota !== undefined) void reply.headers(quotaHeaders(report.quota));
}

function readyVersions(registry: ServingRegistry, model: string): string[] {
  return registry
    .list()
    .filter((s) => s.model === model && s.state === 'ready')
    .map((s) => s.version)
    .sort((a, b) => a - b)
    .map(String);
}

function metadataOf(ready: ServedVersion, versions: string[]) {
  const tensor = (spec: TensorSpec) => ({
    name: spec.name,
    datatype: v2DatatypeOf(spec.type),
    shape: [...spec.dims],
  });
  return {
    name: ready.model,
    versions,
    platform: 'onnxruntime_onnx',
    inputs: ready.signature.inputs.map(tensor),
    outputs: ready.signature.outputs.map(tensor),
  };
}

/** The v2 "method not allowed" error for a known path. */
export function methodNotAllowedError(allow: string): BastionError {
  return new BastionError('METHOD_NOT_ALLOWED', `this path accepts ${allow} only`);
}

/**
 * How the request's body becomes a bound request once its model version is known: a large JSON
 * or binary body on a parse worker (a JSON body's digest comes back with it), anything else
 * here; either way a top-level `model_name`/`model_version` must match (KServe's client sends
 * them).
 */
function binderOf(
  request: FastifyRequest,
  pool: JsonParsePool,
): (ready: ServedVersion) => Promise<BoundInferRequest> {
  const body = request.body;
  if (body instanceof DeferredJsonBody || body instanceof DeferredBinaryBody) {
    return async (ready) => {
      const parsed =
        body instanceof DeferredJsonBody
          ? await pool.parse(body.bytes, ready)
          : await pool.parse(body.header, ready, body.binary);
      if (parsed.sha256 !== undefined) request.inputSha256 = parsed.sha256;
      if (parsed.error !== undefined) throw parsed.error;
      return parsed.request;
    };
  }
  const binary = body instanceof BinaryInferBody ? body : undefined;
  const json = binary === undefined ? body : binary.header;
  return (ready) => {
    takeModelFields(json, ready.model, ready.version);
    return Promise.resolve(ready.parser.parse(json, binary?.binary));
  };
}
