import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';
import { BastionError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Hex SHA-256 of the raw request body, for the audit log. */
    inputSha256?: string;
  }
}

/** Records the SHA-256 of the whole raw body on the request, for the audit log. */
export function recordInputDigest(request: FastifyRequest, bytes: Uint8Array): void {
  request.inputSha256 = createHash('sha256').update(bytes).digest('hex');
}

/**
 * Parses JSON bytes with secure-json-parse, refusing `__proto__` and `constructor.prototype`.
 *
 * @throws BastionError MALFORMED_JSON when empty, not JSON, or holding a forbidden key.
 */
export function parseJsonBytes(bytes: Buffer, what = 'the request body'): unknown {
  if (bytes.length === 0) {
    throw new BastionError('MALFORMED_JSON', `${what} is empty; send a JSON object`);
  }
  try {
    return secureJson.parse(bytes, undefined, {
      protoAction: 'error',
      constructorAction: 'error',
    });
  } catch (error) {
    throw new BastionError(
      'MALFORMED_JSON',
      error instanceof SyntaxError && /prototype/i.test(error.message)
        ? `${what} contains a forbidden key (__proto__ or constructor.prototype)`
        : `${what} is not valid JSON`,
    );
  }
}

/**
 * The app-wide body parser: `application/json`, read as bytes so the audit log can record their
 * SHA-256, then parsed by {@link parseJsonBytes}. (The infer routes add the binary tensor
 * extension's parser in their own scope: see `binary-body.ts`.)
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    recordInputDigest(request, bytes);
    let parsed: unknown;
    try {
      parsed = parseJsonBytes(bytes);
    } catch (error) {
      done(error as Error);
      return;
    }
    done(null, parsed);
  });
}
