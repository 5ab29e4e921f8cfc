import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { BastionError } from '../errors.js';

/** Options of {@link clientCertificatePlugin}. */
export interface ClientCertificateOptions {
  /** The subject CNs allowed (`server.tls.allowedClientSubjects`). */
  readonly subjects: readonly string[];
}

/**
 * With mutual TLS, requires the client certificate to have verified against `server.tls.clientCaFile`
 * and its subject CN to be one of `subjects`; anything else is 403 before the token is looked at.
 */
export const clientCertificatePlugin = definePlugin(
  (scope: FastifyInstance, options: ClientCertificateOptions, done: (error?: Error) => void) => {
    const allowed = new Set(options.subjects);
    scope.addHook('onRequest', (request, _reply, next) => {
      const socket = request.raw.socket as Partial<TLSSocket>;
      const cn =
        socket.authorized === true && typeof socket.getPeerCertificate === 'function'
          ? socket.getPeerCertificate().subject.CN
          : undefined;
      if (typeof cn !== 'string' || !allowed.has(cn)) {
        next(new BastionError('FORBIDDEN', 'the client certificate is not allowed here'));
        return;
      }
      next();
    });
    done();
  },
  { name: 'bastion-client-certificate', dependencies: ['bastion-error-handler'] },
);
