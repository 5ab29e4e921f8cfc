import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip, createInflate, type Gunzip, type Inflate } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { BastionError } from '../errors.js';
import { headerLengthHeader } from './binary-body.js';
import { notFoundError } from './error-handler.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answer this route with the error before any body is read (405 routes). */
    refuse?: () => BastionError;
  }
}

/** A stream Fastify reads the body from; `receivedEncodedLength` is what came off the wire. */
type DecodedBody = PassThrough & { receivedEncodedLength: number };

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (
    request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
  );
}

/**
 * Inflates a gzip or deflate body as it streams in, counting the decoded bytes: past `limit` the
 * inflater is stopped and the body fails with BODY_TOO_LARGE, so a compression bomb costs at most
 * `limit` bytes of output. zlib runs on libuv's thread pool, not the event loop.
 */
export function inflateBody(
  source: Readable,
  encoding: 'gzip' | 'deflate',
  limit: number,
): DecodedBody {
  const inflater: Gunzip | Inflate = encoding === 'gzip' ? createGunzip() : createInflate();
  const out = new PassThrough() as DecodedBody;
  out.receivedEncodedLength = 0;
  let decoded = 0;
  const fail = (error: BastionError): void => {
    source.unpipe(inflater);
    inflater.destroy();
    out.destroy(error);
  };
  out.once('close', () => {
    source.unpipe(inflater);
    inflater.destroy();
  });
  source.on('data', (chunk: Buffer) => {
    out.receivedEncodedLength += chunk.length;
  });
  inflater.on('data', (chunk: Buffer) => {
    decoded += chunk.length;
    if (decoded > limit) {
      fail(
        new BastionError(
          'BODY_TOO_LARGE',
          `the decoded request body is larger than ${limit} bytes`,
        ),
      );
      return;
    }
    if (!out.write(chunk)) {
      inflater.pause();
      out.once('drain', () => inflater.resume());
    }
  });
  inflater.on('end', () => out.end());
  inflater.on('error', () => {
    fail(new BastionError('BAD_REQUEST', `the request body is not valid ${encoding} data`));
  });
  source.pipe(inflater);
  return out;
}

/**
 * The edge's body steps, for every route, registered on the root so they run before the
 * authenticated scope's own hooks: `preParsing` refuses before any body is read (404, and the
 * 405 routes' `config.refuse`), and `onResponse` drains what an early answer left unread.
 */
/**
 * The edge's body hooks: 404 and refused routes answer before any body is read, and a body that
 * was answered early is drained without resetting the client ({@link discardUnreadBody}).
 */
export function registerRequestBodyHooks(
  app: FastifyInstance,
  limits: { bodyBytes: number },
): void {
  app.addHook('preParsing', async (request, _reply, payload) => {
    if (request.is404) throw notFoundError();
    const refuse = request.routeOptions.config.refuse;
    if (refuse !== undefined) throw refuse();
    return payload;
  });

  app.addHook('onSend', (request, reply, payload, next) => {
    // Answered before the body was read (404, 405, 401, 403, 429, 415, 413): the rest is read
    // and dropped unparsed, so the client gets its answer and its next request on the
    // connection starts where it should.
    const raw = request.raw;
    if (!raw.complete && hasBody(request)) discardUnreadBody(raw, reply.raw, limits.bodyBytes);
    next(null, payload);
  });
}

/** {@link registerRequestBodyHooks} as the app's plugin. */
export const requestBodyPlugin = definePlugin(
  (app: FastifyInstance, limits: { bodyBytes: number }, done: (error?: Error) => void) => {
    registerRequestBodyHooks(app, limits);
    done();
  },
  { name: 'bastion-request-body', dependencies: ['bastion-error-handler'] },
);

/**
 * How long a connection that is being closed keeps reading (and dropping) a client's unread
 * request body, at most: long enough for a client still sending a permitted body to finish and
 * read its answer (nginx's `lingering_time` idea), short enough that a client that never stops
 * costs one connection for this long.
 */
export const lingerMs = 5000;

/**
 * Reads and drops the unread rest of a request body that is being answered early (call it before
 * the answer is written), without resetting a client that is still sending it.
 *
 * A keep-alive connection stays open while the rest is dropped; past `limit` dropped bytes (a
 * chunked body, or a declared length over the limit) nothing more is read and the connection is
 * closed. Closing a socket that still has unread bytes makes the kernel answer with a TCP reset,
 * which can reach the client before it has read its answer; Node does exactly that once the
 * answer is flushed when the connection closes after it (the client sent `Connection: close`,
 * or Fastify closes after a body it refused). So a closing connection lingers instead: the
 * server half-closes (the client reads its answer, then end of stream) and keeps dropping until
 * the body ends, the client closes, `limit` bytes were dropped or {@link lingerMs} passed; only
 * then is the socket destroyed.
 */
export function discardUnreadBody(
  raw: IncomingMessage,
  response: ServerResponse,
  limit: number,
): void {
  const socket = raw.socket;
  let drained = 0;
  let timer: NodeJS.Timeout | undefined;
  const destroy = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const linger = (): void => {
    if (timer !== undefined || socket.destroyed) return;
    // Node destroys a closing socket once its answer is flushed (`destroySoon`): wait instead.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- the very listener Node added
    socket.removeListener('finish', socket.destroy);
    if (!socket.writableEnded) socket.end();
    timer = setTimeout(destroy, lingerMs);
    raw.once('end', destroy);
    socket.once('end', destroy); // the client closed its side: nothing more to drop
    socket.once('close', () => {
      clearTimeout(timer);
    });
  };
  // Our own reader: Node would otherwise drop the rest itself, uncounted and unbounded.
  raw.on('data', (chunk: Buffer) => {
    if (drained > limit) return; // already over: paused, its last chunks are dropped
    drained += chunk.length;
    if (drained > limit) {
      // Nothing more is read (flow control holds the client); it reads its answer and end of
      // stream, and the socket goes when the client closes or the linger ends.
      raw.pause();
      if (response.writableFinished) linger();
      else response.once('finish', linger);
    }
  });
  // After Node's own handling of the finished answer, which ends a closing socket.
  response.once('finish', () => {
    if (socket.writableEnded && !raw.complete) linger();
  });
}

/** Stops inflating once the answer is out (a parser error, a refusal): nothing reads it then. */
function stopWithReply(reply: FastifyReply, body: DecodedBody): DecodedBody {
  body.on('error', () => undefined); // reported through the parser; never an uncaught error
  reply.raw.once('close', () => {
    if (!body.destroyed) body.destroy();
  });
  return body;
}

/**
 * The preParsing step that runs after authentication and rate limiting (registered in the
 * authenticated scope after them), before any parser reads the body: a body without Content-Type
 * gets its default type (JSON, or the binary tensor extension when
 * `Inference-Header-Content-Length` is present: tritonclient sends none), and `Content-Encoding`
 * gzip/deflate is decoded (anything else is 415).
 */
export const bodyDecodingPlugin = definePlugin(
  (
    scope: FastifyInstance,
    limits: { bodyBytes: number; jsonBodyBytes: number },
    done: (error?: Error) => void,
  ) => {
    // The parser's own limit: past it the parser stops listening, and so must the inflater.
    const limitFor = (request: FastifyRequest): number =>
      /^application\/json\b/i.test(request.headers['content-type'] ?? '')
        ? limits.jsonBodyBytes
        : limits.bodyBytes;
    scope.addHook('preParsing', async (request, reply, payload) => {
      if (!hasBody(request)) return payload;
      if (request.headers['content-type'] === undefined) {
        request.headers['content-type'] =
          request.headers[headerLengthHeader] === undefined
            ? 'application/json'
            : 'application/octet-stream';
      }
      const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
      switch (encoding) {
        case 'identity':
        case '':
          return payload;
        case 'gzip':
        case 'x-gzip':
          return stopWithReply(reply, inflateBody(payload, 'gzip', limitFor(request)));
        case 'deflate':
          return stopWithReply(reply, inflateBody(payload, 'deflate', limitFor(request)));
        default:
          throw new BastionError(
            'UNSUPPORTED_MEDIA_TYPE',
            'Content-Encoding must be gzip, deflate or identity',
          );
      }
    });
    done();
  },
  { name: 'bastion-body-decoding', dependencies: ['bastion-error-handler'] },
);
