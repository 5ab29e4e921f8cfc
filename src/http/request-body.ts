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
export const requestBodyPlugin = definePlugin(
  (app: FastifyInstance, limits: { bodyBytes: number }, done: (error?: Error) => void) => {
    app.addHook('preParsing', async (request, _reply, payload) => {
      if (request.is404) throw notFoundError();
      const refuse = request.routeOptions.config.refuse;
      if (refuse !== undefined) throw refuse();
      return payload;
    });

    app.addHook('onResponse', (request, _reply, next) => {
      // Answered before the body was read (404, 405, 401, 403, 429, 415): Node reads the rest and
      // drops it unparsed, so the client gets its answer (closing now would reset a client still
      // sending) and its next request on the connection starts where it should. A declared length
      // is at most bodyBytes (more was refused up front); a chunked body is cut off past it.
      const raw = request.raw;
      if (raw.complete || !hasBody(request)) {
        next();
        return;
      }
      let drained = 0;
      raw.on('data', (chunk: Buffer) => {
        drained += chunk.length;
        if (drained > limits.bodyBytes) raw.socket.destroy();

        next();
      });
    });
    done();
  },
  { name: 'bastion-request-body', dependencies: ['bastion-error-handler'] },
);

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
