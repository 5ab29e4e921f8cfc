/**
 * The OpenAPI 3.1 document served at `GET /openapi.json`. Request bodies come from the zod
 * schemas that validate requests and responses from `openapi-schemas.ts`, all through zod's own
 * JSON Schema output (`z.toJSONSchema`, draft 2020-12, which OpenAPI 3.1 uses), so the document
 * cannot drift from what the gateway checks. A test compares its paths with the routes the app
 * really registers.
 */
import type { FastifyInstance } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { z } from 'zod';
import { inferRequestEnvelope } from '../inference/infer-envelope.js';
import * as bodies from './openapi-schemas.js';
import { type JsonSchema, jsonSchemaOf } from './openapi-schemas.js';
import { controlBody, indexBody } from './repository-routes.js';
import type { RoutePolicy } from './route-config.js';
import { modelParamsJsonSchema } from './route-params.js';

/** Who may call a route. */
type Access = 'none' | 'token' | 'infer' | 'manage';

/** One documented operation. */
interface Operation {
  readonly method: 'get' | 'post';
  readonly path: string;
  readonly id: string;
  readonly summary: string;
  readonly access: Access;
  readonly tag: string;
  readonly request?: z.ZodType;
  /** The 200 body: a schema, `empty` (no body), or the binary-or-JSON infer answer. */
  readonly response: z.ZodType | 'empty' | 'infer';
}

const model = '/v2/models/{model}';
const version = '/v2/models/{model}/versions/{version}';

function forBoth(suffix: string, op: Omit<Operation, 'path' | 'id'> & { id: string }): Operation[] {
  return [
    { ...op, path: `${model}${suffix}`, id: op.id },
    { ...op, path: `${version}${suffix}`, id: `${op.id}Version` },
  ];
}

/** Every route Bastion serves (the 405 answers for other methods aside). */
export const operations: readonly Operation[] = [
  {
    method: 'get',
    path: '/v2/health/live',
    id: 'serverLive',
    summary: 'Liveness: 200 while the process serves',
    access: 'none',
    tag: 'health',
    response: bodies.liveResponse,
  },
  {
    method: 'get',
    path: '/v2/health/ready',
    id: 'serverReady',
    summary: 'Readiness: 200 when models are loaded and the gateway accepts work, else 503',
    access: 'none',
    tag: 'health',
    response: bodies.readyResponse,
  },
  {
    method: 'get',
    path: '/openapi.json',
    id: 'openapi',
    summary: 'This document',
    access: 'none',
    tag: 'server',
    response: z.record(z.string(), z.unknown()),
  },
  {
    method: 'get',
    path: '/v2',
    id: 'serverMetadata',
    summary: 'Server metadata: name, version and the extensions served',
    access: 'token',
    tag: 'server',
    response: bodies.serverMetadataResponse,
  },
  {
    method: 'get',
    path: '/v2/models/stats',
    id: 'allModelStats',
    summary: 'Statistics of every ready version of every model the caller may call',
    access: 'token',
    tag: 'statistics',
    response: bodies.statsResponse,
  },
  ...forBoth('', {
    method: 'get',
    id: 'modelMetadata',
    summary: 'Model metadata: versions, platform, inputs and outputs',
    access: 'infer',
    tag: 'models',
    response: bodies.modelMetadataResponse,
  }),
  ...forBoth('/ready', {
    method: 'get',
    id: 'modelReady',
    summary: 'Model readiness: 200 ready, 404 unknown, 503 not ready',
    access: 'infer',
    tag: 'models',
    response: bodies.modelReadyResponse,
  }),
  ...forBoth('/infer', {
    method: 'post',
    id: 'modelInfer',
    summary: 'Inference (JSON, or the binary tensor extension)',
    access: 'infer',
    tag: 'models',
    request: inferRequestEnvelope,
    response: 'infer',
  }),
  ...forBoth('/stats', {
    method: 'get',
    id: 'modelStats',
    summary: "Triton's statistics extension for one model (or version)",
    access: 'infer',
    tag: 'statistics',
    response: bodies.statsResponse,
  }),
  ...forBoth('/config', {
    method: 'get',
    id: 'modelConfig',
    summary: "Triton's model configuration extension: the configuration in force",
    access: 'infer',
    tag: 'models',
    response: bodies.modelConfigResponse,
  }),
  {
    method: 'post',
    path: '/v2/repository/index',
    id: 'repositoryIndex',
    summary: 'Every model version with its state and reason',
    access: 'manage',
    tag: 'repository',
    request: indexBody,
    response: bodies.repositoryIndexResponse,
  },
  {
    method: 'post',
    path: '/v2/repository/models/{model}/load',
    id: 'repositoryModelLoad',
    summary: 'Verify and (re)load a model from disk',
    access: 'manage',
    tag: 'repository',
    request: controlBody,
    response: 'empty',
  },
  {
    method: 'post',
    path: '/v2/repository/models/{model}/unload',
    id: 'repositoryModelUnload',
    summary: 'Unload a model',
    access: 'manage',
    tag: 'repository',
    request: controlBody,
    response: 'empty',
  },
];

const accessText: Record<Access, string> = {
  none: 'No token.',
  token: 'Any valid token.',
  infer: 'Scope `infer:{model}` or `infer:*`; 403 without it (also for unknown models).',
  manage: 'Scope `models:manage`.',
};

const errorRef = { $ref: '#/components/schemas/Error' };
const errorContent = { 'application/json': { schema: errorRef } };

const paramSchemas = (modelParamsJsonSchema['properties'] ?? {}) as Record<string, JsonSchema>;

/** The path parameters of an operation, from the schema the model routes validate with. */
function parametersOf(path: string): JsonSchema[] {
  return Object.entries(paramSchemas)
    .filter(([name]) => path.includes(`{${name}}`))
    .map(([name, schema]) => ({ name, in: 'path', required: true, schema }));
}

function responseOf(op: Operation, schemas: Map<z.ZodType, string>): JsonSchema {
  if (op.response === 'empty') return { description: 'Done (no body)' };
  if (op.response === 'infer') {
    return {
      description:
        'The outputs as JSON; with binary outputs, `application/octet-stream`: the JSON header (its length in `Inference-Header-Content-Length`) then the raw tensors',
      content: {
        'application/json': { schema: { $ref: '#/components/schemas/InferResponse' } },
        'application/octet-stream': { schema: { type: 'string', contentEncoding: 'binary' } },
      },
    };
  }
  const name = schemas.get(op.response);
  const schema =
    name === undefined
      ? jsonSchemaOf(op.response, 'output')
      : { $ref: `#/components/schemas/${name}` };
  return { description: 'OK', content: { 'application/json': { schema } } };
}

function operationOf(op: Operation, schemas: Map<z.ZodType, string>): JsonSchema {
  const out: JsonSchema = {
    operationId: op.id,
    summary: op.summary,
    description: accessText[op.access],
    tags: [op.tag],
    responses: {
      '200': responseOf(op, schemas),
      ...(op.access === 'none'
        ? { '503': { description: 'Not ready' } }
        : { '4XX': { description: 'Refused', content: errorContent } }),
      '5XX': { description: 'Unavailable or failed', content: errorContent },
    },
  };
  const parameters = parametersOf(op.path);
  if (parameters.length > 0) out['parameters'] = parameters;
  out['security'] = op.access === 'none' ? [] : [{ bearer: [] }];
  if (op.request !== undefined) {
    out['requestBody'] = {
      ...(op.request === inferRequestEnvelope
        ? {
            description:
              'JSON, or the binary tensor extension: the JSON request (its length in `Inference-Header-Content-Length`), then the raw input tensors',
          }
        : {}),
      required: op.method === 'post' && op.request === inferRequestEnvelope,
      content: {
        'application/json': {
          schema:
            op.request === inferRequestEnvelope
              ? { $ref: '#/components/schemas/InferRequest' }
              : jsonSchemaOf(op.request, 'input'),
        },
        ...(op.request === inferRequestEnvelope
          ? {
              'application/octet-stream': {
                schema: { type: 'string', contentEncoding: 'binary' },
              },
            }
          : {}),
      },
    };
  }
  return out;
}

/** Builds the OpenAPI 3.1 document for a gateway version. */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const named: [string, z.ZodType, 'input' | 'output'][] = [
    ['Error', bodies.errorResponse, 'output'],
    ['InferRequest', inferRequestEnvelope, 'input'],
    ['InferResponse', bodies.inferResponse, 'output'],
    ['ModelMetadata', bodies.modelMetadataResponse, 'output'],
    ['ModelStatistics', bodies.statsResponse, 'output'],
    ['ModelConfig', bodies.modelConfigResponse, 'output'],
    ['ServerMetadata', bodies.serverMetadataResponse, 'output'],
    ['RepositoryIndex', bodies.repositoryIndexResponse, 'output'],
  ];
  const refs = new Map<z.ZodType, string>(named.map(([name, schema]) => [schema, name]));
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of operations) {
    (paths[op.path] ??= {})[op.method] = operationOf(op, refs);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Bastion',
      version,
      description:
        'Open Inference Protocol v2 (KServe v2 / Triton REST) with Triton extensions, generated from the schemas that validate requests.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: ['health', 'server', 'models', 'statistics', 'repository'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: Object.fromEntries(
        named.map(([name, schema, io]) => [name, jsonSchemaOf(schema, io)]),
      ),
    },
  };
}

/** Options of {@link openApiPlugin}. */
export interface OpenApiOptions {
  /** The gateway's version, for `info.version`. */
  readonly version: string;
}

/** `GET /openapi.json`: public (it names no model), never audited, built once at boot. */
export const openApiPlugin = definePlugin(
  (app: FastifyInstance, options: OpenApiOptions, done: (error?: Error) => void) => {
    const text = JSON.stringify(buildOpenApiDocument(options.version));
    app.get('/openapi.json', (_request, reply) =>
      reply.header('content-type', 'application/json; charset=utf-8').send(text),
    );
    done();
  },
  { name: 'bastion-openapi' },
);

/** A route as the app registered it (method and Fastify URL, e.g. `/v2/models/:model`). */
export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
  /** True for the routes that only answer 405 (or 404) for the other methods of a known path. */
  readonly methodNotAllowed: boolean;
  /** The route's policy; undefined for public routes. */
  readonly policy: RoutePolicy | undefined;
}

const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/**
 * Starts recording every route `app` registers (call first thing, before any route); returns
 * the list, which grows as routes are added.
 */
export function recordRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      routes.push({
        method,
        url: route.url,
        methodNotAllowed: route.config?.methodNotAllowed === true,
        policy: route.config?.policy,
      });
    }
  });
  return routes;
}

/** The routes recorded by {@link recordRoutes} (empty when it was not called). */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return registered.get(app) ?? [];
}
