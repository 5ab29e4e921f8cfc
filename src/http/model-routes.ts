import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { BastionError } from '../errors.js';
import { clientClosedError } from '../inference/abort-error.js';
import { Cancellation } from '../inference/cancellation.js';
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
import { modelMetadataResponse, modelReadyResponse, okResponseSchema } from './openapi-schemas.js';
import {
  type ModelParams,
  modelParamsError,
  modelParamsJsonSchema,
  parseModelParams,
} from './route-params.js';
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

/** The two paths of every model route: the highest ready version, or one version. */
export const modelPrefixes = ['/v2/models/:model', '/v2/models/:model/versions/:version'] as const;

const infer = { policy: { access: 'infer', audit: true } } as const;
const params = { params: modelParamsJsonSchema };

/**
 * `GET /v2/models/...` metadata and ready, `POST .../infer` (in their own scope, the only one
 * that accepts the binary tensor extension). Path parameters are validated by their schema; the
 * metadata and ready answers are serialized by theirs. The infer answer is written directly from
 * the output tensors (tensor-json.ts), so it declares no response schema.
 */
export const modelRoutesPlugin = definePlugin(
  async (app: FastifyInstance, options: ModelRoutesOptions) => {
    const { registry } = options;
    for (const prefix of modelPrefixes) {
      app.get(
        prefix,
        {
          config: infer,
          schema: { ...params, response: okResponseSchema(modelMetadataResponse) },
          schemaErrorFormatter: modelParamsError,
        },
        (request: FastifyRequest<{ Params: ModelParams }>) => {
          const { model, version } = parseModelParams(request.params);
          request.bastionTarget = { model, version };
          const lease = registry.acquire(model, version);
          try {
            return metadataOf(lease.version, readyVersions(registry, model));
          } finally {
            lease.release();
          }
        },
      );

      app.get(
        `${prefix}/ready`,
        {
          config: infer,
          schema: { ...params, response: okResponseSchema(modelReadyResponse) },
          schemaErrorFormatter: modelParamsError,
        },
        async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
          const { model, version } = parseModelParams(request.params);
          request.bastionTarget = { model, version };
          try {
            registry.acquire(model, version).release();
          } catch (error) {
            // Not ready is an answer: 503 with the body clients parse (`name`, `ready`).
            if (!(error instanceof BastionError) || error.code !== 'MODEL_NOT_READY') throw error;
            throw new BastionError(error.code, error.message, {
              retryAfterSec: error.retryAfterSec ?? 5,
              body: { name: model, ready: false },
            });
          }
          return reply.code(200).send({ name: model, ready: true });
        },
      );
    }
    await app.register(inferRoutes, options);
  },
  {
    name: 'bastion-model-routes',
    dependencies: ['bastion-request-state', 'bastion-error-handler', 'bastion-json-body'],
    decorators: { request: ['principal', 'bastionTarget', 'policyReason', 'inputSha256'] },
  },
);

/** The infer routes, encapsulated: only they accept the binary tensor extension's media types. */
const inferRoutes = definePlugin(
  (scope: FastifyInstance, options: ModelRoutesOptions, done: (error?: Error) => void) => {
    const { inference, maxJsonOutputElements, parsePool } = options;
    registerBinaryBodyParser(scope, options.jsonHeaderBytes);
    for (const prefix of modelPrefixes) {
      scope.post(
        `${prefix}/infer`,
        {
          config: { ...infer, offThreadJson: true },
          // Params only: the answer is a string written from the tensors (no serializer runs).
          schema: params,
          schemaErrorFormatter: modelParamsError,
        },
        async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
          const { model, version } = parseModelParams(request.params);
          request.bastionTarget = { model, version };
          // Listens for the client going away only once a run is queued or handed off (an inline
          // run needs no cancellation: see cancellation.ts).
          const cancellation = new Cancellation(armOnClose(reply));
          try {
            const outcome = await inference.infer(
              {
                model,
                version,
                body: undefined,
                bind: binderOf(request, parsePool),
                cancellation,
                caller: request.principal ?? undefined,
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
            cancellation.disarm();
          }
        },
      );
    }
    done();
  },
  { name: 'bastion-infer-routes', encapsulate: true },
);

/**
 * Cancels the request when the client closes the connection before the answer is written, from
 * the moment the cancellation is armed (at once if the connection is already gone).
 */
function armOnClose(reply: FastifyReply): (cancellation: Cancellation) => () => void {
  return (cancellation) => {
    const onClose = (): void => {
      if (!reply.raw.writableFinished) {
        cancellation.abort(clientClosedError());
      }
    };
    if (reply.raw.destroyed || reply.raw.socket?.destroyed === true) onClose();
    else reply.raw.once('close', onClose);
    return () => reply.raw.off('close', onClose);
  };
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

/**
 * How the request's body becomes a bound request once its model version is known: a large JSON
 * or binary body on a parse worker (a JSON body's digest comes back with it), anything else
 * here; either way a top-level `model_name`/`model_version` must match (KServe's client sends
 * them).
 */
function binderOf(
  request: FastifyRequest,
  pool: JsonParsePool,
): (ready: ServedVersion) => BoundInferRequest | Promise<BoundInferRequest> {
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
    return ready.parser.parse(json, binary?.binary);
  };
}
