import type { FastifySchemaValidationError } from 'fastify';
import { z } from 'zod';
import { modelNamePattern } from '../config/config-schema.js';
import { BastionError } from '../errors.js';
import { isModelName, versionPattern } from '../models/model-repository.js';
import { jsonSchemaOf } from './openapi-schemas.js';

/**
 * Path parameters of the model routes: the schema the routes declare (Fastify validates with its
 * JSON Schema) and the OpenAPI document describes.
 */
export const modelParamsSchema = z.strictObject({
  model: z.string().regex(modelNamePattern).describe('A model name'),
  version: z
    .string()
    .regex(versionPattern)
    .describe('A model version (a positive integer)')
    .optional(),
});

/** Path parameters of the model routes. */
export type ModelParams = z.input<typeof modelParamsSchema>;

/** {@link modelParamsSchema} as the JSON Schema of a route's `schema.params`. */
export const modelParamsJsonSchema = jsonSchemaOf(modelParamsSchema, 'input');

const notFound = () => new BastionError('MODEL_NOT_FOUND', 'no such model');
const badVersion = () =>
  new BastionError('INVALID_VERSION', 'a model version is a positive integer');

/**
 * The route option `schemaErrorFormatter` of the model routes: a malformed model name is "not
 * found" (names cannot be probed through error messages), a malformed version INVALID_VERSION.
 */
export function modelParamsError(
  errors: readonly FastifySchemaValidationError[],
  context: string,
): Error {
  if (context !== 'params') return new BastionError('INVALID_REQUEST', 'the request is malformed');
  return errors.some((e) => e.instancePath === '/model') ? notFound() : badVersion();
}

/**
 * Converts validated `{model}` and `{version}` path parameters (checked again here, so a route
 * without the schema cannot pass a malformed name on).
 */
export function parseModelParams(params: ModelParams): {
  model: string;
  version: number | undefined;
} {
  if (!isModelName(params.model)) throw notFound();
  if (params.version === undefined) return { model: params.model, version: undefined };
  if (!versionPattern.test(params.version)) throw badVersion();
  return { model: params.model, version: Number(params.version) };
}
