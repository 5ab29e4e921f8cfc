/**
 * A small fluent builder for ONNX graphs, checked for the mistakes that otherwise only surface
 * as an opaque ONNX Runtime load error (undefined inputs, duplicate names, wrong data sizes).
 */
import type { ElemType } from './elem-types.js';
import {
  encodeModel,
  type AttributeValue,
  type Dim,
  type ModelSpec,
  type NodeSpec,
  type TensorSpec,
  type ValueInfoSpec,
} from './onnx-proto.js';
import { createTensor, type TensorValues } from './tensor-data.js';

/** ONNX IR version written by default (ONNX 1.13+, read by every ONNX Runtime since 1.14). */
export const DEFAULT_IR_VERSION = 8;
/** Default-domain opset written by default. */
export const DEFAULT_OPSET = 17;

/** Typed attribute constructors: `{ axis: attr.int(1), alpha: attr.float(1) }`. */
export const attr = {
  int: (value: number): AttributeValue => ({ type: 'int', value }),
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  string: (value: string): AttributeValue => ({ type: 'string', value }),
  ints: (value: readonly number[]): AttributeValue => ({ type: 'ints', value: [...value] }),
  floats: (value: readonly number[]): AttributeValue => ({ type: 'floats', value: [...value] }),
  strings: (value: readonly string[]): AttributeValue => ({ type: 'strings', value: [...value] }),
  /** A tensor attribute (e.g. `Constant`'s `value`); the tensor's own name may be `''`. */
  tensor: (elemType: ElemType, dims: readonly number[], values: TensorValues): AttributeValue => ({
    type: 'tensor',
    value: createTensor('', elemType, dims, values),
  }),
} as const;

/** Model-level options for {@link GraphBuilder.toBytes}. */
export interface ModelOptions {
  /** Default {@link DEFAULT_IR_VERSION}. */
  readonly irVersion?: number;
  /** Default-domain (`ai.onnx`) opset version; default {@link DEFAULT_OPSET}. */
  readonly opsetVersion?: number;
  /** Further opsets, e.g. `[{ domain: 'ai.onnx.ml', version: 3 }]`. */
  readonly extraOpsets?: readonly { readonly domain: string; readonly version: number }[];
  /** Default `'bastion-onnx-builder'`. */
  readonly producerName?: string;
  /** Default `'1'`. */
  readonly producerVersion?: string;
  readonly modelVersion?: number;
  readonly docString?: string;
  /** Written as `metadata_props`, in key order, so output stays deterministic. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Per-node options for {@link GraphBuilder.node}. */
export interface NodeOptions {
  /** Node name; defaults to `<opType>_<index>`. */
  readonly name?: string;
  /** Operator domain; default `''` (ai.onnx). */
  readonly domain?: string;
}

/** Fluent graph builder returned by {@link createGraph}. Nodes must be added in topological order. */
export interface GraphBuilder {
  readonly name: string;
  /** Declares a graph input. `dims` entries: a size, a symbolic name like `'batch'`, or `null`. */
  input(name: string, elemType: ElemType, dims: readonly Dim[]): GraphBuilder;
  /** Declares a graph output; `dims` may be `undefined` to leave the shape unspecified. */
  output(name: string, elemType: ElemType, dims: readonly Dim[] | undefined): GraphBuilder;
  /** Adds a constant tensor (weights). See {@link TensorValues} for accepted data. */
  initializer(
    name: string,
    elemType: ElemType,
    dims: readonly number[],
    values: TensorValues,
  ): GraphBuilder;
  /** Adds a node. Use `''` for an omitted optional input. */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes?: Readonly<Record<string, AttributeValue>>,
    options?: NodeOptions,
  ): GraphBuilder;
  /** The validated model description (what {@link GraphBuilder.toBytes} encodes). */
  toSpec(options?: ModelOptions): ModelSpec;
  /** The serialised ONNX model. Deterministic: equal graphs and options give equal bytes. */
  toBytes(options?: ModelOptions): Uint8Array;
}

function checkDims(what: string, dims: readonly Dim[]): void {
  for (const d of dims) {
    const ok =
      d === null ||
      (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) ||
      (typeof d === 'string' && d.length > 0);
    if (!ok) throw new RangeError(`${what}: bad dim ${String(d)}`);
  }
}

/**
 * Starts a new graph.
 *
 * @throws Error (from the builder methods) on an empty or duplicate name, a bad dim, or tensor data
 *   that does not match its shape; `toSpec`/`toBytes` throw if a node reads a value not yet
 *   defined, or an output is never produced.
 */
export function createGraph(name: string, docString?: string): GraphBuilder {
  const inputs: ValueInfoSpec[] = [];
  const outputs: ValueInfoSpec[] = [];
  const initializers: TensorSpec[] = [];
  const nodes: NodeSpec[] = [];
  const declared = new Set<string>();

  function claim(kind: string, value: string): void {
    if (value === '') throw new Error(`graph ${name}: ${kind} needs a name`);
    if (declared.has(value)) throw new Error(`graph ${name}: ${kind} ${value} is already defined`);
    declared.add(value);
  }

  function validate(): void {
    const available = new Set<string>([
      ...inputs.map((v) => v.name),
      ...initializers.map((t) => t.name),
    ]);
    for (const n of nodes) {
      for (const i of n.inputs) {
        if (i !== '' && !available.has(i)) {
          throw new Error(
            `graph ${name}: node ${n.name} reads ${i}, which is not defined before it`,
          );
        }
      }
      for (const o of n.outputs) if (o !== '') available.add(o);
    }
    if (outputs.length === 0) throw new Error(`graph ${name}: no outputs declared`);
    for (const o of outputs) {
      if (!available.has(o.name))
        throw new Error(`graph ${name}: output ${o.name} is never produced`);
    }
  }

  const builder: GraphBuilder = {
    name,
    input(valueName, elemType, dims) {
      claim('input', valueName);
      checkDims(`input ${valueName}`, dims);
      inputs.push({ name: valueName, elemType, dims: [...dims] });
      return builder;
    },
    output(valueName, elemType, dims) {
      if (outputs.some((o) => o.name === valueName)) {
        throw new Error(`graph ${name}: output ${valueName} declared twice`);
      }
      if (dims !== undefined) checkDims(`output ${valueName}`, dims);
      outputs.push({ name: valueName, elemType, dims: dims === undefined ? undefined : [...dims] });
      return builder;
    },
    initializer(valueName, elemType, dims, values) {
      claim('initializer', valueName);
      initializers.push(createTensor(valueName, elemType, dims, values));
      return builder;
    },
    node(opType, nodeInputs, nodeOutputs, attributes = {}, options = {}) {
      const nodeName = options.name ?? `${opType}_${nodes.length}`;
      for (const o of nodeOutputs) if (o !== '') claim(`output of ${nodeName}`, o);
      nodes.push({
        opType,
        name: nodeName,
        domain: options.domain ?? '',
        inputs: [...nodeInputs],
        outputs: [...nodeOutputs],
        attributes: Object.entries(attributes),
      });
      return builder;
    },
    toSpec(options = {}) {
      validate();
      return {
        irVersion: options.irVersion ?? DEFAULT_IR_VERSION,
        opsetImports: [
          { domain: '', version: options.opsetVersion ?? DEFAULT_OPSET },
          ...(options.extraOpsets ?? []),
        ],
        producerName: options.producerName ?? 'bastion-onnx-builder',
        producerVersion: options.producerVersion ?? '1',
        ...(options.modelVersion === undefined ? {} : { modelVersion: options.modelVersion }),
        ...(options.docString === undefined ? {} : { docString: options.docString }),
        metadata: Object.entries(options.metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)),
        graph: {
          name,
          ...(docString === undefined ? {} : { docString }),
          nodes: [...nodes],
          initializers: [...initializers],
          inputs: [...inputs],
          outputs: [...outputs],
        },
      };
    },
    toBytes(options) {
      return encodeModel(builder.toSpec(options));
    },
  };
  return builder;
}
