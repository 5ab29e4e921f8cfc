import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyPluginOptions } from 'fastify';
import { definePlugin } from './define-plugin.js';

/** The header that carries a request's id, in and out. */
export const requestIdHeader = 'x-request-id';

const wellFormed = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The id of a request: a well-formed incoming `x-request-id` (letters, digits, `._:-`, at most
 * 128), else a new UUID. A malformed one is replaced, never echoed, so it cannot inject into
 * logs or headers. Fastify's `genReqId`.
 */
export function requestIdFor(req: IncomingMessage): string {
  const incoming = req.headers[requestIdHeader];
  if (typeof incoming === 'string' && wellFormed.test(incoming)) return incoming;
  return randomUUID();
}

/**
 * Sends every answer's `x-request-id` (the app's `genReqId` must be {@link requestIdFor}):
 * set as the request arrives, so an answer from any later hook or handler carries it.
 */
export const requestIdPlugin = definePlugin(
  (app: FastifyInstance, _options: FastifyPluginOptions, done: (error?: Error) => void) => {
    app.addHook('onRequest', (request, reply, next) => {
      void reply.header(requestIdHeader, request.id);
      next();
    });
    done();
  },
  { name: 'bastion-request-id' },
);
