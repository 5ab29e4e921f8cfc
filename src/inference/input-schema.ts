import { z } from 'zod';
import { BastionError, type ErrorCode } from '../errors.js';
import { formatIssue } from '../zod-issues.js';
import type { HostTensor, ModelSignature, TensorSpec } from './engine.js';
import { elementTypeOf, isV2Datatype, v2DatatypeOf } from './datatypes.js';
import { decodeBinaryElements } from './binary-tensor.js';
import { classificationCountOf } from './classification.js';
import {
  type Envelope,
  type EnvelopeInput,
  inferRequestEnvelope,
  type ParameterMap,
} from './infer-envelope.js';
import { decodeTensorData } from './tensor-codec.js';

/** A request that passed validation: decoded tensors ready for the engine. */
export interface BoundInferRequest {
  readonly id: string | undefined;
  readonly feeds: Readonly<Record<string, HostTensor>>;
  readonly outputs: readonly string[];
  /**
   * The outputs to answer in binary form (binary tensor extension): those whose
   * `parameters.binary_data` is true, or every output without its own `binary_data` when the
   * request's `parameters.binary_data_output` is true.
   */
  readonly binaryOutputs: ReadonlySet<string>;
  /** Outputs asked for as a top-k classification (`parameters.classification`), with their k. */
  readonly classification: ReadonlyMap<string, number>;
  /** True when the request named its outputs (else every output is answered). */
  readonly explicitOutputs: boolean;
  /** Total elements over all inputs. */
  readonly elements: number;
  /** Rows along the first dimension when every input is batched by it (else undefined). */
  readonly rows: number | undefined;
}

/** Limits applied while binding a request. */
export interface InputSchemaLimits {
  readonly maxElements: number;
}

/** Validates and decodes infer requests for one model version. */
export interface InferRequestParser {
  /** The zod schema, built once from the model's signature. */
  readonly schema: z.ZodType<BoundInferRequest>;
  /**
   * Parses an untrusted body. `binary` is what followed the JSON header in a binary tensor
   * extension request (undefined for a plain JSON request): inputs with
   * `parameters.binary_data_size` take their bytes from it, in input order, and their sizes must
   * add up to exactly its length.
   *
   * @throws BastionError with a stable code and the offending input.
   */
  parse(body: unknown, binary?: Uint8Array): BoundInferRequest;
}

/**
 * Builds the request schema of one model version from its signature. Everything a request can get
 * wrong is checked here, before any tensor reaches ONNX Runtime: input names, datatypes, rank and
 * fixed dimensions, symbolic dimensions shared between inputs, element counts and values.
 */
export function createInferRequestParser(
  signature: ModelSignature,
  limits: InputSchemaLimits,
): InferRequestParser {
  const specs = new Map<string, TensorSpec>(signature.inputs.map((s) => [s.name, s]));
  const outputSpecs = new Map<string, TensorSpec>(signature.outputs.map((s) => [s.name, s]));
  const allOutputs = signature.outputs.map((s) => s.name);
  const batched =
    signature.inputs.length > 0 &&
    signature.inputs.every((s) => s.dims.length > 0 && s.dims[0] === -1);

  const schema = inferRequestEnvelope.transform((request, ctx): BoundInferRequest => {
    try {
      return bind(request, undefined);
    } catch (error) {
      if (!(error instanceof BastionError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message, params: { code: error.code } });
      return z.NEVER;
    }
  });

  function bind(request: Envelope, binary: Uint8Array | undefined): BoundInferRequest {
    checkInputNames(request.inputs, specs);
    // Shapes and counts first: no data is touched until the whole request is known to fit.
    const elements = checkShapes(request.inputs, specs, limits);
    // Binary framing next: every binary input's bytes located, and the sizes must account for
    // exactly the bytes that followed the JSON header, before any of them is decoded.
    const slices = locateBinaryData(request.inputs, binary);
    const feeds = decodeFeeds(request.inputs, specs, slices);
    const first = request.inputs[0];
    return {
      id: request.id,
      feeds,
      ...chooseOutputs(request, outputSpecs, allOutputs),
      explicitOutputs: request.outputs !== undefined && request.outputs.length > 0,
      elements,
      rows: batched && first !== undefined ? first.shape[0] : undefined,
    };
  }

  return {
    schema,
    parse(body: unknown, binary?: Uint8Array): BoundInferRequest {
      if (binary === undefined) {
        const result = schema.safeParse(body);
        if (result.success) return result.data;
        throw toBastionError(result.error.issues);
      }
      const result = inferRequestEnvelope.safeParse(body);
      if (!result.success) throw toBastionError(result.error.issues);
      return bind(result.data, binary);
    },
  };
}

/**
 * @throws BastionError UNKNOWN_INPUT, DUPLICATE_INPUT or MISSING_INPUT: the request must name
 *   each input of the model exactly once.
 */
function checkInputNames(
  inputs: readonly EnvelopeInput[],
  specs: ReadonlyMap<string, TensorSpec>,
): void {
  const seen = new Set<string>();
  for (const input of inputs) {
    if (!specs.has(input.name)) {
      throw new BastionError(
        'UNKNOWN_INPUT',
        `input "${input.name}" is not an input of this model (expected: ${[...specs.keys()].join(', ')})`,
      );
    }
    if (seen.has(input.name)) {
      throw new BastionError('DUPLICATE_INPUT', `input "${input.name}" is given more than once`);
    }
    seen.add(input.name);
  }
  for (const name of specs.keys()) {
    if (!seen.has(name)) throw new BastionError('MISSING_INPUT', `input "${name}" is missing`);
  }
}

/**
 * Checks each input's datatype and shape against the model (symbolic dimensions shared between
 * inputs must agree) and the total element count against the limit; returns that count.
 *
 * @throws BastionError UNSUPPORTED_DATATYPE, DATATYPE_MISMATCH, a shape code, TOO_MANY_ELEMENTS.
 */
function checkShapes(
  inputs: readonly EnvelopeInput[],
  specs: ReadonlyMap<string, TensorSpec>,
  limits: InputSchemaLimits,
): number {
  let elements = 0;
  const symbols = new Map<string, { size: number; input: string }>();
  for (const input of inputs) {
    const spec = specs.get(input.name) as TensorSpec;
    if (!isV2Datatype(input.datatype)) {
      throw new BastionError(
        'UNSUPPORTED_DATATYPE',
        `input "${input.name}": "${input.datatype}" is not a v2 datatype`,
      );
    }
    if (elementTypeOf(input.datatype) !== spec.type) {
      throw new BastionError(
        'DATATYPE_MISMATCH',
        `input "${input.name}": the model expects ${v2DatatypeOf(spec.type)}, got ${input.datatype}`,
      );
    }
    checkShape(spec, input.shape, symbols);
    elements += input.shape.reduce((a, b) => a * b, 1);
    if (elements > limits.maxElements) {
      throw new BastionError(
        'TOO_MANY_ELEMENTS',
        `the request holds more than ${limits.maxElements} elements, this model's limit`,
      );
    }
  }
  return elements;
}

/** Decodes each input from its JSON `data`, or from its slice of the binary data. */
function decodeFeeds(
  inputs: readonly EnvelopeInput[],
  specs: ReadonlyMap<string, TensorSpec>,
  slices: readonly (Uint8Array | undefined)[],
): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = Object.create(null) as Record<string, HostTensor>;
  for (const [index, input] of inputs.entries()) {
    const spec = specs.get(input.name) as TensorSpec;
    const count = input.shape.reduce((a, b) => a * b, 1);
    const bytes = slices[index];
    feeds[input.name] = {
      type: spec.type,
      dims: input.shape,
      data:
        bytes === undefined
          ? decodeTensorData(input.name, spec.type, input.data, count)
          : decodeBinaryElements(input.name, spec.type, count, bytes),
    };
  }
  return feeds;
}

/**
 * The outputs to answer (those named, else all), which of them in binary form, and which as a
 * top-k classification.
 *
 * @throws BastionError UNKNOWN_OUTPUT, INVALID_REQUEST (an output named twice, a bad parameter).
 */
function chooseOutputs(
  request: Envelope,
  outputSpecs: ReadonlyMap<string, TensorSpec>,
  allOutputs: readonly string[],
): Pick<BoundInferRequest, 'outputs' | 'binaryOutputs' | 'classification'> {
  const allBinary = booleanParameter(request.parameters, 'binary_data_output', 'request') ?? false;
  const classification = new Map<string, number>();
  if (request.outputs === undefined || request.outputs.length === 0) {
    return {
      outputs: allOutputs,
      binaryOutputs: new Set<string>(allBinary ? allOutputs : []),
      classification,
    };
  }
  const wanted: string[] = [];
  const binaryOutputs = new Set<string>();
  for (const output of request.outputs) {
    const outputSpec = outputSpecs.get(output.name);
    if (outputSpec === undefined) {
      throw new BastionError(
        'UNKNOWN_OUTPUT',
        `output "${output.name}" is not an output of this model (expected: ${allOutputs.join(', ')})`,
      );
    }
    if (wanted.includes(output.name)) {
      throw new BastionError('INVALID_REQUEST', `output "${output.name}" is requested twice`);
    }
    wanted.push(output.name);
    const own = booleanParameter(output.parameters, 'binary_data', `output "${output.name}"`);
    if (own ?? allBinary) binaryOutputs.add(output.name);
    const k = classificationCountOf(outputSpec, output.parameters?.['classification']);
    if (k !== undefined) classification.set(output.name, k);
  }
  return { outputs: wanted, binaryOutputs, classification };
}

/**
 * The slice of `binary` each input reads (undefined for a JSON input), in input order.
 *
 * @throws BastionError INVALID_BINARY_DATA when a size is not a byte count, when a binary input
 *   arrives without binary data, or when the sizes do not add up to exactly `binary`'s length;
 *   INVALID_REQUEST when an input has both `data` and `binary_data_size`.
 */
function locateBinaryData(
  inputs: readonly EnvelopeInput[],
  binary: Uint8Array | undefined,
): (Uint8Array | undefined)[] {
  const slices: (Uint8Array | undefined)[] = [];
  let offset = 0;
  for (const input of inputs) {
    const size = input.parameters?.['binary_data_size'];
    if (size === undefined) {
      slices.push(undefined);
      continue;
    }
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new BastionError(
        'INVALID_BINARY_DATA',
        `input "${input.name}": binary_data_size must be a non-negative integer byte count`,
      );
    }
    if (input.data !== undefined) {
      throw new BastionError(
        'INVALID_REQUEST',
        `input "${input.name}": give either data or parameters.binary_data_size, not both`,
      );
    }
    if (binary === undefined) {
      throw new BastionError(
        'INVALID_BINARY_DATA',
        `input "${input.name}": binary_data_size needs a binary request (Content-Type: application/octet-stream with Inference-Header-Content-Length)`,
      );
    }
    if (size > binary.byteLength - offset) {
      throw new BastionError(
        'INVALID_BINARY_DATA',
        `input "${input.name}": binary_data_size ${size} runs past the end of the binary data (${binary.byteLength - offset} bytes left)`,
      );
    }
    slices.push(binary.subarray(offset, offset + size));
    offset += size;
  }
  if (binary !== undefined && offset !== binary.byteLength) {
    throw new BastionError(
      'INVALID_BINARY_DATA',
      `the binary data is ${binary.byteLength} bytes but the inputs' binary_data_size add up to ${offset}`,
    );
  }
  return slices;
}

/** A boolean parameter, or undefined when absent. @throws BastionError INVALID_REQUEST otherwise. */
function booleanParameter(params: ParameterMap, key: string, where: string): boolean | undefined {
  const value = params?.[key];
  if (value === undefined || typeof value === 'boolean') return value;
  throw new BastionError('INVALID_REQUEST', `${where}: parameters.${key} must be true or false`);
}

function checkShape(
  spec: TensorSpec,
  shape: readonly number[],
  symbols: Map<string, { size: number; input: string }>,
): void {
  const expected = spec.dims;
  if (shape.length !== expected.length) {
    throw new BastionError(
      'SHAPE_MISMATCH',
      `input "${spec.name}": the model expects rank ${expected.length} ${formatDims(expected)}, got shape ${formatDims(shape)}`,
    );
  }
  for (let i = 0; i < expected.length; i++) {
    const want = expected[i] ?? -1;
    const got = shape[i] ?? 0;
    if (want >= 0 && want !== got) {
      throw new BastionError(
        'SHAPE_MISMATCH',
        `input "${spec.name}": dimension ${i} must be ${want}, got ${got} (model shape ${formatDims(expected)})`,
      );
    }
    const symbol = spec.dimNames?.[i];
    if (want < 0 && symbol !== undefined) {
      const other = symbols.get(symbol);
      if (other === undefined) symbols.set(symbol, { size: got, input: spec.name });
      else if (other.size !== got) {
        throw new BastionError(
          'SHAPE_MISMATCH',
          `input "${spec.name}": dimension ${i} ("${symbol}") is ${got} but input "${other.input}" has ${other.size}`,
        );
      }
    }
  }
}

function formatDims(dims: readonly number[]): string {
  return `[${dims.join(',')}]`;
}

/** Maps zod issues to one BastionError: the first issue, with its path, wins. */
function toBastionError(issues: readonly z.core.$ZodIssue[]): BastionError {
  const issue = issues[0];
  if (issue === undefined) return new BastionError('INVALID_REQUEST', 'invalid request');
  const params =
    issue.code === 'custom' ? (issue.params as { code?: ErrorCode } | undefined) : undefined;
  if (params?.code !== undefined) return new BastionError(params.code, issue.message);
  return new BastionError('INVALID_REQUEST', formatIssue(issue, 'request'));
}
