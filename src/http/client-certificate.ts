import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { BastionError } from '../errors.js';

/**
 * With mutual TLS, requires the client certificate to have verified against `server.tls.clientCaFile`
 * and its subject CN to be one of `subjects`; anything else is 403 before the token is looked at.
 */
export function registerClientSubjectCheck(
  scope: FastifyInstance,
  subjects: readonly string[],
): void {
  const allowed = new Set(subjects);
  scope.addHook('onRequest', (request, _reply, done) => {
    const socket = request.raw.socket as Partial<TLSSocket>;
    const cn =
      socket.authorized === true && typeof socket.getPeerCertificate === 'function'
        ? socket.getPeerCertificate().subject.CN
        : undefined;
    if (typeof cn !== 'string' || !allowed.has(cn)) {
      done(new BastionError('FORBIDDEN', 'the client certificate is not allowed here'));
      return;
    }
    done();
  });
}
