import type { FastifyInstance, FastifyRequest } from 'fastify';
import { definePlugin } from './define-plugin.js';
import { isAuthorized } from '../auth/authorization.js';
import { BastionError } from '../errors.js';
import type { InferenceStats, ModelStat } from '../inference/inference-stats.js';
import type { ModelRegistry } from '../models/model-registry.js';
import { modelPrefixes } from './model-routes.js';
import { okResponseSchema, statsResponse } from './openapi-schemas.js';
import {
  type ModelParams,
  modelParamsError,
  modelParamsJsonSchema,
  parseModelParams,
} from './route-params.js';

/** Dependencies of the statistics routes. */
export interface StatsRoutesOptions {
  readonly registry: ModelRegistry;
  readonly stats: InferenceStats;
}

/** The ready versions of every model (or of one), sorted by model then version. */
function readyTargets(
  registry: ModelRegistry,
  model?: string,
): { model: string; version: number }[] {
  return registry
    .list()
    .filter((s) => s.state === 'ready' && (model === undefined || s.model === model))
    .map((s) => ({ model: s.model, version: s.version }))
    .sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : a.version - b.version));
}

/**
 * Triton's statistics extension: `GET /v2/models/stats` (every ready version of every model the
 * caller may call — models without its scope are left out, not refused) and
 * `GET /v2/models/{m}[/versions/{v}]/stats` (scope `infer:{m}`, 403/404 like the other model
 * routes). Every request is audited.
 */
export const statsRoutesPlugin = definePlugin(
  (app: FastifyInstance, options: StatsRoutesOptions, done: (error?: Error) => void) => {
    const { registry, stats } = options;
    const snapshot = (targets: readonly { model: string; version: number }[]) => ({
      model_stats: targets.map((t): ModelStat => stats.snapshot(t.model, t.version)),
    });
    const response = okResponseSchema(statsResponse);

    app.get(
      '/v2/models/stats',
      { config: { policy: { access: 'token', audit: true } }, schema: { response } },
      (request) => {
        const principal = request.principal;
        if (principal === null) throw new BastionError('INTERNAL', 'no principal on a token route');
        return snapshot(
          readyTargets(registry).filter((t) =>
            isAuthorized(principal, { kind: 'infer', model: t.model }),
          ),
        );
      },
    );

    for (const prefix of modelPrefixes) {
      app.get(
        `${prefix}/stats`,
        {
          config: { policy: { access: 'infer', audit: true } },
          schema: { params: modelParamsJsonSchema, response },
          schemaErrorFormatter: modelParamsError,
        },
        (request: FastifyRequest<{ Params: ModelParams }>) => {
          const { model, version } = parseModelParams(request.params);
          request.bastionTarget = { model, version };
          // The same 404/503 answers as metadata and infer for a model or version that is not ready.
          const lease = registry.acquire(model, version);
          const chosen = lease.version.version;
          lease.release();
          return snapshot(
            version === undefined ? readyTargets(registry, model) : [{ model, version: chosen }],
          );
        },
      );
    }
    done();
  },
  {
    name: 'bastion-stats-routes',
    dependencies: ['bastion-request-state', 'bastion-error-handler'],
    decorators: { request: ['principal', 'bastionTarget'] },
  },
);
