import { readFile } from 'node:fs/promises';
import type { Config } from '../config/config-schema.js';

/**
 * Fastify's `https` options from `server.tls`. With `requireClientCert`, the TLS handshake
 * itself refuses clients without a certificate signed by `clientCaFile` (mutual TLS).
 */
export async function tlsServerOptions(
  tls: Readonly<Config['server']['tls']>,
): Promise<Record<string, unknown>> {
  if (tls === undefined) return {};
  const [cert, key, ca] = await Promise.all([
    readFile(tls.certFile),
    readFile(tls.keyFile),
    tls.clientCaFile === undefined ? undefined : readFile(tls.clientCaFile),
  ]);
  return {
    https: {
      cert,
      key,
      minVersion: 'TLSv1.2',
      ...(ca === undefined
        ? {}
        : { ca, requestCert: true, rejectUnauthorized: tls.requireClientCert }),
    },
  };
}
