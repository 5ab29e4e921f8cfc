import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The header that carries a request's id, in and out. */
export const requestIdHeader = 'x-request-id';

const wellFormed = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The id of a request: a well-formed incoming `x-request-id` (letters, digits, `._:-`, at most
 * 128), else a new UUID. A malformed one is replaced, never echoed, so it cannot inject into
 * logs or headers.
 */
export function requestIdFor(req: IncomingMessage): string {
  const incoming = req.headers[requestIdHeader];
  if (typeof incoming === 'string' && wellFormed.test(incoming)) return incoming;
  return randomUUID();
}
