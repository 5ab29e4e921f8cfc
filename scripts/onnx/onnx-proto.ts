/**
 * Hand-written protobuf encoding of the onnx.proto messages a simple model needs (ModelProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto,
 * TensorShapeProto, OperatorSetIdProto, StringStringEntryProto). Field numbers follow
 * https://github.com/onnx/onnx/blob/main/onnx/onnx.proto; only the fields below are written.
 */
import { Writer } from 'protobufjs/minimal.js';
import { ONNX_DATA_TYPE, type ElemType } from './elem-types.js';

/** One dimension of a declared shape: a size, a symbolic name (`'batch'`), or unknown (`null`). */
export type Dim = number | string | null;

/** A graph input or output (`ValueInfoProto` with a tensor type). */
export interface ValueInfoSpec {
  readonly name: string;
  readonly elemType: ElemType;
  /** The shape; `undefined` leaves the shape out entirely (rank unknown). `[]` is a scalar. */
  readonly dims: readonly Dim[] | undefined;
  readonly docString?: string;
}

/** A fully encoded tensor (`TensorProto`): numeric types in `rawData`, strings in `stringData`. */
export interface TensorSpec {
  readonly name: string;
  readonly elemType: ElemType;
  readonly dims: readonly number[];
  readonly rawData?: Uint8Array;
  readonly stringData?: readonly Uint8Array[];
  /** `external_data` entries (`location`, `offset`, `length`), written in the order given. */
  readonly externalData?: readonly (readonly [string, string])[];
  /** `data_location`: 1 is EXTERNAL. Left out when undefined. */
  readonly dataLocation?: number;
}

/** A sparse tensor (`SparseTensorProto`): `values`, `indices` and the dense shape. */
export interface SparseTensorSpec {
  readonly values: TensorSpec;
  readonly indices: TensorSpec;
  readonly dims: readonly number[];
}

/** A model-local function (`FunctionProto`), for tests that walk every place a tensor may sit. */
export interface FunctionSpec {
  readonly name: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly nodes: readonly NodeSpec[];
  /** Default attribute values (`attribute_proto`). */
  readonly attributeDefaults?: readonly (readonly [string, AttributeValue])[];
}

/** A typed node attribute value (`AttributeProto`). */
export type AttributeValue =
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'ints'; readonly value: readonly number[] }
  | { readonly type: 'floats'; readonly value: readonly number[] }
  | { readonly type: 'strings'; readonly value: readonly string[] }
  | { readonly type: 'tensor'; readonly value: TensorSpec }
  | { readonly type: 'graph'; readonly value: GraphSpec }
  | { readonly type: 'tensors'; readonly value: readonly TensorSpec[] }
  | { readonly type: 'graphs'; readonly value: readonly GraphSpec[] }
  | { readonly type: 'sparse_tensor'; readonly value: SparseTensorSpec }
  | { readonly type: 'sparse_tensors'; readonly value: readonly SparseTensorSpec[] };

/** A node (`NodeProto`). Attributes are written in the order given. */
export interface NodeSpec {
  readonly opType: string;
  readonly name: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: readonly (readonly [string, AttributeValue])[];
}

/** A graph (`GraphProto`). */
export interface GraphSpec {
  readonly name: string;
  readonly docString?: string;
  readonly nodes: readonly NodeSpec[];
  readonly initializers: readonly TensorSpec[];
  readonly inputs: readonly ValueInfoSpec[];
  readonly outputs: readonly ValueInfoSpec[];
  readonly sparseInitializers?: readonly SparseTensorSpec[];
}

/** A whole model (`ModelProto`). */
export interface ModelSpec {
  readonly irVersion: number;
  readonly opsetImports: readonly { readonly domain: string; readonly version: number }[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly modelVersion?: number;
  readonly docString?: string;
  readonly metadata: readonly (readonly [string, string])[];
  readonly graph: GraphSpec;
  readonly functions?: readonly FunctionSpec[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

/** `AttributeProto.AttributeType` codes. */
const ATTRIBUTE_TYPE = {
  float: 1,
  int: 2,
  string: 3,
  tensor: 4,
  graph: 5,
  floats: 6,
  ints: 7,
  strings: 8,
  tensors: 9,
  graphs: 10,
  sparse_tensor: 11,
  sparse_tensors: 12,
} as const satisfies Record<AttributeValue['type'], number>;

const utf8 = new TextEncoder();

function tag(w: Writer, field: number, wire: number): Writer {
  return w.uint32((field << 3) | wire);
}

function str(w: Writer, field: number, value: string | undefined): void {
  if (value !== undefined && value !== '') tag(w, field, WIRE_LEN).string(value);
}

function int64(w: Writer, field: number, value: number): void {
  if (!Number.isSafeInteger(value)) throw new RangeError(`int64 field ${field}: ${value}`);
  tag(w, field, WIRE_VARINT).int64(value);
}

/** Writes a length-delimited sub-message produced by `body`. */
function message(w: Writer, field: number, body: (w: Writer) => void): void {
  tag(w, field, WIRE_LEN).fork();
  body(w);
  w.ldelim();
}

function writeTensor(w: Writer, t: TensorSpec): void {
  // onnx.proto is proto2: repeated scalars are written unpacked, as the reference writer does.
  for (const d of t.dims) int64(w, 1, d);
  tag(w, 2, WIRE_VARINT).int32(ONNX_DATA_TYPE[t.elemType]);
  for (const s of t.stringData ?? []) tag(w, 6, WIRE_LEN).bytes(s);
  str(w, 8, t.name);
  if (t.rawData !== undefined) tag(w, 9, WIRE_LEN).bytes(t.rawData);
  for (const [key, value] of t.externalData ?? []) {
    message(w, 13, (m) => {
      str(m, 1, key);
      str(m, 2, value);
    });
  }
  if (t.dataLocation !== undefined) tag(w, 14, WIRE_VARINT).int32(t.dataLocation);
}

function writeSparseTensor(w: Writer, t: SparseTensorSpec): void {
  message(w, 1, (m) => {
    writeTensor(m, t.values);
  });
  message(w, 2, (m) => {
    writeTensor(m, t.indices);
  });
  for (const d of t.dims) int64(w, 3, d);
}

function writeValueInfo(w: Writer, v: ValueInfoSpec): void {
  str(w, 1, v.name);
  // TypeProto { tensor_type = 1: TypeProto.Tensor { elem_type = 1, shape = 2 } }
  message(w, 2, (type) => {
    message(type, 1, (tensor) => {
      tag(tensor, 1, WIRE_VARINT).int32(ONNX_DATA_TYPE[v.elemType]);
      if (v.dims === undefined) return;
      const dims = v.dims;
      message(tensor, 2, (shape) => {
        for (const d of dims) {
          message(shape, 1, (dim) => {
            if (typeof d === 'number') int64(dim, 1, d);
            else if (typeof d === 'string') str(dim, 2, d);
          });
        }
      });
    });
  });
  str(w, 3, v.docString);
}

function writeAttribute(w: Writer, name: string, a: AttributeValue): void {
  str(w, 1, name);
  tag(w, 20, WIRE_VARINT).int32(ATTRIBUTE_TYPE[a.type]);
  switch (a.type) {
    case 'float':
      tag(w, 2, WIRE_FIXED32).float(a.value);
      break;
    case 'int':
      int64(w, 3, a.value);
      break;
    case 'string':
      tag(w, 4, WIRE_LEN).bytes(utf8.encode(a.value));
      break;
    case 'tensor':
      message(w, 5, (t) => {
        writeTensor(t, a.value);
      });
      break;
    case 'floats':
      for (const f of a.value) tag(w, 7, WIRE_FIXED32).float(f);
      break;
    case 'ints':
      for (const i of a.value) int64(w, 8, i);
      break;
    case 'strings':
      for (const s of a.value) tag(w, 9, WIRE_LEN).bytes(utf8.encode(s));
      break;
    case 'graph':
      message(w, 6, (m) => {
        writeGraph(m, a.value);
      });
      break;
    case 'tensors':
      for (const t of a.value) {
        message(w, 10, (m) => {
          writeTensor(m, t);
        });
      }
      break;
    case 'graphs':
      for (const g of a.value) {
        message(w, 11, (m) => {
          writeGraph(m, g);
        });
      }
      break;
    case 'sparse_tensor':
      message(w, 22, (m) => {
        writeSparseTensor(m, a.value);
      });
      break;
    case 'sparse_tensors':
      for (const t of a.value) {
        message(w, 23, (m) => {
          writeSparseTensor(m, t);
        });
      }
      break;
  }
}

function writeNode(w: Writer, n: NodeSpec): void {
  for (const i of n.inputs) tag(w, 1, WIRE_LEN).string(i);
  for (const o of n.outputs) tag(w, 2, WIRE_LEN).string(o);
  str(w, 3, n.name);
  str(w, 4, n.opType);
  for (const [name, value] of n.attributes) {
    message(w, 5, (m) => {
      writeAttribute(m, name, value);
    });
  }
  str(w, 7, n.domain);
}

function writeGraph(w: Writer, g: GraphSpec): void {
  for (const n of g.nodes) {
    message(w, 1, (m) => {
      writeNode(m, n);
    });
  }
  str(w, 2, g.name);
  for (const t of g.initializers) {
    message(w, 5, (m) => {
      writeTensor(m, t);
    });
  }
  str(w, 10, g.docString);
  for (const v of g.inputs) {
    message(w, 11, (m) => {
      writeValueInfo(m, v);
    });
  }
  for (const v of g.outputs) {
    message(w, 12, (m) => {
      writeValueInfo(m, v);
    });
  }
  for (const t of g.sparseInitializers ?? []) {
    message(w, 15, (m) => {
      writeSparseTensor(m, t);
    });
  }
}

function writeFunction(w: Writer, f: FunctionSpec): void {
  str(w, 1, f.name);
  for (const i of f.inputs) tag(w, 4, WIRE_LEN).string(i);
  for (const o of f.outputs) tag(w, 5, WIRE_LEN).string(o);
  for (const n of f.nodes) {
    message(w, 7, (m) => {
      writeNode(m, n);
    });
  }
  str(w, 10, f.domain);
  for (const [name, value] of f.attributeDefaults ?? []) {
    message(w, 11, (m) => {
      writeAttribute(m, name, value);
    });
  }
}

/**
 * Serialises a model description to ONNX protobuf bytes. Pure and deterministic: the same spec
 * always gives the same bytes. Does no semantic validation (see `createGraph` for that).
 *
 * @throws RangeError if an int64 field holds a value that is not a safe integer.
 */
export function encodeModel(model: ModelSpec): Uint8Array {
  const w = Writer.create();
  int64(w, 1, model.irVersion);
  str(w, 2, model.producerName);
  str(w, 3, model.producerVersion);
  if (model.modelVersion !== undefined) int64(w, 5, model.modelVersion);
  str(w, 6, model.docString);
  message(w, 7, (m) => {
    writeGraph(m, model.graph);
  });
  for (const op of model.opsetImports) {
    message(w, 8, (m) => {
      str(m, 1, op.domain);
      int64(m, 2, op.version);
    });
  }
  for (const [key, value] of model.metadata) {
    message(w, 14, (m) => {
      str(m, 1, key);
      str(m, 2, value);
    });
  }
  for (const f of model.functions ?? []) {
    message(w, 25, (m) => {
      writeFunction(m, f);
    });
  }
  return w.finish();
}
