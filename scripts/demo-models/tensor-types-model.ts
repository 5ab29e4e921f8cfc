/**
 * The `tensor-types` demo model: one independent, trivially checkable operation per element type,
 * to exercise integer, boolean and scalar tensors end to end.
 *
 * | input   | type  | shape       | output           | result              |
 * |---------|-------|-------------|------------------|---------------------|
 * | `ints`  | INT32 | `[batch,3]` | `ints_doubled`   | `ints + ints`       |
 * | `longs` | INT64 | `[batch,3]` | `longs_plus_one` | `longs + 1`         |
 * | `flags` | BOOL  | `[batch,3]` | `flags_not`      | `not flags`         |
 * | `bytes` | UINT8 | `[batch,3]` | `bytes_out`      | `bytes` (identity)  |
 * | `scale` | FP32  | `[]`        | `scaled`         | `scale * 2` (`[]`)  |
 *
 * Integer arithmetic wraps on overflow, as ONNX Runtime's does.
 */
import { createGraph, type ModelOptions } from '../onnx/onnx-builder.js';

/** Builds the `tensor-types` demo model (graph `tensor_types`). */
export function buildTensorTypesModel(options?: ModelOptions): Uint8Array {
  const row = ['batch', 3] as const;
  return createGraph('tensor_types')
    .input('ints', 'int32', row)
    .input('longs', 'int64', row)
    .input('flags', 'bool', row)
    .input('bytes', 'uint8', row)
    .input('scale', 'float32', [])
    .initializer('one', 'int64', [], [1n])
    .initializer('two', 'float32', [], [2])
    .node('Add', ['ints', 'ints'], ['ints_doubled'])
    .node('Add', ['longs', 'one'], ['longs_plus_one'])
    .node('Not', ['flags'], ['flags_not'])
    .node('Identity', ['bytes'], ['bytes_out'])
    .node('Mul', ['scale', 'two'], ['scaled'])
    .output('ints_doubled', 'int32', row)
    .output('longs_plus_one', 'int64', row)
    .output('flags_not', 'bool', row)
    .output('bytes_out', 'uint8', row)
    .output('scaled', 'float32', [])
    .toBytes(options);
}
