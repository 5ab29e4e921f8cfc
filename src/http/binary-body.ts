import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BastionError } from '../errors.js';
import { parseJsonBytes, recordInputDigest } from './json-body.js';

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
    /** The bytes after the header: a view on the request body, not a copy. */
    readonly binary: Uint8Array,
  ) {}
}

/**
 * Adds the binary tensor extension's body parser to `scope` (only the infer routes register it,
 * so every other route still answers 415 to these media types). The whole raw body is hashed for
 * the audit log, exactly as for JSON; the body limit applies to the whole body and
 * `maxHeaderBytes` to its JSON header.
 */
export function registerBinaryBodyParser(scope: FastifyInstance, maxHeaderBytes: number): void {
  for (const type of binaryMediaTypes) {
    scope.addContentTypeParser(type, { parseAs: 'buffer' }, (request, body, done) => {
      const bytes = body as Buffer;
      recordInputDigest(request, bytes);
      try {
        done(null, splitBinaryBody(request, bytes, maxHeaderBytes));
      } catch (error) {
        done(error as Error);
      }
    });
  }
}

/**
 * Splits a binary body at the header length and parses the JSON header.
 *
 * @throws BastionError INVALID_BINARY_DATA for a missing, malformed or too long header length,
 *   MALFORMED_JSON for a header that is not JSON.
 */
function splitBinaryBody(
  request: FastifyRequest,
  bytes: Buffer,
  maxHeaderBytes: number,
): BinaryInferBody {
  const length = headerLengthOf(request);
  if (length > maxHeaderBytes) {
    throw new BastionError(
      'BODY_TOO_LARGE',
      `the JSON header is larger than ${maxHeaderBytes} bytes (limits.jsonBodyBytes)`,
    );
  }
  if (length > bytes.length) {
    throw new BastionError(
      'INVALID_BINARY_DATA',
      `${headerLengthHeader} is ${length} but the body is only ${bytes.length} bytes`,
    );
  }
  const header = parseJsonBytes(bytes.subarray(0, length), 'the JSON header');
  return new BinaryInferBody(header, bytes.subarray(length));
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
