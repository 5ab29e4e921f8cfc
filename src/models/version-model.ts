/**
 * Picks a version's model out of the files that were read (and verified) for it: `model.onnx`,
 * or `model.onnx.enc` decrypted in memory, then applies the external-data policy to those bytes.
 */
import { RefusalError } from '../errors.js';
import { type ExternalDataFile, resolveExternalData } from './external-data.js';

/** The bytes ONNX Runtime gets for one version: the model and its verified external data. */
export interface VersionModel {
  readonly bytes: Buffer;
  readonly externalData: readonly ExternalDataFile[];
}

/**
 * Selects and checks the model of a version folder.
 *
 * @throws RefusalError `model-ambiguous` / `model-missing` when both or neither model file is
 *   present, `model-key-missing` when the model is encrypted without a key; ModelEncryptionError from `decrypt`; ModelContentError `external-data` /
 *   `model-malformed` from the external-data check (the same for encrypted models).
 */
export function selectVersionModel(
  files: ReadonlyMap<string, Buffer>,
  model: string,
  options: {
    readonly decrypt?: ((encrypted: Buffer, model: string) => Buffer) | undefined;
    readonly allowExternalData: boolean;
  },
): VersionModel {
  let bytes = files.get('model.onnx');
  const encrypted = files.get('model.onnx.enc');
  if (bytes !== undefined && encrypted !== undefined) {
    throw new RefusalError(
      'model-ambiguous',
      'both model.onnx and model.onnx.enc are present; keep one',
    );
  }
  if (bytes === undefined && encrypted !== undefined) {
    if (options.decrypt === undefined) {
      throw new RefusalError(
        'model-key-missing',
        'model.onnx.enc is encrypted but no models.encryptionKey is configured',
      );
    }
    bytes = options.decrypt(encrypted, model);
  }
  if (bytes === undefined) {
    throw new RefusalError('model-missing', 'the version folder has no model.onnx');
  }
  return { bytes, externalData: resolveExternalData(bytes, files, options.allowExternalData) };
}
