/**
 * Wires the model-level defenses for a gateway: the quota store (Redis when `limits.redisUrl` is
 * set, else a file under `stateDir`), the extraction watch and their metrics and audit events.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { AuditEntry } from '../audit/audit-record.js';
import type { Metrics } from '../metrics/metrics.js';
import { createPolicyMetrics } from '../metrics/policy-metrics.js';
import { createExtractionWatch } from '../policy/extraction-watch.js';
import { createPolicyEnforcer, type PolicyEnforcer } from '../policy/policy-enforcer.js';
import {
  createFileQuotaStore,
  createRedisQuotaStore,
  type QuotaStore,
} from '../policy/query-quota.js';

/** Options of {@link createPolicyServices}. */
export interface PolicyServicesOptions {
  readonly stateDir: string;
  readonly redis?: Redis | undefined;
  readonly metrics?: Metrics | undefined;
  readonly audit: (entry: AuditEntry) => void;
  readonly log: (level: 'warn' | 'error', msg: string, fields?: object) => void;
}

/** The enforcer, and how to stop it (persists the quota counters). */
export interface PolicyServices {
  readonly enforcer: PolicyEnforcer;
  close(): Promise<void>;
}

/** Creates the policy services of a gateway. */
export async function createPolicyServices(
  options: PolicyServicesOptions,
): Promise<PolicyServices> {
  const quotas: QuotaStore =
    options.redis === undefined
      ? await createFileQuotaStore({
          path: join(options.stateDir, 'quotas.json'),
          onError: (error) => {
            options.log('error', 'quota counters could not be saved', { err: error });
          },
        })
      : createRedisQuotaStore(options.redis);
  const policyMetrics =
    options.metrics === undefined ? undefined : createPolicyMetrics(options.metrics);
  const watch = createExtractionWatch((alert) => {
    policyMetrics?.extractionAlert(alert.model, alert.kind, alert.bucket);
    options.log('warn', 'extraction watch: threshold crossed', {
      model: alert.model,
      kind: alert.kind,
      count: alert.count,
      threshold: alert.threshold,
      subjectBucket: alert.bucket,
    });
    options.audit({
      event: 'extraction.alert',
      outcome: 'allowed',
      sub: alert.sub,
      model: alert.model,
      reason: `${alert.kind}: ${alert.count} in ${alert.windowSec} s (threshold ${alert.threshold})`,
    });
  });
  const enforcer = createPolicyEnforcer({
    quotas,
    watch,
    onOod: (model, _version, action) => policyMetrics?.ood(model, action),
    onRefused: (model, _version, code) => policyMetrics?.refused(model, code),
    onQuotaError: (error) => {
      options.log('warn', 'quota store error; quotas fail open', { err: error });
    },
  });
  return { enforcer, close: () => quotas.close() };
}
