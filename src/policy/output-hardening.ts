/**
 * Output hardening of a signed policy: least privilege for what a model's answer reveals.
 * `labelOnly` withholds every output but the label; `topK` keeps the k highest scores of each
 * row (the rest answer 0); `round` rounds scores to N decimals. Callers holding
 * `infer:<model>:full` see unhardened outputs when the policy sets `allowFullScope`.
 */
import { BastionError } from '../errors.js';
import type { HostTensor, TensorSpec } from '../inference/engine.js';
import { inSlices, type MaybePromise, rowsPerSlice } from '../inference/slices.js';
import { PolicyError, type OutputHardeningSpec } from './policy-schema.js';

/** The compiled output section. */
export interface OutputHardening {
  /**
   * The outputs to return for a request that asked for `requested` (every output when it named
   * none: `explicit` false).
   *
   * @throws BastionError FORBIDDEN when it explicitly asks for a withheld output.
   */
  select(requested: readonly string[], explicit: boolean, model: string): readonly string[];
  /**
   * Returns hardened copies of the score outputs among `outputs` (others unchanged; `outputs`
   * itself when the policy neither keeps top-k nor rounds); a promise when a large output is
   * hardened in slices that yield to the event loop (`slices.ts`).
   */
  harden(outputs: Readonly<Record<string, HostTensor>>): MaybePromise<Record<string, HostTensor>>;
  /** True when `roundJson` changes output `name` (a score output and `round` set). */
  rounds(name: string): boolean;
  /** Rounds a JSON-encoded score output's numbers (exact decimals, not float32 noise). */
  roundJson(name: string, data: unknown[]): void;
  readonly allowFullScope: boolean;
}

const floatTypes = new Set(['float32', 'float64']);

/**
 * Compiles the output section against the model's outputs.
 *
 * @throws PolicyError when it names an unknown output or a non-float score output.
 */
export function compileOutputHardening(
  spec: OutputHardeningSpec,
  outputs: readonly TensorSpec[],
): OutputHardening {
  const problems: string[] = [];
  const byName = new Map(outputs.map((o) => [o.name, o]));
  if (spec.labelOnly !== undefined && !byName.has(spec.labelOnly)) {
    problems.push(`output.labelOnly: the model has no output "${spec.labelOnly}"`);
  }
  const scores = new Set(
    spec.scores ?? outputs.filter((o) => floatTypes.has(o.type)).map((o) => o.name),
  );
  for (const name of scores) {
    const out = byName.get(name);
    if (out === undefined) problems.push(`output.scores: the model has no output "${name}"`);
    else if (!floatTypes.has(out.type)) {
      problems.push(`output.scores: "${name}" is ${out.type}; scores must be FP32 or FP64`);
    }
  }
  if (problems.length > 0) throw new PolicyError(problems);
  const { labelOnly, topK, round } = spec;
  const scale = round === undefined ? 1 : 10 ** round;

  const roundValue = (v: number): number => Math.round(v * scale) / scale;

  return {
    allowFullScope: spec.allowFullScope,
    select(requested, explicit, model) {
      if (labelOnly === undefined) return requested;
      if (!explicit) return [labelOnly];
      const withheld = requested.find((name) => name !== labelOnly);
      if (withheld !== undefined) {
        throw new BastionError(
          'FORBIDDEN',
          `output "${withheld}" is withheld by the model's policy; only "${labelOnly}" is returned${spec.allowFullScope ? ` (scope infer:${model}:full sees every output)` : ''}`,
        );
      }
      return requested;
    },
    harden(all) {
      // Without top-k or rounding nothing changes a score (labelOnly works through select).
      if (topK === undefined && round === undefined) return all;
      const out: Record<string, HostTensor> = { ...all };
      let pending: Promise<void> | undefined;
      for (const name of scores) {
        const tensor = all[name];
        if (tensor === undefined) continue;
        const source = tensor.data as Float32Array | Float64Array;
        const data =
          source instanceof Float32Array
            ? new Float32Array(source.length)
            : new Float64Array(source.length);
        const width = Math.max(1, tensor.dims.at(-1) ?? data.length);
        // Row by row (top-k works on rows), copied as it goes: a slice at a time for large outputs.
        const rows = Math.ceil(data.length / width);
        const step = (from: number, to: number): void => {
          const start = from * width;
          const end = Math.min(data.length, to * width);
          data.set(source.subarray(start, end), start);
          const part = data.subarray(start, end);
          if (topK !== undefined && width > topK) keepTopK(part, width, topK);
          if (round !== undefined)
            for (let i = 0; i < part.length; i++) part[i] = roundValue(part[i] ?? 0);
        };
        out[name] = { type: tensor.type, dims: tensor.dims, data };
        pending =
          pending === undefined
            ? inSlices(rows, step, rowsPerSlice(width))
            : pending.then(() => inSlices(rows, step, rowsPerSlice(width)));
      }
      return pending === undefined ? out : pending.then(() => out);
    },
    rounds: (name) => round !== undefined && scores.has(name),
    roundJson(name, data) {
      if (round === undefined || !scores.has(name)) return;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (typeof v === 'number') data[i] = roundValue(v);
      }
    },
  };
}

/** Zeroes all but the k highest values of each row of `width` (ties: the first ones kept). */
function keepTopK(data: Float32Array | Float64Array, width: number, k: number): void {
  const order = new Array<number>(width);
  for (let start = 0; start + width <= data.length; start += width) {
    for (let j = 0; j < width; j++) order[j] = j;
    order.sort((a, b) => (data[start + b] ?? 0) - (data[start + a] ?? 0) || a - b);
    for (let j = k; j < width; j++) data[start + (order[j] ?? 0)] = 0;
  }
}
