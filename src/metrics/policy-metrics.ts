/**
 * Metrics of the model-level defenses (signed policies), on the gateway's one registry. Labels are
 * bounded: model names through the known-model guard, codes and actions from fixed sets, and
 * subjects only as one of 16 hash buckets.
 */
import { Counter } from 'prom-client';
import type { ErrorCode } from '../errors.js';
import type { Metrics } from './metrics.js';

/** The policy counters. */
export interface PolicyMetrics {
  /** `bastion_policy_refusals_total{model,code}`. */
  refused(model: string, code: string): void;
  /** `bastion_ood_detections_total{model,action}`: rows scored out of distribution. */
  ood(model: string, action: string): void;
  /** `bastion_extraction_alerts_total{model,kind,subject_bucket}`. */
  extractionAlert(model: string, kind: string, bucket: string): void;
}

/** The error codes a policy refuses with (errors.ts `errorStatus`). */
const codes: ReadonlySet<string> = new Set<ErrorCode>([
  'VALUE_OUT_OF_POLICY',
  'OUT_OF_DISTRIBUTION',
  'QUOTA_EXCEEDED',
  'FORBIDDEN',
]);
const actions = new Set(['log', 'flag', 'reject']);
const kinds = new Set(['distinct-inputs', 'near-boundary']);
const buckets = /^[0-9a-f]$/;

/** Registers the policy counters next to the gateway's metrics. */
export function createPolicyMetrics(metrics: Metrics): PolicyMetrics {
  const registers = [metrics.registry];
  const refusals = new Counter({
    name: 'bastion_policy_refusals_total',
    help: 'Requests refused by a model policy (bounds, out of distribution, quota, withheld output).',
    labelNames: ['model', 'code'] as const,
    registers,
  });
  const detections = new Counter({
    name: 'bastion_ood_detections_total',
    help: 'Requests with a row scored out of distribution, by the policy action taken.',
    labelNames: ['model', 'action'] as const,
    registers,
  });
  const alerts = new Counter({
    name: 'bastion_extraction_alerts_total',
    help: 'Extraction-watch alerts (one per subject, model and window), subjects hashed into 16 buckets.',
    labelNames: ['model', 'kind', 'subject_bucket'] as const,
    registers,
  });
  const bounded = (value: string, allowed: ReadonlySet<string>): string =>
    allowed.has(value) ? value : 'other';
  return {
    refused(model, code) {
      refusals.inc({ model: metrics.modelLabel(model), code: bounded(code, codes) });
    },
    ood(model, action) {
      detections.inc({ model: metrics.modelLabel(model), action: bounded(action, actions) });
    },
    extractionAlert(model, kind, bucket) {
      alerts.inc({
        model: metrics.modelLabel(model),
        kind: bounded(kind, kinds),
        subject_bucket: buckets.test(bucket) ? bucket : 'other',
      });
    },
  };
}
