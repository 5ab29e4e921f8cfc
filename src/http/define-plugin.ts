/**
 * Marks a function as a Fastify plugin with a name, dependencies and required decorators, the
 * way `fastify-plugin` does, through the symbols Fastify itself reads (`skip-override`,
 * `fastify.display-name`, `plugin-meta`; see Fastify's plugin utils). Not encapsulated unless
 * asked: hooks, decorators and parsers it adds belong to the scope it is registered in.
 *
 * Bastion keeps this instead of depending on `fastify-plugin` (a dependency of Fastify's own
 * plugins, which Bastion does not list): it is the same three properties.
 */
import type { FastifyInstance } from 'fastify';

/** What Fastify checks when the plugin is registered. */
export interface PluginMeta {
  /** Registered under this name, for other plugins' `dependencies`. */
  readonly name: string;
  /** Plugins that must be registered before, in this scope or above it. */
  readonly dependencies?: readonly string[];
  /** Request decorators that must exist before (declared by `bastion-request-state`). */
  readonly decorators?: { readonly request?: readonly string[] };
  /** Keep the plugin's own scope (its parsers and hooks stay inside it). Default false. */
  readonly encapsulate?: boolean;
}

/** Fastify's major version these plugins are written for. */
const fastifyRange = '5.x';

/** A plugin function: callback style or async. */
type PluginFunction = (
  instance: FastifyInstance,
  options: never,
  done: (error?: Error) => void,
) => unknown;

/** Returns `fn`, marked as a plugin described by `meta`. */
export function definePlugin<F extends PluginFunction>(fn: F, meta: PluginMeta): F {
  const marked = fn as unknown as Record<symbol, unknown>;
  marked[Symbol.for('skip-override')] = meta.encapsulate !== true;
  marked[Symbol.for('fastify.display-name')] = meta.name;
  marked[Symbol.for('plugin-meta')] = {
    fastify: fastifyRange,
    name: meta.name,
    ...(meta.dependencies === undefined ? {} : { dependencies: [...meta.dependencies] }),
    ...(meta.decorators?.request === undefined
      ? {}
      : { decorators: { request: [...meta.decorators.request] } }),
  };
  return fn;
}
