/**
 * Bastion's Prometheus metrics: one prom-client `Registry` per `createMetrics()` (never the
 * global one), with typed accessors that pass every label through a guard, so callers cannot
 * turn raw input into a label by mistake.
 *
 * Event-loop delay comes with the default Node.js metrics (`nodejs_eventloop_lag_seconds`,
 * `nodejs_eventloop_lag_p50/p90/p99_seconds`, measured by `perf_hooks.monitorEventLoopDelay`).
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import { allRefusalCodes } from '../errors.js';
import {
  type AuditCounts,
  type HistogramBuckets,
  modelCollectors,
  requestCollectors,
} from './collectors.js';
import {
  createLabelGuard,
  createModelLabeler,
  statusLabel,
  type KnownModel,
} from './label-guard.js';

/** Options for {@link createMetrics}. */
export interface MetricsOptions extends HistogramBuckets {
  /** Models that may appear as labels; others become `'_unknown'`. Update with `setKnownModels`. */
  readonly knownModels?: Iterable<string | KnownModel>;
  /** Also collect prom-client's default process and Node.js metrics; default true. */
  readonly defaultMetrics?: boolean;
}

/** Labels of a request. `model` and `version` are guarded; `status` is the HTTP status. */
export interface RequestLabels {
  readonly model?: string | undefined;
  readonly version?: string | number | undefined;
  readonly status: number | string;
}

/** Labels naming a model version. */
export interface ModelVersionLabels {
  readonly model: string | undefined;
  readonly version: string | number | undefined;
}

/** Labels naming a model. */
export interface ModelLabels {
  readonly model: string | undefined;
}

/** Result of a model load attempt. */
export type ModelLoadResult = 'loaded' | 'refused' | 'failed';

/** The metrics of one gateway. */
export interface Metrics {
  /** The registry to scrape (`registry.metrics()`, `registry.contentType`). */
  readonly registry: Registry;
  /** `bastion_requests_total{model,version,status}`. */
  readonly requests: { inc(labels: RequestLabels, value?: number): void };
  /** `bastion_request_duration_seconds{model,version,status}`. */
  readonly requestDuration: { observe(labels: RequestLabels, seconds: number): void };
  /** `bastion_inference_duration_seconds{model,version}`. */
  readonly inferenceDuration: { observe(labels: ModelVersionLabels, seconds: number): void };
  /** `bastion_queue_wait_seconds{model}`. */
  readonly queueWait: { observe(labels: ModelLabels, seconds: number): void };
  /** `bastion_queue_depth{model}`. */
  readonly queueDepth: {
    set(labels: ModelLabels, depth: number): void;
    inc(labels: ModelLabels): void;
    dec(labels: ModelLabels): void;
  };
  /** `bastion_batch_size{model}`. */
  readonly batchSize: { observe(labels: ModelLabels, size: number): void };
  /** `bastion_auth_failures_total{reason}`; reasons are bounded by a guard (else `other`). */
  readonly authFailures: { inc(labels: { readonly reason: string }): void };
  /** `bastion_model_loads_total{model,version,result}`. */
  readonly modelLoads: {
    inc(labels: ModelVersionLabels & { readonly result: ModelLoadResult }): void;
  };
  /**
   * `bastion_model_refusals_total{model,reason}`: why versions were refused, by their refusal
   * code (`untrusted-identity`, `tlog-invalid`, `digest-mismatch`, … `refusalCodes` in
   * errors.ts); `other` for a failure without one.
   */
  readonly modelRefusals: { inc(labels: ModelLabels & { readonly reason: string }): void };
  /** `bastion_audit_write_failures_total`. */
  readonly auditWriteFailures: { inc(value?: number): void };
  /**
   * `bastion_audit_records_total` and `bastion_audit_fsyncs_total`, read from `source` (the
   * audit log's `stats()`) at scrape time, so the write path pays nothing; 0 until set.
   */
  readonly auditStats: { readFrom(source: () => AuditCounts | undefined): void };
  /** `bastion_worker_restarts_total{model}`. */
  readonly workerRestarts: { inc(labels: ModelLabels): void };
  /** `bastion_rate_limited_total`. */
  readonly rateLimited: { inc(): void };
  /**
   * `bastion_model_placement{model,version,placement}`: 1 where each ready version runs
   * (`inline` or `pool`); replaces the previous set, so unloaded versions drop out.
   */
  readonly modelPlacement: {
    set(rows: readonly (ModelVersionLabels & { readonly placement: string })[]): void;
  };
  /** The bounded label for a model name: itself when known, `'_unknown'` otherwise. */
  modelLabel(model: string | undefined): string;
  /** The bounded label for a version of a model. */
  versionLabel(model: string | undefined, version: string | number | undefined): string;
  /** Replaces the models that may appear as labels. */
  setKnownModels(models: Iterable<string | KnownModel>): void;
}

/**
 * prom-client's default metrics include three gauges named `*_total`, which `promtool check
 * metrics` rejects ("non-counter metrics should not have _total suffix") and which Prometheus
 * would mistake for counters. Each is only the sum of a per-type gauge that stays exported
 * (`nodejs_active_handles{type}`, `nodejs_active_requests{type}`, `nodejs_active_resources{type}`),
 * so they are dropped: `sum(nodejs_active_handles)` gives the same number.
 */
export const droppedDefaultMetrics = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** Creates the metrics and their own registry. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    for (const name of droppedDefaultMetrics) registry.removeSingleMetric(name);
  }
  const labeler = createModelLabeler(options.knownModels);
  const labels: Labels = {
    mv: (l) => ({ model: labeler.model(l.model), version: labeler.version(l.model, l.version) }),
    req: (l) => ({
      model: labeler.model(l.model),
      version: labeler.version(l.model, l.version),
      status: statusLabel(l.status),
    }),
    m: (l) => ({ model: labeler.model(l.model) }),
  };
  return {
    registry,
    ...requestMetrics(requestCollectors([registry], options), labels),
    ...modelMetrics(modelCollectors([registry]), labels),
    modelLabel: (model) => labeler.model(model),
    versionLabel: (model, version) => labeler.version(model, version),
    setKnownModels: (models) => {
      labeler.setKnownModels(models);
    },
  };
}

/** The guarded label sets: model and version, plus status for requests, or model alone. */
interface Labels {
  readonly mv: (l: ModelVersionLabels) => { model: string; version: string };
  readonly req: (l: RequestLabels) => { model: string; version: string; status: string };
  readonly m: (l: ModelLabels) => { model: string };
}

function requestMetrics(
  c: ReturnType<typeof requestCollectors>,
  { mv, req, m }: Labels,
): Pick<
  Metrics,
  'requests' | 'requestDuration' | 'inferenceDuration' | 'queueWait' | 'queueDepth' | 'batchSize'
> {
  return {
    requests: {
      inc: (l, value = 1) => {
        c.requests.inc(req(l), value);
      },
    },
    requestDuration: {
      observe: (l, s) => {
        c.requestDuration.observe(req(l), s);
      },
    },
    inferenceDuration: {
      observe: (l, s) => {
        c.inferenceDuration.observe(mv(l), s);
      },
    },
    queueWait: {
      observe: (l, s) => {
        c.queueWait.observe(m(l), s);
      },
    },
    queueDepth: {
      set: (l, depth) => {
        c.queueDepth.set(m(l), depth);
      },
      inc: (l) => {
        c.queueDepth.inc(m(l));
      },
      dec: (l) => {
        c.queueDepth.dec(m(l));
      },
    },
    batchSize: {
      observe: (l, size) => {
        c.batchSize.observe(m(l), size);
      },
    },
  };
}

function modelMetrics(
  c: ReturnType<typeof modelCollectors>,
  { mv, m }: Labels,
): Pick<
  Metrics,
  | 'authFailures'
  | 'modelLoads'
  | 'modelRefusals'
  | 'auditWriteFailures'
  | 'auditStats'
  | 'workerRestarts'
  | 'modelPlacement'
  | 'rateLimited'
> {
  const reasonGuard = createLabelGuard();
  return {
    modelPlacement: {
      set: (rows) => {
        c.modelPlacement.reset();
        for (const r of rows) {
          c.modelPlacement.set(
            { ...mv(r), placement: r.placement === 'pool' ? 'pool' : 'inline' },
            1,
          );
        }
      },
    },
    authFailures: {
      inc: (l) => {
        c.authFailures.inc({ reason: reasonGuard(l.reason) });
      },
    },
    modelLoads: {
      inc: (l) => {
        c.modelLoads.inc({ ...mv(l), result: l.result });
      },
    },
    modelRefusals: {
      inc: (l) => {
        // A closed set: the refusal codes (errors.ts), anything else `other`.
        c.modelRefusals.inc({
          ...m(l),
          reason: allRefusalCodes.has(l.reason) ? l.reason : 'other',
        });
      },
    },
    auditWriteFailures: {
      inc: (value = 1) => {
        c.auditWriteFailures.inc(value);
      },
    },
    auditStats: {
      readFrom: (source) => {
        c.auditRecords.readFrom(source);
        c.auditFsyncs.readFrom(source);
      },
    },
    workerRestarts: {
      inc: (l) => {
        c.workerRestarts.inc(m(l));
      },
    },
    rateLimited: {
      inc: () => {
        c.rateLimited.inc();
      },
    },
  };
}
