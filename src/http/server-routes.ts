import type { FastifyInstance } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { okResponseSchema, serverMetadataResponse } from './openapi-schemas.js';

/** The protocol extensions Bastion serves, as `GET /v2` names them. */
export const serverExtensions = [
  'model_repository',
  'binary_tensor_data',
  'statistics',
  'model_configuration',
  'classification',
] as const;

/** Options of {@link serverRoutesPlugin}. */
export interface ServerRoutesOptions {
  /** The gateway's version. */
  readonly version: string;
}

/** `GET /v2` (and `/v2/`): server metadata, for any valid token, not audited. */
export const serverRoutesPlugin = definePlugin(
  (app: FastifyInstance, options: ServerRoutesOptions, done: (error?: Error) => void) => {
    const metadata = { name: 'bastion', version: options.version, extensions: serverExtensions };
    const route = {
      config: { policy: { access: 'token', audit: false } },
      schema: { response: okResponseSchema(serverMetadataResponse) },
    } as const;
    app.get('/v2', route, () => metadata);
    app.get('/v2/', route, () => metadata);
    done();
  },
  { name: 'bastion-server-routes' },
);
