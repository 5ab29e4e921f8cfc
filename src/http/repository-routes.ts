import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { z } from 'zod';
import { BastionError } from '../errors.js';
import { formatIssue } from '../zod-issues.js';
import type { ModelRegistry } from '../models/model-registry.js';
import { okResponseSchema, repositoryIndexResponse } from './openapi-schemas.js';
import {
  type ModelParams,
  modelParamsError,
  modelParamsJsonSchema,
  parseModelParams,
} from './route-params.js';

/** Repository bodies are tiny option objects; a larger one is refused before it is parsed. */
const controlBodyBytes = 64 * 1024;

/** Body of `POST /v2/repository/index` (also in the OpenAPI document). */
export const indexBody = z.strictObject({ ready: z.boolean().optional() }).optional();
/** Body of the load and unload routes (also in the OpenAPI document). */
export const controlBody = z
  .strictObject({ parameters: z.record(z.string().max(128), z.unknown()).optional() })
  .optional();

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new BastionError(
      'INVALID_REQUEST',
      issue === undefined ? 'request body: invalid' : formatIssue(issue, 'request'),
    );
  }
  return result.data;
}

/** Options of {@link repositoryRoutesPlugin}. */
export interface RepositoryRoutesOptions {
  readonly registry: ModelRegistry;
}

/**
 * The model repository extension (Triton's explicit model control), scope `models:manage`:
 * `POST /v2/repository/index`, `POST /v2/repository/models/{m}/load` and `.../unload`. A load
 * reads and verifies the model from disk again; the new version serves once it is ready and the
 * old one is closed after its in-flight requests finish.
 */
export const repositoryRoutesPlugin = definePlugin(
  (app: FastifyInstance, options: RepositoryRoutesOptions, done: (error?: Error) => void) => {
    const { registry } = options;
    const manage = { policy: { access: 'manage', audit: true } } as const;
    const control = {
      config: manage,
      bodyLimit: controlBodyBytes,
      schema: { params: modelParamsJsonSchema },
      schemaErrorFormatter: modelParamsError,
    };

    app.post(
      '/v2/repository/index',
      {
        config: manage,
        bodyLimit: controlBodyBytes,
        schema: { response: okResponseSchema(repositoryIndexResponse) },
      },
      (request) => {
        const body = parseBody(indexBody, request.body);
        const rows = registry.index();
        return body?.ready === true ? rows.filter((r) => r.state === 'READY') : rows;
      },
    );

    app.post(
      '/v2/repository/models/:model/load',
      control,
      async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
        parseBody(controlBody, request.body);
        const { model } = parseModelParams(request.params);
        request.bastionTarget = { model, version: undefined };
        const states = await registry.load(model);
        const failed = states.filter((s) => s.state === 'failed');
        if (states.length === 0 || failed.length === states.length) {
          const reasons = failed.map((s) => `version ${s.version}: ${s.reason}`).join('; ');
          throw new BastionError(
            'MODEL_NOT_READY',
            `model "${model}" did not load${reasons === '' ? ' (no version folders)' : `: ${reasons}`}`,
          );
        }
        return reply.code(200).send();
      },
    );

    app.post(
      '/v2/repository/models/:model/unload',
      control,
      async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
        parseBody(controlBody, request.body);
        const { model } = parseModelParams(request.params);
        request.bastionTarget = { model, version: undefined };
        await registry.unload(model);
        return reply.code(200).send();
      },
    );
    done();
  },
  {
    name: 'bastion-repository-routes',
    dependencies: ['bastion-request-state', 'bastion-error-handler', 'bastion-json-body'],
    decorators: { request: ['bastionTarget'] },
  },
);
