import type { ElementType } from './engine.js';

/** The v2 protocol's datatype names (PROTOCOL.md "Datatypes"). */
export type V2Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

const toElement = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
} as const satisfies Record<V2Datatype, ElementType>;

const toV2 = Object.fromEntries(Object.entries(toElement).map(([k, v]) => [v, k])) as Record<
  ElementType,
  V2Datatype
>;

/** Every v2 datatype name. */
export const v2Datatypes = Object.keys(toElement) as readonly V2Datatype[];

/** True for a v2 datatype name. */
export function isV2Datatype(value: unknown): value is V2Datatype {
  return typeof value === 'string' && Object.hasOwn(toElement, value);
}

/** The element type behind a v2 datatype. */
export function elementTypeOf(datatype: V2Datatype): ElementType {
  return toElement[datatype];
}

/** The v2 datatype of an element type. */
export function v2DatatypeOf(type: ElementType): V2Datatype {
  return toV2[type];
}

/** Bytes per element in the binary tensor extension (BYTES is variable: 0). */
export function elementByteSize(type: ElementType): number {
  switch (type) {
    case 'bool':
    case 'uint8':
    case 'int8':
      return 1;
    case 'uint16':
    case 'int16':
    case 'float16':
      return 2;
    case 'uint32':
    case 'int32':
    case 'float32':
      return 4;
    case 'uint64':
    case 'int64':
    case 'float64':
      return 8;
    case 'string':
      return 0;
  }
}

/** Maps ONNX Runtime's metadata type strings to element types (undefined: not served). */
export function parseOrtType(ortType: string): ElementType | undefined {
  switch (ortType) {
    case 'bool':
    case 'uint8':
    case 'uint16':
    case 'uint32':
    case 'uint64':
    case 'int8':
    case 'int16':
    case 'int32':
    case 'int64':
    case 'float16':
    case 'float32':
    case 'float64':
    case 'string':
      return ortType;
    default:
      return undefined;
  }
}
