/**
 * The gateway's model registry: `src/models/`'s registry with the preparer that turns a verified
 * version into what serves it — an engine (`src/inference/`), the request parser derived from its
 * signature, its class labels and its signed policy (`src/policy/`).
 */
import type { ModelTuning } from '../config/config-schema.js';
import { labelsOf } from '../inference/classification.js';
import type { ModelEngine, ModelSignature } from '../inference/engine.js';
import { createInferRequestParser, type InferRequestParser } from '../inference/input-schema.js';
import type { ExternalDataFile } from '../models/external-data.js';
import {
  createModelRegistry,
  type ModelRegistry,
  type ModelRegistryOptions,
} from '../models/model-registry.js';
import type { ReadyVersion } from '../models/model-state.js';
import type { VersionPreparer } from '../models/version-preparer.js';
import { loadModelPolicy, type ModelPolicy, policyFileName } from '../policy/model-policy.js';
import { PolicyError } from '../policy/policy-schema.js';

/** What a version serves with on the gateway. */
export interface ServingParts {
  readonly engine: ModelEngine;
  readonly signature: ModelSignature;
  readonly parser: InferRequestParser;
  /** Class labels from the signed folder's `labels.txt` (classification extension), if any. */
  readonly labels?: readonly string[] | undefined;
  /** The signed `policy.yaml`, compiled; absent when the version has none. */
  readonly policy?: ModelPolicy;
}

/** A version that serves on the gateway. */
export type ServedVersion = ReadyVersion<ServingParts>;

/** The gateway's registry. */
export type ServingRegistry = ModelRegistry<ServingParts>;

/**
 * Creates the engine for a version from its verified model bytes and the verified external-data
 * files they name (empty for a self-contained model).
 */
export type ModelEngineFactory = (
  modelBytes: Uint8Array,
  tuning: ModelTuning,
  target: { readonly model: string; readonly version: number; readonly label: string },
  externalData: readonly ExternalDataFile[],
) => Promise<ModelEngine>;

/**
 * The preparer the gateway's registry uses: creates the engine, then derives the request parser
 * from the engine's signature and compiles the signed policy against it. When either refuses, the
 * engine is closed before the refusal goes on.
 */
export function createVersionPreparer(
  createEngine: ModelEngineFactory,
): VersionPreparer<ServingParts> {
  return {
    async prepare({ model, version, label, files, bytes, externalData, tuning }) {
      const engine = await createEngine(bytes, tuning, { model, version, label }, externalData);
      try {
        const parser = createInferRequestParser(engine.signature, {
          maxElements: tuning.maxElements,
        });
        // The policy is part of the signed folder: verified with the model, compiled against it.
        const policy = loadModelPolicy(files.get(policyFileName), engine.signature);
        return {
          engine,
          signature: engine.signature,
          parser,
          labels: labelsOf(files),
          ...(policy === undefined ? {} : { policy }),
        };
      } catch (error) {
        await engine.close();
        throw error;
      }
    },
    refusalCode: (error) => (error instanceof PolicyError ? error.reason : undefined),
  };
}

/** Options of {@link createServingRegistry}: the registry's, with an engine factory. */
export interface ServingRegistryOptions extends Omit<
  ModelRegistryOptions<ServingParts>,
  'preparer'
> {
  readonly createEngine: ModelEngineFactory;
}

/** Creates the gateway's model registry. Nothing is read until `loadAll`. */
export function createServingRegistry(options: ServingRegistryOptions): ServingRegistry {
  const { createEngine, ...registry } = options;
  return createModelRegistry({ ...registry, preparer: createVersionPreparer(createEngine) });
}
