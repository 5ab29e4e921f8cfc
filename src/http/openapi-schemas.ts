/**
 * zod schemas of Bastion's response bodies, for the OpenAPI document (`GET /openapi.json`) and
 * the routes' own `schema.response` (Fastify serializes with it). Request bodies are not
 * repeated here: the document takes them from the very schemas that
 * validate requests (`inferRequestEnvelope`, the repository routes' bodies).
 */
import { z } from 'zod';
import { type V2Datatype, v2Datatypes } from '../inference/datatypes.js';

/** A JSON Schema object. */
export type JsonSchema = Record<string, unknown>;

/**
 * zod's JSON Schema for a schema (draft 2020-12, which OpenAPI 3.1 uses), without the `$schema`
 * key: the OpenAPI document sets the dialect, and Fastify's compilers take the rest as it is.
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/** A route's `schema.response`: the 200 body's JSON Schema, for Fastify's serializer. */
export function okResponseSchema(schema: z.ZodType): { readonly 200: JsonSchema } {
  return { 200: jsonSchemaOf(schema, 'output') };
}

const durationStat = z.strictObject({
  count: z.number().int().min(0),
  ns: z.number().int().min(0),
});
const v2Datatype = z.enum(v2Datatypes as [V2Datatype, ...V2Datatype[]]);
const parameters = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

/** `{"error", "code"}`: every error answer. */
export const errorResponse = z.strictObject({
  error: z.string().describe('What went wrong, in terms a caller can act on'),
  code: z.string().describe('A stable error code (README "Errors")'),
});

/** `GET /v2`. */
export const serverMetadataResponse = z.strictObject({
  name: z.string(),
  version: z.string(),
  extensions: z.array(z.string()),
});

/** Live and ready bodies (`/v2/health/*`). */
export const liveResponse = z.object({ live: z.boolean() });
/** `GET /v2/health/ready`. */
export const readyResponse = z.object({ ready: z.boolean() });
/** `GET /v2/models/{m}[/versions/{v}]/ready`. */
export const modelReadyResponse = z.object({ name: z.string(), ready: z.boolean() });

const tensorMetadata = z.strictObject({
  name: z.string(),
  datatype: v2Datatype,
  shape: z.array(z.number().int().min(-1)),
});

/** `GET /v2/models/{m}[/versions/{v}]`. */
export const modelMetadataResponse = z.strictObject({
  name: z.string(),
  versions: z.array(z.string()).optional(),
  platform: z.literal('onnxruntime_onnx'),
  inputs: z.array(tensorMetadata),
  outputs: z.array(tensorMetadata),
});

/** `POST .../infer` (the JSON part; with binary outputs, the JSON header). */
export const inferResponse = z.strictObject({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string().optional(),
  parameters: parameters.optional(),
  outputs: z.array(
    z.strictObject({
      name: z.string(),
      shape: z.array(z.number().int().min(0)),
      datatype: v2Datatype,
      parameters: parameters.optional(),
      data: z.array(z.unknown()).optional(),
    }),
  ),
});

/** `POST /v2/repository/index`. */
export const repositoryIndexResponse = z.array(
  z.strictObject({
    name: z.string(),
    version: z.string().optional(),
    state: z.enum(['LOADING', 'READY', 'UNAVAILABLE', 'UNLOADED']),
    reason: z.string(),
    /** Where a ready version runs: inline on the event loop, or in the worker pool. */
    placement: z.enum(['inline', 'pool']).optional(),
  }),
);

/** `GET /v2/models[/{m}[/versions/{v}]]/stats` (Triton's statistics extension). */
export const statsResponse = z.strictObject({
  model_stats: z.array(
    z.strictObject({
      name: z.string(),
      version: z.string(),
      last_inference: z.number().int().min(0).describe('ms since the epoch; 0: never'),
      inference_count: z.number().int().min(0),
      execution_count: z.number().int().min(0),
      inference_stats: z.strictObject({
        success: durationStat,
        fail: durationStat,
        queue: durationStat,
        compute_input: durationStat,
        compute_infer: durationStat,
        compute_output: durationStat,
      }),
      batch_stats: z.array(
        z.strictObject({
          batch_size: z.number().int().min(1),
          compute_input: durationStat,
          compute_infer: durationStat,
          compute_output: durationStat,
        }),
      ),
    }),
  ),
});

const configTensor = z.strictObject({
  name: z.string(),
  data_type: z.string().regex(/^TYPE_[A-Z0-9]+$/),
  dims: z.array(z.number().int().min(-1)),
});

/** `GET /v2/models/{m}[/versions/{v}]/config` (Triton's model configuration extension). */
export const modelConfigResponse = z.strictObject({
  name: z.string(),
  platform: z.literal('onnxruntime_onnx'),
  backend: z.literal('onnxruntime'),
  version_policy: z.strictObject({
    specific: z.strictObject({ versions: z.array(z.number().int().min(1)) }),
  }),
  max_batch_size: z.number().int().min(0),
  input: z.array(configTensor),
  output: z.array(configTensor),
  instance_group: z.array(
    z.strictObject({
      name: z.string(),
      kind: z.enum(['KIND_CPU', 'KIND_AUTO']),
      count: z.number().int().min(1),
    }),
  ),
  dynamic_batching: z
    .strictObject({
      max_queue_delay_microseconds: z.number().int().min(0),
      preferred_batch_size: z.array(z.number().int().min(1)),
      default_queue_policy: z.strictObject({
        max_queue_size: z.number().int().min(1),
        default_timeout_microseconds: z.number().int().min(0),
        timeout_action: z.literal('REJECT'),
      }),
    })
    .optional(),
  parameters: z.record(z.string(), z.strictObject({ string_value: z.string() })),
});
