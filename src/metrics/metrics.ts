/**
 * Bastion's Prometheus metrics: one prom-client `Registry` per `createMetrics()` (never the
 * global one), with typed accessors that pass every label through a guard, so callers cannot
 * turn raw input into a label by mistake.
 *
 * Event-loop delay comes with the default Node.js metrics (`nodejs_eventloop_lag_seconds`,
 * `nodejs_eventloop_lag_p50/p90/p99_seconds`, measured by `perf_hooks.monitorEventLoopDelay`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { allRefusalCodes } from '../errors.js';
import {
  createLabelGuard,
  createModelLabeler,
  statusLabel,
  type KnownModel,
} from './label-guard.js';

/** Options for {@link createMetrics}. */
export interface MetricsOptions {
  /** Models that may appear as labels; others become `'_unknown'`. Update with `setKnownModels`. */
  readonly knownModels?: Iterable<string | KnownModel>;
  /** Also collect prom-client's default process and Node.js metrics; default true. */
  readonly defaultMetrics?: boolean;
  /** Buckets (seconds) of the request and inference duration histograms. */
  readonly durationBuckets?: readonly number[];
  /** Buckets (seconds) of the queue wait histogram. */
  readonly queueWaitBuckets?: readonly number[];
  /** Buckets of the batch size histogram. */
  readonly batchSizeBuckets?: readonly number[];
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

const defaultDurationBuckets = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const defaultQueueWaitBuckets = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1,
];
const defaultBatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

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
  const reasonGuard = createLabelGuard();
  const registers = [registry];
  const durationBuckets = [...(options.durationBuckets ?? defaultDurationBuckets)];

  const requests = new Counter({
    name: 'bastion_requests_total',
    help: 'Requests to model and repository routes, by model, version and HTTP status.',
    labelNames: ['model', 'version', 'status'] as const,
    registers,
  });
  const requestDuration = new Histogram({
    name: 'bastion_request_duration_seconds',
    help: 'Time from request received to response sent, by model, version and HTTP status.',
    labelNames: ['model', 'version', 'status'] as const,
    buckets: durationBuckets,
    registers,
  });
  const inferenceDuration = new Histogram({
    name: 'bastion_inference_duration_seconds',
    help: 'Time spent running the model (one batch), by model and version.',
    labelNames: ['model', 'version'] as const,
    buckets: durationBuckets,
    registers,
  });
  const queueWait = new Histogram({
    name: 'bastion_queue_wait_seconds',
    help: 'Time a request waited in the batching queue before running.',
    labelNames: ['model'] as const,
    buckets: [...(options.queueWaitBuckets ?? defaultQueueWaitBuckets)],
    registers,
  });
  const queueDepth = new Gauge({
    name: 'bastion_queue_depth',
    help: 'Requests waiting in the queue of each model.',
    labelNames: ['model'] as const,
    registers,
  });
  const batchSize = new Histogram({
    name: 'bastion_batch_size',
    help: 'Requests per batch sent to the model.',
    labelNames: ['model'] as const,
    buckets: [...(options.batchSizeBuckets ?? defaultBatchSizeBuckets)],
    registers,
  });
  const authFailures = new Counter({
    name: 'bastion_auth_failures_total',
    help: 'Requests refused by authentication or authorization, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const modelLoads = new Counter({
    name: 'bastion_model_loads_total',
    help: 'Model version load attempts, by model, version and result (loaded, refused, failed).',
    labelNames: ['model', 'version', 'result'] as const,
    registers,
  });
  const modelRefusals = new Counter({
    name: 'bastion_model_refusals_total',
    help: 'Model versions refused, by model and the stable code of the reason (untrusted-identity, tlog-invalid, ...).',
    labelNames: ['model', 'reason'] as const,
    registers,
  });
  const auditWriteFailures = new Counter({
    name: 'bastion_audit_write_failures_total',
    help: 'Audit records that could not be written.',
    registers,
  });
  const workerRestarts = new Counter({
    name: 'bastion_worker_restarts_total',
    help: 'Inference worker threads restarted after a crash, by model.',
    labelNames: ['model'] as const,
    registers,
  });
  const modelPlacement = new Gauge({
    name: 'bastion_model_placement',
    help: 'Where each ready model version runs: inline on the event loop or in a worker pool (1).',
    labelNames: ['model', 'version', 'placement'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'bastion_rate_limited_total',
    help: 'Requests refused with 429 by the rate limit or quota.',
    registers,
  });

  const mv = (l: ModelVersionLabels): { model: string; version: string } => ({
    model: labeler.model(l.model),
    version: labeler.version(l.model, l.version),
  });
  const req = (l: RequestLabels): { model: string; version: string; status: string } => ({
    ...mv({ model: l.model, version: l.version }),
    status: statusLabel(l.status),
  });
  const m = (l: ModelLabels): { model: string } => ({ model: labeler.model(l.model) });

  return {
    registry,
    requests: {
      inc: (l, value = 1) => {
        requests.inc(req(l), value);
      },
    },
    requestDuration: {
      observe: (l, s) => {
        requestDuration.observe(req(l), s);
      },
    },
    inferenceDuration: {
      observe: (l, s) => {
        inferenceDuration.observe(mv(l), s);
      },
    },
    queueWait: {
      observe: (l, s) => {
        queueWait.observe(m(l), s);
      },
    },
    queueDepth: {
      set: (l, depth) => {
        queueDepth.set(m(l), depth);
      },
      inc: (l) => {
        queueDepth.inc(m(l));
      },
      dec: (l) => {
        queueDepth.dec(m(l));
      },
    },
    modelPlacement: {
      set: (rows) => {
        modelPlacement.reset();
        for (const r of rows) {
          modelPlacement.set(
            { ...mv(r), placement: r.placement === 'pool' ? 'pool' : 'inline' },
            1,
          );
        }
      },
    },
    batchSize: {
      observe: (l, size) => {
        batchSize.observe(m(l), size);
      },
    },
    authFailures: {
      inc: (l) => {
        authFailures.inc({ reason: reasonGuard(l.reason) });
      },
    },
    modelLoads: {
      inc: (l) => {
        modelLoads.inc({ ...mv(l), result: l.result });
      },
    },
    modelRefusals: {
      inc: (l) => {
        // A closed set: the refusal codes (errors.ts), anything else `other`.
        modelRefusals.inc({ ...m(l), reason: allRefusalCodes.has(l.reason) ? l.reason : 'other' });
      },
    },
    auditWriteFailures: {
      inc: (value = 1) => {
        auditWriteFailures.inc(value);
      },
    },
    workerRestarts: {
      inc: (l) => {
        workerRestarts.inc(m(l));
      },
    },
    rateLimited: {
      inc: () => {
        rateLimited.inc();
      },
    },
    modelLabel: (model) => labeler.model(model),
    versionLabel: (model, version) => labeler.version(model, version),
    setKnownModels: (models) => {
      labeler.setKnownModels(models);
    },
  };
}
