/**
 * What a route declares in its `config` for the plugins to read (the rate-limit/helmet idiom,
 * STYLE.md): one declaration for every key.
 */
import type { BastionError } from '../errors.js';

/** Per-route policy read by the auth and audit hooks. */
export interface RoutePolicy {
  /**
   * What the caller must hold: a model's infer scope, the manage scope, or any valid token.
   * `none`: answered before authentication (audited 405 and 404 answers on model paths).
   */
  readonly access: 'infer' | 'manage' | 'token' | 'none';
  /** Whether requests to this route get an audit record. */
  readonly audit: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route and whether it is audited; absent on public routes. */
    policy?: RoutePolicy;
    /** Answer this route with the error before any body is read (404 and 405 routes). */
    refuse?: () => BastionError;
    /** Marks the 405 (and catch-all 404) routes of known paths (not documented as operations). */
    methodNotAllowed?: boolean;
    /** JSON bodies over `inlineJsonBytes` are handed to the route unparsed (infer). */
    offThreadJson?: boolean;
  }
}
