/**
 * The v2 infer response of one call, built from the output tensors: each output as JSON (encoded
 * at once when the policy rounds it), or in binary form (its bytes after the JSON header).
 */
import { classify } from '../inference/classification.js';
import { encodeBinaryElements } from '../inference/binary-tensor.js';
import { v2DatatypeOf, type V2Datatype } from '../inference/datatypes.js';
import type { HostTensor } from '../inference/engine.js';
import type { BoundInferRequest } from '../inference/input-schema.js';
import { encodeTensor, type JsonTensor } from '../inference/tensor-codec.js';
import { tensorJson } from '../inference/tensor-json.js';
import { BastionError } from '../errors.js';
import type { ModelPolicy } from '../policy/model-policy.js';
import type { PolicyReport } from '../policy/policy-enforcer.js';
import type { ServedVersion } from './serving-registry.js';

/** An output answered in binary form: its bytes follow the JSON header, in output order. */
export interface BinaryTensorHeader {
  name: string;
  datatype: V2Datatype;
  shape: number[];
  parameters: { binary_data_size: number };
}

/** The v2 infer response body (the JSON header when some outputs are binary). */
export interface InferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: (JsonTensor | BinaryTensorHeader)[];
}

/** One output as it will be answered. */
export interface OutputEntry {
  readonly name: string;
  readonly tensor: HostTensor;
  /** The JSON form already built (a policy rounded its numbers). */
  readonly encoded?: JsonTensor;
  readonly header?: BinaryTensorHeader;
}

function responseOf(
  ready: ServedVersion,
  id: string | undefined,
  entries: readonly OutputEntry[],
): InferResponse {
  // Keys in the order responseJson writes them, so that the two are the same text.
  return {
    model_name: ready.model,
    model_version: String(ready.version),
    ...(id === undefined ? {} : { id }),
    outputs: entries.map((e) => e.header ?? e.encoded ?? encodeTensor(e.name, e.tensor)),
  };
}

/** The same document as `JSON.stringify(responseOf(...))`, written directly. */
function responseJson(
  ready: ServedVersion,
  id: string | undefined,
  entries: readonly OutputEntry[],
): string {
  const outputs = entries.map((e) => {
    if (e.header !== undefined) return JSON.stringify(e.header);
    if (e.encoded !== undefined) return JSON.stringify(e.encoded);
    return tensorJson(e.name, e.tensor);
  });
  const head = `{"model_name":${JSON.stringify(ready.model)},"model_version":"${ready.version}"`;
  return `${head}${id === undefined ? '' : `,"id":${JSON.stringify(id)}`},"outputs":[${outputs.join(',')}]}`;
}

/**
 * Each output once, in the order it is answered: classified when the request asked for top-k,
 * rounded when `hardening` rounds it, binary when the request asked for it (the bytes collected
 * in `binary`, undefined when every output is JSON).
 *
 * @throws BastionError INTERNAL when the model did not produce an output it declares.
 */
export function outputEntries(
  ready: ServedVersion,
  request: BoundInferRequest,
  names: readonly string[],
  outputs: Readonly<Record<string, HostTensor>>,
  options: {
    readonly hardening: ModelPolicy['output'];
    /**
     * The top-k outputs the request asked for, already classified (in slices when large: see
     * `classifyInSlices`); any other output asked for as top-k is classified here.
     */
    readonly classified?: ReadonlyMap<string, HostTensor>;
  },
): { entries: OutputEntry[]; binary: Uint8Array[] | undefined } {
  const { hardening } = options;
  const binary = request.binaryOutputs.size > 0 ? ([] as Uint8Array[]) : undefined;
  const entries = names.map((name): OutputEntry => {
    const produced = outputs[name];
    if (produced === undefined) {
      throw new BastionError('INTERNAL', `the model produced no output "${name}"`);
    }
    const k = request.classification.get(name);
    const tensor =
      options.classified?.get(name) ??
      (k === undefined ? produced : classify(name, produced, k, ready.labels));
    if (binary === undefined || !request.binaryOutputs.has(name)) {
      if (hardening?.rounds(name) !== true) return { name, tensor };
      const encoded = encodeTensor(name, tensor);
      hardening.roundJson(name, encoded.data);
      return { name, tensor, encoded };
    }
    const bytes = encodeBinaryElements(tensor);
    binary.push(bytes);
    const header: BinaryTensorHeader = {
      name,
      datatype: v2DatatypeOf(tensor.type),
      shape: [...tensor.dims],
      parameters: { binary_data_size: bytes.byteLength },
    };
    return { name, tensor, header };
  });
  return { entries, binary };
}

/** What happened, for the audit log and metrics. */
export interface InferOutcome {
  /** The response document (built on first access; the route sends {@link InferOutcome.json}). */
  readonly response: InferResponse;
  /**
   * `response` as JSON text, written straight from the output tensors (no intermediate arrays);
   * byte for byte what `JSON.stringify(response)` gives.
   */
  json(): string;
  /**
   * The binary outputs' bytes in output order, to send after the JSON header; undefined when
   * every output is JSON (then `response` is the whole answer).
   */
  readonly binary: readonly Uint8Array[] | undefined;
  readonly version: number;
  readonly rows: number | undefined;
  readonly inferenceMs: number;
  /** What the model's signed policy decided (OOD score, quota), when it has one. */
  readonly policy?: PolicyReport;
}

/**
 * The outcome of a call whose outputs are `entries`: the response document is built on first
 * access, its JSON text on each call of `json()`.
 */
export function outcomeOf(
  ready: ServedVersion,
  id: string | undefined,
  entries: readonly OutputEntry[],
  binary: readonly Uint8Array[] | undefined,
  facts: Pick<InferOutcome, 'version' | 'rows' | 'inferenceMs' | 'policy'>,
): InferOutcome {
  let response: InferResponse | undefined;
  return {
    get response(): InferResponse {
      response ??= responseOf(ready, id, entries);
      return response;
    },
    json: () => responseJson(ready, id, entries),
    binary,
    ...facts,
  };
}
