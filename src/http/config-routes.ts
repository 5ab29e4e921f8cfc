import type { FastifyInstance, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { isBatchableSignature } from '../inference/batching-engine.js';
import { v2DatatypeOf } from '../inference/datatypes.js';
import type { TensorSpec } from '../inference/engine.js';
import type { ServedVersion, ServingRegistry } from '../serving/serving-registry.js';
import { modelPrefixes } from './model-routes.js';
import { modelConfigResponse, okResponseSchema } from './openapi-schemas.js';
import {
  type ModelParams,
  modelParamsError,
  modelParamsJsonSchema,
  parseModelParams,
} from './route-params.js';

/** A tensor in Triton's model configuration (`ModelInput` / `ModelOutput`). */
export interface ConfigTensor {
  name: string;
  /** Triton's `DataType` name: `TYPE_FP32`, `TYPE_INT64`, `TYPE_STRING` (for BYTES)… */
  data_type: string;
  /** Without the batch dimension when `max_batch_size` > 0 (Triton's rule); -1 is variable. */
  dims: number[];
}

/** The model configuration Bastion reports, in Triton's JSON shape (`ModelConfig`). */
export interface ModelConfigBody {
  name: string;
  platform: 'onnxruntime_onnx';
  backend: 'onnxruntime';
  version_policy: { specific: { versions: number[] } };
  max_batch_size: number;
  input: ConfigTensor[];
  output: ConfigTensor[];
  instance_group: { name: string; kind: 'KIND_CPU' | 'KIND_AUTO'; count: number }[];
  dynamic_batching?: {
    max_queue_delay_microseconds: number;
    preferred_batch_size: number[];
    default_queue_policy: {
      max_queue_size: number;
      default_timeout_microseconds: number;
      timeout_action: 'REJECT';
    };
  };
  parameters: Record<string, { string_value: string }>;
}

/** Triton's data type name of a tensor element type. */
export function tritonDataType(spec: TensorSpec): string {
  const v2 = v2DatatypeOf(spec.type);
  return v2 === 'BYTES' ? 'TYPE_STRING' : `TYPE_${v2}`;
}

/** The configuration in force for one ready version: its signature and merged tuning. */
export function modelConfigOf(ready: ServedVersion): ModelConfigBody {
  const tuning = ready.tuning;
  const batching = tuning.maxBatchSize > 0 && isBatchableSignature(ready.signature);
  const tensor = (spec: TensorSpec): ConfigTensor => ({
    name: spec.name,
    data_type: tritonDataType(spec),
    dims: batching ? spec.dims.slice(1) : [...spec.dims],
  });
  const body: ModelConfigBody = {
    name: ready.model,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    version_policy: { specific: { versions: [ready.version] } },
    max_batch_size: batching ? tuning.maxBatchSize : 0,
    input: ready.signature.inputs.map(tensor),
    output: ready.signature.outputs.map(tensor),
    instance_group: [
      {
        name: ready.model,
        // poolSize 0 runs one session inline on the event loop; auto starts with one session
        // (inline, or one worker when the load-time probe sends the model to the pool).
        kind: tuning.executionProviders[0] === 'cuda' ? 'KIND_AUTO' : 'KIND_CPU',
        count: tuning.poolSize === 'auto' ? 1 : Math.max(1, tuning.poolSize),
      },
    ],
    parameters: {
      pool_size: { string_value: String(tuning.poolSize) },
      max_elements: { string_value: String(tuning.maxElements) },
      timeout_ms: { string_value: String(tuning.timeoutMs) },
      execution_providers: { string_value: tuning.executionProviders.join(',') },
      intra_op_thread_count: { string_value: String(tuning.intraOpThreads) },
      inter_op_thread_count: { string_value: String(tuning.interOpThreads) },
      graph_optimization_level: { string_value: tuning.graphOptimizationLevel },
    },
  };
  if (batching) {
    body.dynamic_batching = {
      max_queue_delay_microseconds: Math.round(tuning.maxQueueDelayMs * 1000),
      preferred_batch_size: [...tuning.preferredBatchSizes],
      default_queue_policy: {
        max_queue_size: tuning.maxQueue,
        default_timeout_microseconds: tuning.timeoutMs * 1000,
        timeout_action: 'REJECT',
      },
    };
  }
  return body;
}

/** Options of {@link configRoutesPlugin}. */
export interface ConfigRoutesOptions {
  readonly registry: ServingRegistry;
}

/**
 * Triton's model configuration extension: `GET /v2/models/{m}[/versions/{v}]/config`, scope
 * `infer:{m}`, audited, with the same 403/404/503 answers as the metadata route.
 */
export const configRoutesPlugin = definePlugin(
  (app: FastifyInstance, options: ConfigRoutesOptions, done: (error?: Error) => void) => {
    const { registry } = options;
    for (const prefix of modelPrefixes) {
      app.get(
        `${prefix}/config`,
        {
          config: { policy: { access: 'infer', audit: true } },
          schema: {
            params: modelParamsJsonSchema,
            response: okResponseSchema(modelConfigResponse),
          },
          schemaErrorFormatter: modelParamsError,
        },
        (request: FastifyRequest<{ Params: ModelParams }>) => {
          const { model, version } = parseModelParams(request.params);
          request.bastionTarget = { model, version };
          const lease = registry.acquire(model, version);
          try {
            request.bastionTarget = { model, version: lease.version.version };
            return modelConfigOf(lease.version);
          } finally {
            lease.release();
          }
        },
      );
    }
    done();
  },
  {
    name: 'bastion-config-routes',
    dependencies: ['bastion-request-state', 'bastion-error-handler'],
    decorators: { request: ['bastionTarget'] },
  },
);
