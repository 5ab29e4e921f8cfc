/**
 * Ready-made models for tests and benchmarks, built with {@link createGraph}.
 */
import type { ElemType } from './elem-types.js';
import { attr, createGraph, type ModelOptions } from './graph-builder.js';
import type { Dim } from './onnx-proto.js';
import { mulberry32, uniformFloat32 } from './prng.js';

/**
 * One input `x` → `Identity` → one output `y`, both of `elemType` and shape `dims` (symbolic
 * names allowed; `[]` is a scalar). Graph name `identity`.
 */
export function buildIdentityModel(
  elemType: ElemType,
  dims: readonly Dim[],
  options?: ModelOptions,
): Uint8Array {
  return createGraph('identity')
    .input('x', elemType, dims)
    .node('Identity', ['x'], ['y'])
    .output('y', elemType, dims)
    .toBytes(options);
}

/** Options for {@link buildMlp}. */
export interface MlpOptions {
  /** Layer widths, input first: `[64, 256, 10]` is 64 → dense 256 → ReLU → dense 10. */
  readonly layers: readonly number[];
  /** PRNG seed for the weights (same seed, same bytes). */
  readonly seed: number;
  /** Default `'input'`. */
  readonly inputName?: string;
  /** Default `'output'`. */
  readonly outputName?: string;
  /** Name of the symbolic batch dim; default `'batch'`. */
  readonly batchDim?: string;
  /** Applied after the last dense layer; default `'none'` (raw logits). */
  readonly outputActivation?: 'none' | 'softmax';
  /** Graph name; default `'mlp'`. */
  readonly name?: string;
}

/**
 * A float32 multi-layer perceptron: `Gemm` layers with `Relu` between them, weights and biases
 * drawn uniformly from ±1/√fan_in (PyTorch's default `Linear` init) with mulberry32(`seed`).
 * Input `[batch, layers[0]]`, output `[batch, layers.at(-1)]`.
 *
 * @throws RangeError if fewer than two layer widths are given or one is not a positive integer.
 */
export function buildMlp(options: MlpOptions, modelOptions?: ModelOptions): Uint8Array {
  const { layers, seed } = options;
  if (layers.length < 2 || layers.some((n) => !Number.isSafeInteger(n) || n <= 0)) {
    throw new RangeError(`buildMlp: bad layer widths [${layers.join(',')}]`);
  }
  const inputName = options.inputName ?? 'input';
  const outputName = options.outputName ?? 'output';
  const batch = options.batchDim ?? 'batch';
  const softmax = options.outputActivation === 'softmax';
  const random = mulberry32(seed);
  const g = createGraph(options.name ?? 'mlp').input(inputName, 'float32', [batch, layers[0]!]);
  let current = inputName;
  for (let l = 1; l < layers.length; l++) {
    const fanIn = layers[l - 1]!;
    const fanOut = layers[l]!;
    const limit = 1 / Math.sqrt(fanIn);
    const last = l === layers.length - 1;
    g.initializer(
      `dense${l}.weight`,
      'float32',
      [fanIn, fanOut],
      uniformFloat32(random, fanIn * fanOut, limit),
    );
    g.initializer(`dense${l}.bias`, 'float32', [fanOut], uniformFloat32(random, fanOut, limit));
    const dense = last && !softmax ? outputName : `dense${l}`;
    g.node('Gemm', [current, `dense${l}.weight`, `dense${l}.bias`], [dense]);
    if (!last) {
      g.node('Relu', [dense], [`relu${l}`]);
      current = `relu${l}`;
    } else if (softmax) {
      g.node('Softmax', [dense], [outputName], { axis: attr.int(-1) });
    }
  }
  return g.output(outputName, 'float32', [batch, layers.at(-1)!]).toBytes(modelOptions);
}

/** Options for {@link buildComputeMlp}. */
export interface ComputeMlpOptions {
  readonly inputs: number;
  readonly hidden: number;
  readonly outputs: number;
  readonly seed: number;
}

/**
 * The compute-bound benchmark model: float32 `input` `[batch, inputs]` → Gemm → Relu → Gemm →
 * `output` `[batch, outputs]` (no softmax). 1024→4096→1024 is ~8.4M weights (~34 MB) and
 * ~16.8 MFLOP per row. Graph name `compute_mlp`.
 */
export function buildComputeMlp(
  options: ComputeMlpOptions,
  modelOptions?: ModelOptions,
): Uint8Array {
  return buildMlp(
    {
      layers: [options.inputs, options.hidden, options.outputs],
      seed: options.seed,
      name: 'compute_mlp',
    },
    modelOptions,
  );
}

/** Lookup table of {@link buildFailingModel}: `y = FAILING_MODEL_TABLE[trunc(x)]`. */
export const FAILING_MODEL_TABLE: readonly number[] = Object.freeze([0, 10, 20, 30]);

/**
 * A model that loads and validates but fails at run time for some input values: float32 `x`
 * `[batch]` → `Cast` to int64 (truncating) → `Gather` from the table `[0, 10, 20, 30]` → float32
 * `y` `[batch]`.
 *
 * - `x` values in `(-5, 4)` succeed: 0 → 0, 1 → 10, 2.7 → 20, 3 → 30 (negatives index from the
 *   end, as `Gather` allows: -1 → 30).
 * - Any value ≥ 4 or ≤ -5 (e.g. `[0, 4]`) makes `session.run` reject with ONNX Runtime's
 *   "indices element out of data bounds" error, for the whole batch.
 *
 * Graph name `failing`.
 */
export function buildFailingModel(options?: ModelOptions): Uint8Array {
  return createGraph('failing')
    .input('x', 'float32', ['batch'])
    .initializer('table', 'float32', [FAILING_MODEL_TABLE.length], FAILING_MODEL_TABLE)
    .node('Cast', ['x'], ['index'], { to: attr.int(7) })
    .node('Gather', ['table', 'index'], ['y'], { axis: attr.int(0) })
    .output('y', 'float32', ['batch'])
    .toBytes(options);
}
