import { hash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { routeConfigOf } from './request-state.js';
import { BastionError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** JSON bodies over {@link inlineJsonBytes} are handed to the route unparsed (infer). */
    offThreadJson?: boolean;
  }
}

/** JSON bodies at most this large are parsed on the event loop (well under a millisecond). */
export const inlineJsonBytes = 64 * 1024;

/** A JSON body left unparsed for a worker thread: its raw bytes. */
export class DeferredJsonBody {
  constructor(readonly bytes: Buffer) {}
}

/** Records the SHA-256 of the whole raw body on the request, for the audit log. */
export function recordInputDigest(request: FastifyRequest, bytes: Uint8Array): void {
  request.inputSha256 = hash('sha256', bytes, 'hex'); // one-shot: no Hash object per request
}

// A key can only be `__proto__` or `constructor` if its bytes spell it, or spell it with \u
// escapes: bodies without either (every plain tensor body) skip the scan entirely.
const suspects = ['__proto__', 'constructor', '\\u'] as const;

/** True when `bytes` could hold a `__proto__` key or a `constructor.prototype` pair. */
function mayHoldForbiddenKey(bytes: Buffer): boolean {
  return suspects.some((s) => bytes.includes(s));
}

/**
 * One iterative walk (no recursion, no second pass) looking for an own `__proto__` key or a
 * `constructor` key whose value holds `prototype`: secure-json-parse's two rules in one scan.
 */
function holdsForbiddenKey(root: unknown): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (const item of node) if (typeof item === 'object' && item !== null) stack.push(item);
      continue;
    }
    for (const key of Object.keys(node)) {
      const value = (node as Record<string, unknown>)[key];
      if (key === '__proto__') return true;
      if (
        key === 'constructor' &&
        typeof value === 'object' &&
        value !== null &&
        Object.hasOwn(value, 'prototype')
      ) {
        return true;
      }
      if (typeof value === 'object' && value !== null) stack.push(value);
    }
  }
  return false;
}

/**
 * Parses JSON bytes, refusing `__proto__` and `constructor.prototype` keys. `JSON.parse` runs
 * without a reviver; the key scan runs at most once and only when the bytes could hold such a
 * key (a cheap native substring search decides), so a large tensor body is walked once.
 *
 * @throws BastionError MALFORMED_JSON when empty, not JSON, or holding a forbidden key.
 */
export function parseJsonBytes(bytes: Buffer, what = 'the request body'): unknown {
  if (bytes.length === 0) {
    throw new BastionError('MALFORMED_JSON', `${what} is empty; send a JSON object`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BastionError('MALFORMED_JSON', `${what} is not valid JSON`);
  }
  if (mayHoldForbiddenKey(bytes) && holdsForbiddenKey(parsed)) {
    throw new BastionError(
      'MALFORMED_JSON',
      `${what} contains a forbidden key (__proto__ or constructor.prototype)`,
    );
  }
  return parsed;
}

/** Options of {@link jsonBodyPlugin}. */
export interface JsonBodyOptions {
  /** Largest JSON body, decoded (`limits.jsonBodyBytes`, at most `limits.bodyBytes`). */
  readonly limit: number;
}

/**
 * The app-wide body parser, registered on the root: `application/json` up to `limit` bytes (JSON
 * is parsed on the event loop, so its size bounds the pause), read as bytes so the audit log can
 * record their SHA-256, then parsed by {@link parseJsonBytes}. Every other media type is 415.
 * (The infer routes add the binary tensor extension's parser in their own scope: see
 * `binary-body.ts`.)
 */
export const jsonBodyPlugin = definePlugin(
  (app: FastifyInstance, options: JsonBodyOptions, done: (error?: Error) => void) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: options.limit },
      (request, body, next) => {
        const bytes = body as Buffer;
        if (bytes.length > inlineJsonBytes && routeConfigOf(request).offThreadJson === true) {
          next(null, new DeferredJsonBody(bytes)); // parsed and hashed on a worker thread
          return;
        }
        recordInputDigest(request, bytes);
        let parsed: unknown;
        try {
          parsed = parseJsonBytes(bytes);
        } catch (error) {
          next(error as Error);
          return;
        }
        next(null, parsed);
      },
    );
    done();
  },
  {
    name: 'bastion-json-body',
    dependencies: ['bastion-request-state'],
    decorators: { request: ['inputSha256'] },
  },
);
