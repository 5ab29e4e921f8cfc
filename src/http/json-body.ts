import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { BastionError } from '../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Hex SHA-256 of the raw request body, for the audit log. */
    inputSha256?: string;
  }
}

/**
 * The only body parser: `application/json`, read as bytes so the audit log can record their
 * SHA-256, then parsed with secure-json-parse refusing `__proto__` and `constructor.prototype`.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    request.inputSha256 = createHash('sha256').update(bytes).digest('hex');
    if (bytes.length === 0) {
      done(new BastionError('MALFORMED_JSON', 'the request body is empty; send a JSON object'));
      return;
    }
    let parsed: unknown;
    try {
      parsed = secureJson.parse(bytes, undefined, {
        protoAction: 'error',
        constructorAction: 'error',
      });
    } catch (error) {
      done(
        new BastionError(
          'MALFORMED_JSON',
          error instanceof SyntaxError && /prototype/i.test(error.message)
            ? 'the request body contains a forbidden key (__proto__ or constructor.prototype)'
            : 'the request body is not valid JSON',
        ),
      );
      return;
    }
    done(null, parsed);
  });
}
