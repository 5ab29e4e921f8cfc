/**
 * Out-of-distribution scoring: the squared Mahalanobis distance of each row to the training mean,
 * `(x − μ)ᵀ Σ⁻¹ (x − μ)`. Unlike per-feature z-scores it accounts for correlation, so a row whose
 * every feature is plausible but whose combination is not (iris: a long petal that is also very
 * thin) scores high. One `n × n` product per row: for iris, 20 multiply-adds.
 *
 * {@link fitMahalanobis} builds the reference from training rows (`bastion policy fit`, and the
 * demo generator for iris).
 */
import type { HostTensor, TensorSpec } from '../inference/engine.js';
import { inSlices, type MaybePromise, rowsPerSlice } from '../inference/slices.js';
import { PolicyError, type OodSpec } from './policy-schema.js';

/**
 * Scores each row of one input tensor; returns the highest row score (a promise when the tensor
 * is scored in slices that yield to the event loop: `slices.ts`).
 */
export type OodScorer = (tensor: HostTensor) => MaybePromise<number>;

const floatTypes = new Set(['float32', 'float64']);

/**
 * Compiles the OOD section against the model's inputs.
 *
 * @throws PolicyError when the input is unknown, not FP32/FP64, or its last axis does not match.
 */
export function compileOodScorer(spec: OodSpec, inputs: readonly TensorSpec[]): OodScorer {
  const input = inputs.find((i) => i.name === spec.input);
  if (input === undefined)
    throw new PolicyError([`ood.input: the model has no input "${spec.input}"`]);
  if (!floatTypes.has(input.type)) {
    throw new PolicyError([`ood.input: "${spec.input}" must be FP32 or FP64, not ${input.type}`]);
  }
  const n = spec.mean.length;
  const last = input.dims.at(-1);
  if (last === undefined || (last > 0 && last !== n)) {
    throw new PolicyError([
      `ood.mean: ${n} features, but input "${spec.input}" has ${last === undefined ? 'no axis' : `${last} on its last axis`}`,
    ]);
  }
  const mean = Float64Array.from(spec.mean);
  const inverse = Float64Array.from(spec.inverseCovariance.flat());
  const diff = new Float64Array(n);
  return (tensor) => {
    const data = tensor.data as Float32Array | Float64Array;
    const rows = Math.floor(data.length / n);
    let worst = 0;
    // `diff` is shared by every call, but only within one row: slices of two requests never
    // interleave inside a row.
    const pending = inSlices(
      rows,
      (from, to) => {
        for (let r = from; r < to; r++) {
          const score = mahalanobis(data, r * n, mean, inverse, diff);
          if (!(score <= worst)) worst = score;
        }
      },
      rowsPerSlice(n),
    );
    return pending === undefined ? worst : pending.then(() => worst);
  };
}

function mahalanobis(
  data: ArrayLike<number>,
  offset: number,
  mean: Float64Array,
  inverse: Float64Array,
  diff: Float64Array,
): number {
  const n = mean.length;
  for (let j = 0; j < n; j++) diff[j] = (data[offset + j] ?? 0) - (mean[j] ?? 0);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < n; j++) row += (inverse[i * n + j] ?? 0) * (diff[j] ?? 0);
    sum += (diff[i] ?? 0) * row;
  }
  return sum;
}

/** Options of {@link fitMahalanobis}. */
export interface FitOptions {
  /** The training-score quantile the threshold starts from; default 0.99. */
  readonly quantile?: number;
  /** Headroom over that quantile; default 0.25 (threshold = quantile score × 1.25). */
  readonly slack?: number;
  /**
   * Ridge added to the covariance diagonal, as a fraction of its mean variance, so that a
   * constant or collinear feature still gives an invertible matrix; default 1e-6.
   */
  readonly ridge?: number;
}

/** A fitted reference: the policy's `ood` section without input and action. */
export interface FittedReference {
  readonly mean: number[];
  readonly inverseCovariance: number[][];
  readonly threshold: number;
  readonly fitted: { readonly rows: number; readonly quantile: number };
  /** Each training row's score, for reporting. */
  readonly trainingScores: Float64Array;
}

/**
 * Fits the Mahalanobis reference to training rows.
 *
 * @throws RangeError for fewer than two rows, ragged rows or non-finite values.
 */
export function fitMahalanobis(
  rows: readonly (readonly number[])[],
  options: FitOptions = {},
): FittedReference {
  const quantile = options.quantile ?? 0.99;
  const slack = options.slack ?? 0.25;
  const ridge = options.ridge ?? 1e-6;
  const m = rows.length;
  const n = rows[0]?.length ?? 0;
  if (m < 2 || n === 0) throw new RangeError('need at least two rows of at least one feature');
  for (const [i, row] of rows.entries()) {
    if (row.length !== n)
      throw new RangeError(`row ${i + 1} has ${row.length} values, expected ${n}`);
    if (!row.every(Number.isFinite)) throw new RangeError(`row ${i + 1} has a non-finite value`);
  }
  const mean = new Array<number>(n).fill(0);
  for (const row of rows) for (let j = 0; j < n; j++) mean[j] = (mean[j] ?? 0) + (row[j] ?? 0) / m;
  const cov = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const row of rows) {
    for (let i = 0; i < n; i++) {
      const di = (row[i] ?? 0) - (mean[i] ?? 0);
      const ci = cov[i] as number[];
      for (let j = 0; j < n; j++)
        ci[j] = (ci[j] ?? 0) + (di * ((row[j] ?? 0) - (mean[j] ?? 0))) / (m - 1);
    }
  }
  const meanVariance = cov.reduce((s, r, i) => s + (r[i] ?? 0), 0) / n;
  for (let i = 0; i < n; i++) {
    const ci = cov[i] as number[];
    ci[i] = (ci[i] ?? 0) + ridge * (meanVariance > 0 ? meanVariance : 1);
  }
  const inverse = invert(cov);
  const flatMean = Float64Array.from(mean);
  const flatInverse = Float64Array.from(inverse.flat());
  const diff = new Float64Array(n);
  const scores = Float64Array.from(rows, (row) => mahalanobis(row, 0, flatMean, flatInverse, diff));
  const sorted = Float64Array.from(scores).sort();
  const at = sorted[Math.min(m - 1, Math.ceil(quantile * m) - 1)] ?? 0;
  return {
    mean,
    inverseCovariance: inverse,
    threshold: Math.max(at * (1 + slack), Number.EPSILON),
    fitted: { rows: m, quantile },
    trainingScores: scores,
  };
}

/** Gauss–Jordan inversion with partial pivoting. */
function invert(matrix: readonly (readonly number[])[]): number[][] {
  const n = matrix.length;
  const a = matrix.map((row, i) => [
    ...row,
    ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)),
  ]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(a[r]?.[col] ?? 0) > Math.abs(a[pivot]?.[col] ?? 0)) pivot = r;
    }
    const p = a[pivot]?.[col] ?? 0;
    if (Math.abs(p) < 1e-300) throw new RangeError('the covariance matrix is singular');
    [a[col], a[pivot]] = [a[pivot] as number[], a[col] as number[]];
    const rowCol = a[col] as number[];
    for (let j = 0; j < 2 * n; j++) rowCol[j] = (rowCol[j] ?? 0) / p;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const row = a[r] as number[];
      const f = row[col] ?? 0;
      if (f === 0) continue;
      for (let j = 0; j < 2 * n; j++) row[j] = (row[j] ?? 0) - f * (rowCol[j] ?? 0);
    }
  }
  return a.map((row) => row.slice(n));
}
