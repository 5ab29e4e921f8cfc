/**
 * The routes that only refuse: 405 for the other methods of every served path, derived from the
 * routes registered before (no table to keep in step), and the audited catch-all 404 under the
 * model and repository paths. All answer before any body is read (`config.refuse`).
 */
import type { FastifyInstance } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { BastionError } from '../errors.js';
import { notFoundError } from './error-handler.js';
import type { RegisteredRoute } from './openapi.js';
import type { RoutePolicy } from './route-config.js';

/** The methods a 405 answers for; HEAD follows GET, and OPTIONS is CORS's. */
const answered = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** The v2 "method not allowed" error for a known path. */
export function methodNotAllowedError(allow: string): BastionError {
  return new BastionError('METHOD_NOT_ALLOWED', `this path accepts ${allow} only`);
}

/** Options of {@link methodNotAllowedPlugin}. */
export interface MethodNotAllowedOptions {
  /** Every route registered so far (`recordRoutes`), read when the plugin loads. */
  readonly routes: readonly RegisteredRoute[];
  /**
   * Which routes this scope answers 405 for: the public ones (no policy) at the root, those with
   * a policy in the authenticated scope, where the 405 answers are audited under `policy`.
   */
  readonly policy: RoutePolicy | undefined;
}

/** The served methods of each path the plugin covers, in registration order. */
function methodsByPath(
  routes: readonly RegisteredRoute[],
  covers: (route: RegisteredRoute) => boolean,
): Map<string, Set<string>> {
  const paths = new Map<string, Set<string>>();
  for (const route of routes) {
    if (!covers(route)) continue;
    const methods = paths.get(route.url) ?? new Set<string>();
    methods.add(route.method);
    paths.set(route.url, methods);
  }
  return paths;
}

/**
 * 405 routes for the other methods of each path registered before it (register it after the
 * routes it covers; a covered route registered later fails the boot, so none lacks its 405s).
 * The answer carries `Allow` and is sent before any body is read.
 */
export const methodNotAllowedPlugin = definePlugin(
  (app: FastifyInstance, options: MethodNotAllowedOptions, done: (error?: Error) => void) => {
    const publicScope = options.policy === undefined;
    const covers = (route: {
      readonly url: string;
      readonly methodNotAllowed: boolean;
      readonly policy: RoutePolicy | undefined;
    }): boolean =>
      !route.methodNotAllowed &&
      !route.url.includes('*') &&
      (route.policy === undefined) === publicScope;
    for (const [url, served] of methodsByPath(options.routes, covers)) {
      const allowed = answered.filter((m) => served.has(m));
      const allow = allowed.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])).join(', ');
      const refusal = () => methodNotAllowedError(allowed.join(', '));
      app.route({
        method: answered.filter((m) => !served.has(m)),
        url,
        config: {
          ...(options.policy === undefined ? {} : { policy: options.policy }),
          methodNotAllowed: true,
          refuse: refusal,
        },
        onRequest: (_request, reply, next) => {
          void reply.header('allow', allow);
          next();
        },
        handler: () => {
          throw refusal();
        },
      });
    }
    app.addHook('onRoute', (route) => {
      const late = {
        url: route.url,
        methodNotAllowed: route.config?.methodNotAllowed === true,
        policy: route.config?.policy,
      };
      if (covers(late)) {
        throw new Error(`${route.url} was registered after its 405 routes were derived`);
      }
    });
    done();
  },
  { name: 'bastion-method-not-allowed', dependencies: ['bastion-request-body'] },
);

/** Options of {@link unknownPathsPlugin}. */
export interface UnknownPathsOptions {
  /** The prefixes whose unknown paths are answered (and audited) here, e.g. `/v2/models`. */
  readonly prefixes: readonly string[];
  readonly policy: RoutePolicy;
}

/**
 * Any other path under the model and repository routes: a 404 audited like the routes beside it
 * (the root's not-found handler would not be), answered before any body.
 */
export const unknownPathsPlugin = definePlugin(
  (app: FastifyInstance, options: UnknownPathsOptions, done: (error?: Error) => void) => {
    for (const prefix of options.prefixes) {
      app.route({
        method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'],
        url: `${prefix}/*`,
        config: { policy: options.policy, methodNotAllowed: true, refuse: notFoundError },
        handler: () => {
          throw notFoundError();
        },
      });
    }
    done();
  },
  { name: 'bastion-unknown-paths', dependencies: ['bastion-request-body'] },
);
