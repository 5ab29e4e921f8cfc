import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BastionError } from '../errors.js';
import { auditUnavailableError, errorBodyOf } from './error-handler.js';
import { requestIdHeader } from './request-id.js';
import { ensureRequestState } from './request-state.js';

/** What Fastify's router refuses before any route runs, as the contract's errors. */
function routerErrorOf(error: FastifyError): BastionError {
  switch (error.code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // No model name is longer than 64 characters: an over-long one names nothing.
      return new BastionError('NOT_FOUND', 'no such route or model');
    case 'FST_ERR_BAD_URL':
      return new BastionError('BAD_REQUEST', 'the URL is malformed (a bad percent-escape)');
    default:
      return new BastionError('BAD_REQUEST', 'the request is malformed');
  }
}

/** Options of {@link createFrameworkErrorHandler}. */
export interface FrameworkErrorOptions {
  /** Headers every answer carries (the security headers). */
  readonly headers: Readonly<Record<string, string>>;
  /** Writes the answer's audit record (model and repository paths), before it is sent. */
  readonly audit?: ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) | undefined;
  /** With `audit.failClosed`, an answer whose record cannot be written becomes a 503. */
  readonly failClosed: boolean;
}

/**
 * Fastify's `frameworkErrors` option: a URL the router cannot decode (`/v2/models/%ZZ`) or a
 * path parameter past `maxParamLength` is answered in the contract's `{"error","code"}` shape,
 * with `x-request-id` and the security headers, never echoing the URL or an `FST_ERR_*` code.
 */
export function createFrameworkErrorHandler(options: FrameworkErrorOptions) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    ensureRequestState(request);
    const clientError = routerErrorOf(error);
    request.failure = { code: clientError.code, reason: undefined };
    void reply
      .code(clientError.status)
      .headers(options.headers)
      .header(requestIdHeader, request.id)
      // The body was not read: do not let a keep-alive client's next request start inside it.
      .header('connection', 'close');
    const body = errorBodyOf(clientError);
    if (options.audit === undefined) {
      void reply.send(body);
      return;
    }
    options.audit(request, reply).then(
      () => reply.send(body),
      (error: unknown) => {
        request.log.error({ err: error }, 'audit record could not be written');
        if (!options.failClosed) return reply.send(body);
        const refusal = auditUnavailableError(error);
        return reply
          .code(refusal.status)
          .header('retry-after', String(refusal.retryAfterSec))
          .send(errorBodyOf(refusal));
      },
    );
  };
}

/** The answer to what Node's HTTP parser refused, by its error code. */
function parserErrorOf(code: string | undefined): BastionError {
  switch (code ?? '') {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new BastionError('REQUEST_TIMEOUT', 'the request head or body did not arrive in time');
    case 'HPE_HEADER_OVERFLOW':
      return new BastionError('HEADERS_TOO_LARGE', 'the request headers are too large');
    default:
      return new BastionError('BAD_REQUEST', 'the request is not valid HTTP/1.1');
  }
}

/**
 * Fastify's `clientErrorHandler` option: what Node's HTTP parser refuses (a malformed request
 * line, a bad header, headers too large, the headers timeout) is answered in the contract's
 * shape with a fresh `x-request-id` and the security headers, then the socket is closed.
 */
export function createClientErrorHandler(headers: Readonly<Record<string, string>>) {
  const fixed = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = parserErrorOf(error.code);
    const status = answer.status;
    const body = JSON.stringify(errorBodyOf(answer));
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
          `content-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\n` +
          `${requestIdHeader}: ${randomUUID()}\r\n${fixed}connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroySoon();
  };
}
