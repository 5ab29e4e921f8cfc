import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { ModelTuning } from '../config/config-schema.js';
import { describeFailure, refusalCodeOf } from './load-failure.js';
import { readModelTuning } from './model-repository.js';
import type {
  FailedVersion,
  ModelEvent,
  ModelLog,
  ReadyFacts,
  ReadyVersion,
} from './model-state.js';
import type { VersionReader } from './version-files.js';
import { selectVersionModel } from './version-model.js';
import type { VersionParts, VersionPreparer } from './version-preparer.js';

/** Dependencies of {@link createVersionLoader}. */
export interface VersionLoaderOptions<P extends VersionParts> {
  readonly repository: string;
  readonly defaults: ModelTuning;
  /** Reads (and verifies) a version folder. */
  readonly readVersion: VersionReader;
  readonly preparer: VersionPreparer<P>;
  /** Decrypts `model.onnx.enc` in memory; absent when no key is configured. */
  readonly decrypt?: ((encrypted: Buffer, model: string) => Buffer) | undefined;
  /** Hears `load` and `refused`; must not throw. */
  readonly emit: (event: ModelEvent) => void;
  readonly log: ModelLog;
}

/** Loads one version from the repository; never rejects: a refusal is a {@link FailedVersion}. */
export type VersionLoader<P extends VersionParts> = (
  model: string,
  version: number,
) => Promise<ReadyVersion<P> | FailedVersion>;

/**
 * Creates the loader of single versions: read and verify the folder, read the model's tuning,
 * pick (and decrypt) the model bytes and check their external data, then hand the result to the
 * preparer. Whatever step fails refuses the version with a reason (see `describeFailure`).
 */
export function createVersionLoader<P extends VersionParts>(
  options: VersionLoaderOptions<P>,
): VersionLoader<P> {
  const { emit, log } = options;
  const refusalCode = (error: unknown): string | undefined => options.preparer.refusalCode?.(error);
  return async (model, version) => {
    try {
      const ready = await readAndPrepare(options, model, version);
      const { signedBy, modelSha256 } = ready;
      emit({ type: 'load', model, version, signedBy, modelSha256 });
      log('info', 'model version ready', { model, version, signedBy });
      return ready;
    } catch (error) {
      const reason = describeFailure(error, options.repository, refusalCode);
      emit({ type: 'refused', model, version, reason, code: refusalCodeOf(error) });
      log('warn', 'model version refused', { model, version, reason });
      return { state: 'failed', model, version, reason };
    }
  };
}

async function readAndPrepare<P extends VersionParts>(
  options: VersionLoaderOptions<P>,
  model: string,
  version: number,
): Promise<ReadyVersion<P>> {
  const modelDir = join(options.repository, model);
  const { files, signedBy } = await options.readVersion(join(modelDir, String(version)), model);
  const tuning = await readModelTuning(modelDir, options.defaults);
  const { bytes, externalData } = selectVersionModel(files, model, {
    decrypt: options.decrypt,
    allowExternalData: tuning.allowExternalData,
  });
  const label = `${model}/${version}`;
  const parts = await options.preparer.prepare({
    model,
    version,
    label,
    files,
    bytes,
    externalData,
    tuning,
  });
  const facts: ReadyFacts = {
    state: 'ready',
    model,
    version,
    tuning,
    modelSha256: createHash('sha256').update(bytes).digest('hex'),
    signedBy,
    loadedAt: new Date(),
  };
  return { ...parts, ...facts };
}
