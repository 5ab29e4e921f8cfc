/**
 * Input constraints of a signed policy, compiled once per model version against its signature
 * and checked on the decoded typed arrays of every request (after the schema, before ONNX
 * Runtime). A violation is a 400 `VALUE_OUT_OF_POLICY` naming the input, the element index and
 * the bound.
 */
import { BastionError } from '../errors.js';
import type { HostTensor, TensorSpec } from '../inference/engine.js';
import { float16Value } from '../inference/tensor-codec.js';
import type { ElementBounds, InputConstraintSpec } from './policy-schema.js';
import { PolicyError } from './policy-schema.js';

/** Checks one request's feeds; throws on the first violation. */
export type InputCheck = (feeds: Readonly<Record<string, HostTensor>>) => void;

interface CompiledBounds {
  readonly min: number;
  readonly max: number;
  readonly allowed: ReadonlySet<number> | undefined;
}

const unbounded: CompiledBounds = { min: -Infinity, max: Infinity, allowed: undefined };

function compileBounds(b: ElementBounds | null | undefined): CompiledBounds {
  if (b === null || b === undefined) return unbounded;
  return {
    min: b.min ?? -Infinity,
    max: b.max ?? Infinity,
    allowed: b.allowed === undefined ? undefined : new Set(b.allowed),
  };
}

const numericTypes = new Set([
  'bool',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'int8',
  'int16',
  'int32',
  'int64',
  'float16',
  'float32',
  'float64',
]);

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
    checks.push(compileOne(name, spec, input.type === 'float16'));
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
  half: boolean,
): (feeds: Readonly<Record<string, HostTensor>>) => void {
  const all = compileBounds(spec.all);
  const features = spec.features?.map(compileBounds);
  const width = features?.length ?? 1;
  const refuse = (index: number, value: number, what: string): never => {
    throw new BastionError(
      'VALUE_OUT_OF_POLICY',
      `input "${name}" element ${index}${features === undefined ? '' : ` (feature ${index % width})`} is ${value}; the model's policy requires ${what}`,
    );
  };
  const check = (index: number, value: number, b: CompiledBounds): void => {
    if (value < b.min) refuse(index, value, `≥ ${b.min}`);
    if (value > b.max) refuse(index, value, `≤ ${b.max}`);
    if (b.allowed !== undefined && !b.allowed.has(value)) {
      refuse(index, value, `one of ${[...b.allowed].slice(0, 16).join(', ')}`);
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
