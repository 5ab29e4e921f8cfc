import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BastionError } from '../errors.js';
import { receiveBinaryBody } from './binary-receive.js';
import { inlineJsonBytes, parseJsonBytes } from './json-body.js';

/** The media types of the binary tensor extension (Triton's, and SageMaker's name for it). */
export const binaryMediaTypes = [
  'application/octet-stream',
  'application/vnd.sagemaker-triton.binary+json',
] as const;

/** The header giving the JSON header's length in bytes (PROTOCOL.md "Binary tensor extension"). */
export const headerLengthHeader = 'inference-header-content-length';

/** A binary tensor extension body: the parsed JSON header and the raw bytes after it. */
export class BinaryInferBody {
  constructor(
    /** The parsed (still untrusted) JSON header. */
    readonly header: unknown,
    /** The bytes after the header, at offset 0 of a buffer of their own. */
    readonly binary: Uint8Array,
  ) {}
}

/**
 * A binary body over {@link inlineJsonBytes}, left for a worker thread to parse its header and
 * decode and check its tensors (`json-parse-pool.ts`): its header's bytes and the binary data.
 */
export class DeferredBinaryBody {
  constructor(
    readonly header: Buffer,
    /** Transferred to the worker: unusable here afterwards. */
    readonly binary: Uint8Array,
  ) {}
}

/**
 * Adds the binary tensor extension's body parser to `scope` (only the infer routes register it,
 * so every other route still answers 415 to these media types). The body is read as it streams
 * in (`binary-receive.ts`); the whole raw body is hashed for the audit log, exactly as for JSON;
 * the route's body limit applies to the whole body and `maxHeaderBytes` to its JSON header.
 * Bodies over {@link inlineJsonBytes} are parsed and decoded on a worker thread.
 */
export function registerBinaryBodyParser(scope: FastifyInstance, maxHeaderBytes: number): void {
  for (const type of binaryMediaTypes) {
    scope.addContentTypeParser(type, async (request: FastifyRequest, payload: Readable) => {
      const headerLength = headerLengthOf(request);
      if (headerLength > maxHeaderBytes) {
        throw new BastionError(
          'BODY_TOO_LARGE',
          `the JSON header is larger than ${maxHeaderBytes} bytes (limits.jsonBodyBytes)`,
        );
      }
      const received = await receiveBinaryBody(payload, {
        headerLength,
        declaredLength: declaredLengthOf(request, payload),
        limit: request.routeOptions.bodyLimit,
      });
      request.inputSha256 = received.sha256;
      const { header, binary } = received;
      if (header.length + binary.length > inlineJsonBytes) {
        return new DeferredBinaryBody(header, binary);
      }
      return new BinaryInferBody(parseJsonBytes(header, 'the JSON header'), binary);
    });
  }
}

/** `Content-Length` when it is the length of what the parser reads (no content coding). */
function declaredLengthOf(request: FastifyRequest, payload: Readable): number | undefined {
  if ('receivedEncodedLength' in payload) return undefined; // an inflated body: length unknown
  const length = request.headers['content-length'];
  return length === undefined ? undefined : Number(length);
}

const byteCount = /^[0-9]{1,15}$/;
// SageMaker's form: `application/vnd.sagemaker-triton.binary+json;json-header-size=<N>`.
const headerSizeParameter = /;\s*json-header-size\s*=\s*"?([^;"\s]*)"?/i;

function headerLengthOf(request: FastifyRequest): number {
  const header = request.headers[headerLengthHeader];
  const parameter = headerSizeParameter.exec(request.headers['content-type'] ?? '')?.[1];
  const raw = header ?? parameter;
  if (raw === undefined) {
    throw new BastionError(
      'INVALID_BINARY_DATA',
      `a binary request needs the ${headerLengthHeader} header: the JSON header's length in bytes`,
    );
  }
  if (typeof raw !== 'string' || !byteCount.test(raw.trim())) {
    throw new BastionError(
      'INVALID_BINARY_DATA',
      `${headerLengthHeader} must be one decimal byte count`,
    );
  }
  const length = Number(raw.trim());
  if (parameter !== undefined && header !== undefined && Number(parameter) !== length) {
    throw new BastionError(
      'INVALID_BINARY_DATA',
      `${headerLengthHeader} and the json-header-size parameter disagree`,
    );
  }
  return length;
}
