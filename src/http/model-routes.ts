import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BastionError } from '../errors.js';
import { v2DatatypeOf } from '../inference/datatypes.js';
import type { TensorSpec } from '../inference/engine.js';
import type { InferenceService } from '../inference/inference-service.js';
import type { ModelRegistry } from '../models/model-registry.js';
import type { ReadyVersion } from '../models/model-state.js';
import { BinaryInferBody, headerLengthHeader, registerBinaryBodyParser } from './binary-body.js';
import { versionPattern } from '../models/model-repository.js';
import { type ModelParams, parseModelParams } from './route-params.js';

/** Dependencies of the model routes. */
export interface ModelRoutesOptions {
  readonly registry: ModelRegistry;
  readonly inference: InferenceService;
  /** Largest element count answered as JSON in one response (`limits.maxJsonOutputElements`). */
  readonly maxJsonOutputElements: number;
  /** Largest JSON header of a binary request (`limits.jsonBodyBytes`). */
  readonly jsonHeaderBytes: number;
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
  }
}

/** `GET /v2/models/...` metadata and ready, `POST .../infer`. */
export function registerModelRoutes(app: FastifyInstance, options: ModelRoutesOptions): void {
  const { registry, inference, maxJsonOutputElements, jsonHeaderBytes } = options;
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
        registry.acquire(model, version).release();
        return reply.code(200).send();
      },
    );
  }

  // The infer routes get their own scope so that only they accept the binary tensor extension.
  void app.register((scope, _options, done) => {
    registerBinaryBodyParser(scope, jsonHeaderBytes);
    for (const prefix of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
      scope.post(
        `${prefix}/infer`,
        { config: infer },
        async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
          const params = parseModelParams(request.params);
          request.bastionTarget = params;
          const binaryBody = request.body instanceof BinaryInferBody ? request.body : undefined;
          const body = binaryBody === undefined ? request.body : binaryBody.header;
          const { model, version } = takeModelFields(body, params);
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
                body,
                binary: binaryBody?.binary,
                controller,
                maxJsonOutputElements,
              },
              {
                onResolved: (ready) => {
                  request.bastionTarget = { model, version: ready.version };
                },
              },
            );
            if (outcome.binary === undefined) return outcome.response;
            const header = Buffer.from(JSON.stringify(outcome.response), 'utf8');
            void reply
              .header('content-type', 'application/octet-stream')
              .header(headerLengthHeader, String(header.length));
            return Buffer.concat([header, ...outcome.binary]);
          } finally {
            reply.raw.off('close', onClose);
          }
        },
      );
    }
    done();
  });
}

function readyVersions(registry: ModelRegistry, model: string): string[] {
  return registry
    .list()
    .filter((s) => s.model === model && s.state === 'ready')
    .map((s) => s.version)
    .sort((a, b) => a - b)
    .map(String);
}

function metadataOf(ready: ReadyVersion, versions: string[]) {
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
 * KServe's client adds a top-level `model_name` (and may add `model_version`) to every infer
 * body: they must name the path's model and version, and are removed before validation. A
 * `model_version` on a path without a version selects that version, as `/versions/{v}` would.
 *
 * @throws BastionError INVALID_REQUEST when they differ from the path or are not strings.
 */
function takeModelFields(
  body: unknown,
  path: { model: string; version: number | undefined },
): { model: string; version: number | undefined } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return path;
  const fields = body as Record<string, unknown>;
  let { version } = path;
  if ('model_name' in fields) {
    if (fields.model_name !== path.model) {
      throw new BastionError('INVALID_REQUEST', 'model_name in the body differs from the path');
    }
    delete fields.model_name;
  }
  if ('model_version' in fields) {
    const named = fields.model_version;
    if (typeof named !== 'string' || !versionPattern.test(named)) {
      throw new BastionError('INVALID_REQUEST', 'model_version must be a version number string');
    }
    if (version !== undefined && Number(named) !== version) {
      throw new BastionError('INVALID_REQUEST', 'model_version in the body differs from the path');
    }
    version = Number(named);
    delete fields.model_version;
  }
  return { model: path.model, version };
}
