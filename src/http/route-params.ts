import { BastionError } from '../errors.js';
import { isModelName, versionPattern } from '../models/model-repository.js';

/** Path parameters of the model routes. */
export interface ModelParams {
  model: string;
  version?: string;
}

/**
 * Validates `{model}` and `{version}` path parameters. A malformed model name is reported as
 * "not found" so that names cannot be probed through error messages.
 */
export function parseModelParams(params: ModelParams): {
  model: string;
  version: number | undefined;
} {
  if (!isModelName(params.model)) {
    throw new BastionError('MODEL_NOT_FOUND', 'no such model');
  }
  if (params.version === undefined) return { model: params.model, version: undefined };
  if (!versionPattern.test(params.version)) {
    throw new BastionError('INVALID_VERSION', 'a model version is a positive integer');
  }
  return { model: params.model, version: Number(params.version) };
}
