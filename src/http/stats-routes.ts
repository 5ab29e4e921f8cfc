import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isAuthorized } from '../auth/authorization.js';
import { BastionError } from '../errors.js';
import type { InferenceStats, ModelStat } from '../inference/inference-stats.js';
import type { ModelRegistry } from '../models/model-registry.js';
import { type ModelParams, parseModelParams } from './route-params.js';

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
export function registerStatsRoutes(app: FastifyInstance, options: StatsRoutesOptions): void {
  const { registry, stats } = options;
  const snapshot = (targets: readonly { model: string; version: number }[]) => ({
    model_stats: targets.map((t): ModelStat => stats.snapshot(t.model, t.version)),
  });

  app.get(
    '/v2/models/stats',
    { config: { policy: { access: 'token', audit: true } } },
    (request) => {
      const principal = request.principal;
      if (principal === undefined)
        throw new BastionError('INTERNAL', 'no principal on a token route');
      return snapshot(
        readyTargets(registry).filter((t) =>
          isAuthorized(principal, { kind: 'infer', model: t.model }),
        ),
      );
    },
  );

  for (const prefix of ['/v2/models/:model', '/v2/models/:model/versions/:version']) {
    app.get(
      `${prefix}/stats`,
      { config: { policy: { access: 'infer', audit: true } } },
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
}
