import { BastionError } from '../errors.js';
import { versionPattern } from '../models/model-repository.js';

/**
 * KServe's client adds a top-level `model_name` (and may add `model_version`) to every infer
 * body: they must name the model and version that serve the request (the path's, or with no
 * version in the path, the highest ready one), and are removed before validation.
 *
 * @throws BastionError INVALID_REQUEST when they differ or are not strings.
 */
export function takeModelFields(body: unknown, model: string, version: number): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  const fields = body as Record<string, unknown>;
  if ('model_name' in fields) {
    if (fields.model_name !== model) {
      throw new BastionError('INVALID_REQUEST', 'model_name in the body differs from the path');
    }
    delete fields.model_name;
  }
  if ('model_version' in fields) {
    const named = fields.model_version;
    if (typeof named !== 'string' || !versionPattern.test(named) || Number(named) !== version) {
      throw new BastionError(
        'INVALID_REQUEST',
        'model_version in the body differs from the version that serves this request',
      );
    }
    delete fields.model_version;
  }
}
