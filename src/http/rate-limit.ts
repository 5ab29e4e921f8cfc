import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { routeConfigOf } from './request-state.js';
import type { Redis } from 'ioredis';
import { isAuthorized } from '../auth/authorization.js';
import { BastionError } from '../errors.js';
import { isModelName } from '../models/model-repository.js';
import type { ModelRegistry } from '../models/model-registry.js';

/** Options of {@link rateLimitPlugin}. */
export interface RateLimitOptions {
  /** Requests per minute per token subject. */
  readonly requestsPerMinute: number;
  /** Requests per minute per client IP for requests without a valid token. */
  readonly unauthenticatedPerMinute: number;
  /** Per-model overrides come from each model's config.yaml (`requestsPerMinute`). */
  readonly registry: ModelRegistry;
  /** A shared store so that several replicas enforce one limit. */
  readonly redis?: Redis | undefined;
  readonly onLimited?: (() => void) | undefined;
}

/**
 * Limits every route of the scope per verified subject (`sub`), or per IP when the token did not
 * verify. Runs after the authenticate hook and before any body is parsed. When Redis is
 * unreachable the limiter fails open (requests pass, the error is logged) rather than failing
 * every request.
 */
export const rateLimitPlugin = definePlugin(
  async (scope: FastifyInstance, options: RateLimitOptions) => {
    // A model's own limit applies only to callers who may call it: for everyone else the answer
    // (403, with the subject's limit headers) is the same whether or not the model exists.
    const overrideOf = (request: FastifyRequest): number | undefined => {
      const model = (request.params as { model?: unknown }).model;
      const principal = request.principal;
      if (typeof model !== 'string' || principal === null) return undefined;
      if (routeConfigOf(request).policy?.access !== 'infer') return undefined;
      if (!isModelName(model) || !isAuthorized(principal, { kind: 'infer', model })) {
        return undefined;
      }
      return options.registry.tuningOf(model)?.requestsPerMinute;
    };
    await scope.register(rateLimit, {
      global: true,
      hook: 'onRequest',
      timeWindow: 60_000,
      skipOnError: true,
      nameSpace: 'bastion-rl:',
      ...(options.redis === undefined ? {} : { redis: options.redis }),
      keyGenerator: (request) => {
        const sub = request.principal?.sub;
        if (sub === undefined) return `ip:${request.ip}`;
        const override = overrideOf(request);
        const model = (request.params as { model?: string }).model ?? '';
        return override === undefined ? `sub:${sub}` : `sub:${sub}:model:${model}`;
      },
      max: (request, key) => {
        if (key.startsWith('ip:')) return options.unauthenticatedPerMinute;
        // keyGenerator named the model in the key exactly when it has its own limit.
        if (!key.includes(':model:')) return options.requestsPerMinute;
        return overrideOf(request) ?? options.requestsPerMinute;
      },
      onExceeded: () => options.onLimited?.(),
      errorResponseBuilder: (_request, context) =>
        new BastionError(
          'RATE_LIMITED',
          `rate limit of ${context.max} requests per minute exceeded; retry in ${context.after}`,
          { retryAfterSec: Math.max(1, Math.ceil(context.ttl / 1000)) },
        ),
    });
  },
  {
    name: 'bastion-rate-limit',
    // Keys by the subject the auth plugin's onRequest hook verified, so it must run after it.
    dependencies: ['bastion-auth', 'bastion-error-handler'],
    decorators: { request: ['principal'] },
  },
);
