import { BastionError, isBastionError } from '../errors.js';

/** Fastify's own error codes that stem from a bad request, and what they mean to a client. */
const fastifyCodes: Readonly<Record<string, () => BastionError>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new BastionError(
      'UNSUPPORTED_MEDIA_TYPE',
      'send the request body as application/json (or application/octet-stream with Inference-Header-Content-Length on infer routes)',
    ),
  FST_ERR_CTP_INVALID_TYPE: () =>
    new BastionError(
      'UNSUPPORTED_MEDIA_TYPE',
      'send the request body as application/json (or application/octet-stream with Inference-Header-Content-Length on infer routes)',
    ),
  FST_ERR_CTP_BODY_TOO_LARGE: () =>
    new BastionError('BODY_TOO_LARGE', 'the request body is larger than this server accepts'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () =>
    new BastionError('MALFORMED_JSON', 'the request body is empty; send a JSON object'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    new BastionError('BAD_REQUEST', 'the Content-Length header does not match the body'),
  FST_ERR_CTP_INVALID_JSON_BODY: () =>
    new BastionError(
      'MALFORMED_JSON',
      'the request body is not valid JSON (or holds a forbidden __proto__ / constructor.prototype key)',
    ),
  FST_ERR_BAD_URL: () => new BastionError('BAD_REQUEST', 'the URL is malformed'),
  FST_ERR_ASYNC_CONSTRAINT: () => new BastionError('BAD_REQUEST', 'the request is malformed'),
};

/**
 * Maps any error to the BastionError a client sees. Unknown errors become a generic INTERNAL;
 * their details stay in the log.
 */
export function toClientError(error: unknown): BastionError {
  if (isBastionError(error)) return error;
  if (error instanceof SyntaxError) {
    // A SyntaxError from a JSON parse that escaped the body parser (it maps its own errors).
    return new BastionError(
      'MALFORMED_JSON',
      /prototype/i.test(error.message)
        ? 'the request body contains a forbidden key (__proto__ or constructor.prototype)'
        : 'the request body is not valid JSON',
    );
  }
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') {
    const known = fastifyCodes[error.code];
    if (known !== undefined) return known();
    const status = 'statusCode' in error ? error.statusCode : undefined;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return new BastionError('BAD_REQUEST', 'the request is malformed');
    }
  }
  return new BastionError('INTERNAL', 'internal error; the request id identifies it in the log', {
    cause: error,
  });
}
