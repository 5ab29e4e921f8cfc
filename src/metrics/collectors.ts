/**
 * The prom-client collectors behind `createMetrics`, in registration order (the order a scrape
 * lists them): the request path's, then the model and gateway events'.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Histogram buckets a caller may override. */
export interface HistogramBuckets {
  /** Buckets (seconds) of the request and inference duration histograms. */
  readonly durationBuckets?: readonly number[];
  /** Buckets (seconds) of the queue wait histogram. */
  readonly queueWaitBuckets?: readonly number[];
  /** Buckets of the batch size histogram. */
  readonly batchSizeBuckets?: readonly number[];
}

/** What the audit counters read: records written and `fdatasync` calls since the log opened. */
export interface AuditCounts {
  readonly records: number;
  readonly syncs: number;
}

const defaultDurationBuckets = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const defaultQueueWaitBuckets = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1,
];
const defaultBatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** The collectors of the request path: requests, durations, queue and batches. */
export function requestCollectors(registers: Registry[], options: HistogramBuckets) {
  const durationBuckets = [...(options.durationBuckets ?? defaultDurationBuckets)];
  return {
    requests: new Counter({
      name: 'bastion_requests_total',
      help: 'Requests to model and repository routes, by model, version and HTTP status.',
      labelNames: ['model', 'version', 'status'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'bastion_request_duration_seconds',
      help: 'Time from request received to response sent, by model, version and HTTP status.',
      labelNames: ['model', 'version', 'status'] as const,
      buckets: durationBuckets,
      registers,
    }),
    inferenceDuration: new Histogram({
      name: 'bastion_inference_duration_seconds',
      help: 'Time spent running the model (one batch), by model and version.',
      labelNames: ['model', 'version'] as const,
      buckets: durationBuckets,
      registers,
    }),
    queueWait: new Histogram({
      name: 'bastion_queue_wait_seconds',
      help: 'Time a request waited in the batching queue before running.',
      labelNames: ['model'] as const,
      buckets: [...(options.queueWaitBuckets ?? defaultQueueWaitBuckets)],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'bastion_queue_depth',
      help: 'Requests waiting in the queue of each model.',
      labelNames: ['model'] as const,
      registers,
    }),
    batchSize: new Histogram({
      name: 'bastion_batch_size',
      help: 'Requests per batch sent to the model.',
      labelNames: ['model'] as const,
      buckets: [...(options.batchSizeBuckets ?? defaultBatchSizeBuckets)],
      registers,
    }),
  };
}

/** The collectors of model and gateway events: loads, refusals, restarts, refusals of callers. */
export function modelCollectors(registers: Registry[]) {
  return {
    authFailures: new Counter({
      name: 'bastion_auth_failures_total',
      help: 'Requests refused by authentication or authorization, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    modelLoads: new Counter({
      name: 'bastion_model_loads_total',
      help: 'Model version load attempts, by model, version and result (loaded, refused, failed).',
      labelNames: ['model', 'version', 'result'] as const,
      registers,
    }),
    modelRefusals: new Counter({
      name: 'bastion_model_refusals_total',
      help: 'Model versions refused, by model and the stable code of the reason (untrusted-identity, tlog-invalid, ...).',
      labelNames: ['model', 'reason'] as const,
      registers,
    }),
    auditWriteFailures: new Counter({
      name: 'bastion_audit_write_failures_total',
      help: 'Audit records that could not be written.',
      registers,
    }),
    auditRecords: auditCounter(
      registers,
      'bastion_audit_records_total',
      'Audit records written (durable per audit.fsync) since the audit log opened.',
      (c) => c.records,
    ),
    auditFsyncs: auditCounter(
      registers,
      'bastion_audit_fsyncs_total',
      'fdatasync calls on the audit log since it opened; records_total / fsyncs_total is records per fsync.',
      (c) => c.syncs,
    ),
    workerRestarts: new Counter({
      name: 'bastion_worker_restarts_total',
      help: 'Inference worker threads restarted after a crash, by model.',
      labelNames: ['model'] as const,
      registers,
    }),
    modelPlacement: new Gauge({
      name: 'bastion_model_placement',
      help: 'Where each ready model version runs: inline on the event loop or in a worker pool (1).',
      labelNames: ['model', 'version', 'placement'] as const,
      registers,
    }),
    rateLimited: new Counter({
      name: 'bastion_rate_limited_total',
      help: 'Requests refused with 429 by the rate limit or quota.',
      registers,
    }),
  };
}

/**
 * A counter read from the audit log's own counts at scrape time (the write path pays nothing):
 * 0 until {@link AuditCounter.readFrom} names the source.
 */
export interface AuditCounter {
  readFrom(source: () => AuditCounts | undefined): void;
}

function auditCounter(
  registers: Registry[],
  name: string,
  help: string,
  pick: (c: AuditCounts) => number,
): AuditCounter {
  let source: () => AuditCounts | undefined = () => undefined;
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(pick(source() ?? { records: 0, syncs: 0 }));
    },
  });
  return {
    readFrom(next) {
      source = next;
    },
  };
}
