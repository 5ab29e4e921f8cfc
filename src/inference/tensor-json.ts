/**
 * The v2 response written straight to JSON text: the envelope by hand, each tensor's `data` by
 * `JSON.stringify` over a plain array (the output of {@link encodeTensor}). Measured on Node 20
 * (bench/codec.ts, values never repeated so V8's number-string cache does not flatter anything):
 * `JSON.stringify` of a plain number array is the fastest float path available — 3–4× faster than
 * a typed array's `join` or string concatenation, and what a compiled serializer such as
 * fast-json-stringify calls for number arrays as well — so no separate float printer is used.
 */
import type { HostTensor } from './engine.js';
import { v2DatatypeOf } from './datatypes.js';
import { encodeTensor } from './tensor-codec.js';

/** The JSON text of one output tensor in the v2 form (`name`, `datatype`, `shape`, `data`). */
export function tensorJson(name: string, tensor: HostTensor): string {
  const data = JSON.stringify(encodeTensor(name, tensor).data);
  return `{"name":${JSON.stringify(name)},"datatype":"${v2DatatypeOf(tensor.type)}","shape":[${tensor.dims.join(',')}],"data":${data}}`;
}
