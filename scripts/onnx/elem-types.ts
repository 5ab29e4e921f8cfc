/**
 * ONNX tensor element types, named as ONNX Runtime's JavaScript API names them, with their
 * `TensorProto.DataType` codes and byte widths.
 */

/** Element type names, matching onnxruntime's `Tensor.Type` strings. */
export type ElemType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

/** `onnx.TensorProto.DataType` code for each element type (onnx.proto). */
export const ONNX_DATA_TYPE = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
} as const satisfies Record<ElemType, number>;

/** Bytes per element in `TensorProto.raw_data` (0 for `string`, which has no raw form). */
export const ELEM_BYTE_WIDTH = {
  float32: 4,
  float64: 8,
  float16: 2,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1,
  string: 0,
} as const satisfies Record<ElemType, number>;

/** Every supported element type, in a stable order. */
export const ELEM_TYPES: readonly ElemType[] = Object.freeze(
  Object.keys(ONNX_DATA_TYPE) as ElemType[],
);

/** Narrows an arbitrary string to an {@link ElemType}. */
export function isElemType(value: string): value is ElemType {
  return Object.hasOwn(ONNX_DATA_TYPE, value);
}
