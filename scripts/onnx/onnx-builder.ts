/**
 * Bastion's dependency-light ONNX model writer (only protobufjs's `Writer`), for generating
 * demo, test and benchmark models without Python.
 *
 * @example
 * ```ts
 * const bytes = createGraph('double')
 *   .input('x', 'float32', ['batch', 3])
 *   .initializer('two', 'float32', [], [2])
 *   .node('Mul', ['x', 'two'], ['y'])
 *   .output('y', 'float32', ['batch', 3])
 *   .toBytes();
 * const session = await InferenceSession.create(bytes);
 * ```
 *
 * Writes IR version 8 and default-domain opset 17 unless told otherwise.
 */
export {
  ELEM_BYTE_WIDTH,
  ELEM_TYPES,
  ONNX_DATA_TYPE,
  isElemType,
  type ElemType,
} from './elem-types.js';
export {
  attr,
  createGraph,
  DEFAULT_IR_VERSION,
  DEFAULT_OPSET,
  type GraphBuilder,
  type ModelOptions,
  type NodeOptions,
} from './graph-builder.js';
export {
  buildComputeMlp,
  buildFailingModel,
  buildIdentityModel,
  buildMlp,
  FAILING_MODEL_TABLE,
  type ComputeMlpOptions,
  type MlpOptions,
} from './model-builders.js';
export {
  buildExternalAddModel,
  float32Bytes,
  type ExternalAddOptions,
} from './external-data-models.js';
export {
  encodeModel,
  type AttributeValue,
  type Dim,
  type GraphSpec,
  type FunctionSpec,
  type ModelSpec,
  type NodeSpec,
  type SparseTensorSpec,
  type TensorSpec,
  type ValueInfoSpec,
} from './onnx-proto.js';
export { mulberry32, uniformFloat32, type Random } from './prng.js';
export { createTensor, elementCount, toFloat16Bits, type TensorValues } from './tensor-data.js';
