/**
 * Input constraints of a signed policy, compiled once per model version against its signature
 * and checked on the decoded typed arrays of every request (after the schema, before ONNX
 * Runtime). A violation is a 400 `VALUE_OUT_OF_POLICY` naming the input, the element index and
 * the bound.
 */
import { BastionError } from '../errors.js';
import { elementTypeOf, v2Datatypes } from '../inference/datatypes.js';
import type { HostTensor, TensorSpec } from '../inference/engine.js';
import { float16Bits, float16Value } from '../inference/float16.js';
import { inSlices } from '../inference/slices.js';
import type { ElementBounds, InputConstraintSpec } from './policy-schema.js';
import { PolicyError } from './policy-schema.js';

/**
 * Checks one request's feeds; throws (or rejects) on the first violation. Inputs larger than a
 * slice are checked in slices that yield to the event loop (`slices.ts`): then it returns a
 * promise, else undefined.
 */
export type InputCheck = (feeds: Readonly<Record<string, HostTensor>>) => Promise<void> | undefined;

interface CompiledBounds {
  readonly min: number;
  readonly max: number;
  readonly allowed: ReadonlySet<number> | undefined;
  /** The bounds as the policy wrote them, for messages. */
  readonly said: ElementBounds | undefined;
}

const unbounded: CompiledBounds = {
  min: -Infinity,
  max: Infinity,
  allowed: undefined,
  said: undefined,
};

/**
 * Bounds in the input's own precision: a client's `0.1` reaches the check as float32 0.1, so a
 * bound or category of `0.1` must be compared as float32 too, or the value would fall outside.
 */
function compileBounds(
  b: ElementBounds | null | undefined,
  precision: (v: number) => number,
): CompiledBounds {
  if (b === null || b === undefined) return unbounded;
  return {
    min: b.min === undefined ? -Infinity : precision(b.min),
    max: b.max === undefined ? Infinity : precision(b.max),
    allowed: b.allowed === undefined ? undefined : new Set(b.allowed.map(precision)),
    said: b,
  };
}

function precisionOf(type: string): (v: number) => number {
  if (type === 'float32') return Math.fround;
  if (type === 'float16') return (v) => float16Value(float16Bits(v));
  return (v) => v;
}

/** Every element type but strings: the ones bounds and categories apply to. */
const numericTypes: ReadonlySet<string> = new Set(
  v2Datatypes.map(elementTypeOf).filter((type) => type !== 'string'),
);

/**
 * Compiles the `inputs` section against the model's inputs.
 *
 * @throws PolicyError when a constraint names an unknown or non-numeric input, or its per-feature
 *   list does not match a fixed last dimension.
 */
export function compileInputConstraints(
  constraints: Readonly<Record<string, InputConstraintSpec>>,
  inputs: readonly TensorSpec[],
): InputCheck | undefined {
  const checks: InputCheck[] = [];
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(constraints)) {
    const input = inputs.find((i) => i.name === name);
    if (input === undefined) {
      problems.push(`inputs.${name}: the model has no input "${name}"`);
      continue;
    }
    if (!numericTypes.has(input.type)) {
      problems.push(
        `inputs.${name}: constraints apply to numeric inputs; "${name}" is ${input.type}`,
      );
      continue;
    }
    const last = input.dims.at(-1);
    if (
      spec.features !== undefined &&
      last !== undefined &&
      last > 0 &&
      spec.features.length !== last
    ) {
      problems.push(
        `inputs.${name}.features: lists ${spec.features.length} positions but the last axis has ${last}`,
      );
      continue;
    }
    checks.push(compileOne(name, spec, input.type));
  }
  if (problems.length > 0) throw new PolicyError(problems);
  if (checks.length === 0) return undefined;
  return (feeds) => {
    for (let at = 0; at < checks.length; at++) {
      const pending = checks[at]?.(feeds);
      if (pending !== undefined) return checkRest(pending, checks.slice(at + 1), feeds);
    }
    return undefined;
  };
}

async function checkRest(
  pending: Promise<void>,
  rest: readonly InputCheck[],
  feeds: Readonly<Record<string, HostTensor>>,
): Promise<void> {
  await pending;
  for (const check of rest) await check(feeds);
}

function compileOne(name: string, spec: InputConstraintSpec, type: string): InputCheck {
  const precision = precisionOf(type);
  const half = type === 'float16';
  const all = compileBounds(spec.all, precision);
  const features = spec.features?.map((b) => compileBounds(b, precision));
  const width = features?.length ?? 1;
  const range = combinedRange(all, features, spec.finiteOnly, type);
  const refuse = (index: number, value: number, what: string): never => {
    throw new BastionError(
      'VALUE_OUT_OF_POLICY',
      `input "${name}" element ${index}${features === undefined ? '' : ` (feature ${index % width})`} is ${shortest(value, precision)}; the model's policy requires ${what}`,
    );
  };
  const check = (index: number, value: number, b: CompiledBounds): void => {
    if (value < b.min) refuse(index, value, `≥ ${b.said?.min ?? b.min}`);
    if (value > b.max) refuse(index, value, `≤ ${b.said?.max ?? b.max}`);
    if (b.allowed !== undefined && !b.allowed.has(value)) {
      refuse(index, value, `one of ${(b.said?.allowed ?? []).slice(0, 16).join(', ')}`);
    }
  };
  return (feeds) => {
    const tensor = feeds[name];
    if (tensor === undefined) return undefined;
    const data = tensor.data;
    const n = data.length;
    if (spec.maxElements !== undefined && n > spec.maxElements) {
      throw new BastionError(
        'VALUE_OUT_OF_POLICY',
        `input "${name}" has ${n} elements; the model's policy allows at most ${spec.maxElements}`,
      );
    }
    const exact = (i: number): void => {
      const raw = data[i];
      const value = half ? float16Value(raw as number) : Number(raw);
      if (spec.finiteOnly && !Number.isFinite(value)) refuse(i, value, 'a finite number');
      check(i, value, all);
      if (features !== undefined) check(i, value, features[i % width] ?? unbounded);
    };
    if (range !== undefined && isNumberArray(data)) {
      return inSlices(n, (from, to) => {
        inRange(data, range, from, to, exact);
      });
    }
    return inSlices(n, (from, to) => {
      for (let i = from; i < to; i++) exact(i);
    });
  };
}

/** The typed arrays whose elements are plain numbers (not BigInt). */
type NumberArray = Exclude<HostTensor['data'], string[] | BigInt64Array | BigUint64Array>;

function isNumberArray(data: HostTensor['data']): data is NumberArray {
  return (
    !Array.isArray(data) && !(data instanceof BigInt64Array) && !(data instanceof BigUint64Array)
  );
}

/** Per feature position, the one interval an element must lie in (finite when finiteOnly). */
interface CombinedRange {
  readonly lo: Float64Array;
  readonly hi: Float64Array;
}

/**
 * Bounds without categories, combined per feature position with the `all` bounds, so that the
 * hot loop makes two comparisons per element; undefined when some bound has categories or the
 * values need decoding (FP16), which take the exact check for every element.
 */
function combinedRange(
  all: CompiledBounds,
  features: readonly CompiledBounds[] | undefined,
  finiteOnly: boolean,
  type: string,
): CombinedRange | undefined {
  if (type === 'float16' || all.allowed !== undefined) return undefined;
  if (features?.some((f) => f.allowed !== undefined) === true) return undefined;
  const width = features?.length ?? 1;
  const lo = new Float64Array(width);
  const hi = new Float64Array(width);
  const finite = finiteOnly ? Number.MAX_VALUE : Infinity;
  for (let j = 0; j < width; j++) {
    const f = features?.[j] ?? unbounded;
    lo[j] = Math.max(all.min, f.min, -finite);
    hi[j] = Math.min(all.max, f.max, finite);
  }
  return { lo, hi };
}

/**
 * Elements `[from, to)` against their position's interval; any element outside it (NaN
 * included) gets the exact check, which throws the error the element-by-element loop would (or
 * lets a value pass that the interval cannot express, such as NaN without `finiteOnly`).
 */
function inRange(
  data: NumberArray,
  range: CombinedRange,
  from: number,
  to: number,
  exact: (index: number) => void,
): void {
  const { lo, hi } = range;
  const width = lo.length;
  let j = from % width;
  for (let i = from; i < to; i++) {
    const v = data[i] ?? 0;
    if (!(v >= (lo[j] ?? 0) && v <= (hi[j] ?? 0))) exact(i);
    j = j + 1 === width ? 0 : j + 1;
  }
}

/** The shortest decimal that is the same value in the input's precision (float32 1.4, not 1.39999…). */
function shortest(value: number, precision: (v: number) => number): string {
  if (!Number.isFinite(value)) return String(value);
  for (let digits = 1; digits <= 17; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (precision(candidate) === value) return String(candidate);
  }
  return String(value);
}
