/**
 * Finds every ONNX *external data* reference in a serialized ModelProto, without building the
 * model: a wire-level walk (protobufjs's `Reader`) over exactly the messages that can hold a
 * `TensorProto` — graph initializers, sparse initializers (values and indices), tensors inside
 * node attributes (`t`, `tensors`, `sparse_tensor`, `sparse_tensors`), every subgraph (`g`,
 * `graphs`: If/Loop/Scan bodies, recursively), model-local functions (their nodes and attribute
 * defaults) and training-info graphs. Raw tensor bytes are skipped, not copied, so the walk costs
 * one pass over the tags. Field numbers follow onnx/onnx.proto.
 *
 * Like protobuf itself, a field whose wire type does not match its declaration is an unknown
 * field and skipped; a repeated or re-sent message is walked every time it appears.
 */
import protobuf from 'protobufjs/minimal.js';

const { Reader } = protobuf;
type WireReader = protobuf.Reader;

/** One tensor whose data ONNX Runtime would fetch from outside the model bytes. */
export interface ExternalDataReference {
  /** Where in the model it sits, for messages: `graph "main" initializer "w"`. */
  readonly where: string;
  /** Every `location` entry (normally exactly one). */
  readonly locations: readonly string[];
  /** `offset` / `length` entries as written (decimal text), if any. */
  readonly offset: string | undefined;
  readonly length: string | undefined;
}

/** The model bytes are not a readable protobuf, or nest deeper than any real model. */
export class OnnxParseError extends Error {
  override readonly name = 'OnnxParseError';
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
/** Nested messages deeper than this are refused (real models nest a handful of subgraphs). */
const maxDepth = 200;

interface Walk {
  readonly r: WireReader;
  readonly found: ExternalDataReference[];
}

/** Calls `onField` for each field of the message ending at `end`; skips the rest. */
function fields(walk: Walk, end: number, onField: (field: number, wire: number) => boolean): void {
  const { r } = walk;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 0) throw new OnnxParseError('field number 0');
    if (!onField(field, wire)) r.skipType(wire, 0, field);
    if (r.pos > end) throw new OnnxParseError('a field runs past the end of its message');
  }
}

/** Reads a length prefix and returns where that sub-message ends. */
function subEnd(walk: Walk, depth: number): number {
  if (depth > maxDepth) throw new OnnxParseError(`messages nest deeper than ${maxDepth} levels`);
  const length = walk.r.uint32();
  const end = walk.r.pos + length;
  if (end > walk.r.len) throw new OnnxParseError('a message runs past the end of the model');
  return end;
}

function tensor(walk: Walk, depth: number, where: string): void {
  const end = subEnd(walk, depth);
  let name = '';
  let external = false as boolean; // set inside the callback below
  const locations: string[] = [];
  let offset: string | undefined;
  let length: string | undefined;
  let entries = 0;
  fields(walk, end, (field, wire) => {
    if (field === 8 && wire === WIRE_LEN) {
      name = walk.r.string();
    } else if (field === 14 && wire === WIRE_VARINT) {
      // data_location: DEFAULT = 0, EXTERNAL = 1; any other value is treated as external too.
      if (walk.r.int32() !== 0) external = true;
    } else if (field === 13 && wire === WIRE_LEN) {
      entries += 1;
      const entryEnd = subEnd(walk, depth + 1);
      let key = '';
      let value = '';
      fields(walk, entryEnd, (f, w) => {
        if (w !== WIRE_LEN || (f !== 1 && f !== 2)) return false;
        if (f === 1) key = walk.r.string();
        else value = walk.r.string();
        return true;
      });
      if (key === 'location') locations.push(value);
      else if (key === 'offset') offset = value;
      else if (key === 'length') length = value;
    } else {
      return false;
    }
    return true;
  });
  if (external || entries > 0) {
    walk.found.push({ where: `${where} ${JSON.stringify(name)}`, locations, offset, length });
  }
}

function sparseTensor(walk: Walk, depth: number, where: string): void {
  const end = subEnd(walk, depth);
  fields(walk, end, (field, wire) => {
    if (wire !== WIRE_LEN || (field !== 1 && field !== 2)) return false;
    tensor(walk, depth + 1, `${where} ${field === 1 ? 'values' : 'indices'}`);
    return true;
  });
}

function attribute(walk: Walk, depth: number, where: string): void {
  const end = subEnd(walk, depth);
  fields(walk, end, (field, wire) => {
    if (wire !== WIRE_LEN) return false;
    switch (field) {
      case 5: // t
      case 10: // tensors
        tensor(walk, depth + 1, `${where} tensor`);
        return true;
      case 22: // sparse_tensor
      case 23: // sparse_tensors
        sparseTensor(walk, depth + 1, `${where} sparse tensor`);
        return true;
      case 6: // g
      case 11: // graphs
        graph(walk, depth + 1, `${where} subgraph`);
        return true;
      default:
        return false;
    }
  });
}

function node(walk: Walk, depth: number, where: string): void {
  const end = subEnd(walk, depth);
  let name = '';
  let attributes = 0;
  fields(walk, end, (field, wire) => {
    if (wire !== WIRE_LEN) return false;
    if (field === 3) {
      name = walk.r.string();
      return true;
    }
    if (field !== 5) return false;
    attributes += 1;
    // The node's name may follow its attributes on the wire; the index keeps messages useful.
    attribute(walk, depth + 1, `${where} node ${name === '' ? `#${attributes}` : name} attribute`);
    return true;
  });
}

function graph(walk: Walk, depth: number, where: string): void {
  const end = subEnd(walk, depth);
  fields(walk, end, (field, wire) => {
    if (wire !== WIRE_LEN) return false;
    switch (field) {
      case 1: // node
        node(walk, depth + 1, where);
        return true;
      case 5: // initializer
        tensor(walk, depth + 1, `${where} initializer`);
        return true;
      case 15: // sparse_initializer
        sparseTensor(walk, depth + 1, `${where} sparse initializer`);
        return true;
      default:
        return false;
    }
  });
}

function functionProto(walk: Walk, depth: number): void {
  const end = subEnd(walk, depth);
  fields(walk, end, (field, wire) => {
    if (wire !== WIRE_LEN) return false;
    if (field === 7) node(walk, depth + 1, 'function');
    else if (field === 11) attribute(walk, depth + 1, 'function default attribute');
    else return false;
    return true;
  });
}

function trainingInfo(walk: Walk, depth: number): void {
  const end = subEnd(walk, depth);
  fields(walk, end, (field, wire) => {
    if (wire !== WIRE_LEN || (field !== 1 && field !== 2)) return false;
    graph(walk, depth + 1, 'training graph');
    return true;
  });
}

/**
 * Lists every tensor in `model` (ModelProto bytes) that stores its data externally: those with
 * `data_location: EXTERNAL` or any `external_data` entry. Empty for a self-contained model.
 *
 * @throws OnnxParseError when the bytes are not a well-formed protobuf message.
 */
export function findExternalData(model: Uint8Array): ExternalDataReference[] {
  const walk: Walk = { r: Reader.create(model), found: [] };
  try {
    fields(walk, walk.r.len, (field, wire) => {
      if (wire !== WIRE_LEN) return false;
      if (field === 7) graph(walk, 1, 'graph');
      else if (field === 25) functionProto(walk, 1);
      else if (field === 20) trainingInfo(walk, 1);
      else return false;
      return true;
    });
  } catch (error) {
    if (error instanceof OnnxParseError) throw error;
    // protobufjs reports truncation and bad wire types as plain errors (RangeError, Error).
    throw new OnnxParseError(
      `not a well-formed ONNX protobuf (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  return walk.found;
}
