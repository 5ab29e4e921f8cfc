/**
 * The `mlp` demo model: float32 `input` `[batch,64]` → dense 256 → ReLU → dense 10 → Softmax →
 * `probabilities` `[batch,10]`, with seeded (untrained) weights. A stand-in for a small dense
 * network: each row's probabilities sum to 1.
 */
import { buildMlp, type ModelOptions } from '../onnx/onnx-builder.js';

/** Seed of the `mlp` demo model's weights. */
export const DEMO_MLP_SEED = 20240611;

/** Builds the `mlp` demo model (graph `mlp`). */
export function buildDemoMlpModel(options?: ModelOptions): Uint8Array {
  return buildMlp(
    {
      layers: [64, 256, 10],
      seed: DEMO_MLP_SEED,
      outputName: 'probabilities',
      outputActivation: 'softmax',
      name: 'mlp',
    },
    options,
  );
}
