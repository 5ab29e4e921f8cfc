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
import type { ElementBounds, InputConstraintSpec } from './policy-schema.js';
import { PolicyError } from './policy-schema.js';

/** Checks one request's feeds; throws on the first violation. */
export type InputCheck = (feeds: Readonly<Record<string, HostTensor>>) => void;

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
  const checks: ((feeds: Readonly<Record<string, HostTensor>>) => void)[] = [];
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
    for (const check of checks) check(feeds);
  };
}

function compileOne(
  name: string,
  spec: InputConstraintSpec,
  type: string,
): (feeds: Readonly<Record<string, HostTensor>>) => void {
  const precision = precisionOf(type);
  const half = type === 'float16';
  const all = compileBounds(spec.all, precision);
  const features = spec.features?.map((b) => compileBounds(b, precision));
  const width = features?.length ?? 1;
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
    if (tensor === undefined) return;
    const data = tensor.data;
    const n = data.length;
    if (spec.maxElements !== undefined && n > spec.maxElements) {
      throw new BastionError(
        'VALUE_OUT_OF_POLICY',
        `input "${name}" has ${n} elements; the model's policy allows at most ${spec.maxElements}`,
      );
    }
    for (let i = 0; i < n; i++) {
      const raw = data[i];
      const value = half ? float16Value(raw as number) : Number(raw);
      if (spec.finiteOnly && !Number.isFinite(value)) refuse(i, value, 'a finite number');
      check(i, value, all);
      if (features !== undefined) check(i, value, features[i % width] ?? unbounded);
    }
  };
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
