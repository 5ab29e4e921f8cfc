/**
 * The stage breakdown as a table: one row per stage, one column per profiled scenario, each cell
 * the µs of sampled main-thread CPU per request served while profiled.
 */
import type { ProfileSummary } from './profile-summary.js';
import { type StageBreakdown, stageLabels, stages } from './stages.js';

/** One profiled scenario. */
export interface StageProfile {
  readonly id: string;
  /** Column heading. */
  readonly label: string;
  readonly file: string;
  /** Requests answered while the profiler ran. */
  readonly requests: number;
  readonly perSec: number;
  readonly breakdown: StageBreakdown;
  /** Process CPU (user + system, every thread) per answered request while profiled, µs. */
  readonly processCpuPerRequest: number;
  /** Audit records per fdatasync while profiled; NaN without an audit log. */
  readonly recordsPerFsync: number;
  readonly summary: ProfileSummary;
}

/** µs per request of `totalUs` over `requests`. */
export function perRequestUs(totalUs: number, requests: number): number {
  return requests > 0 ? totalUs / requests : NaN;
}

const us = (x: number): string =>
  Number.isFinite(x) ? (Math.abs(x) < 10 ? x.toFixed(1) : x.toFixed(0)) : '–';

/** Heading and rows of the table. */
export function stageTable(profiles: readonly StageProfile[]): {
  head: string[];
  body: string[][];
} {
  const per = (p: StageProfile, total: number): string => us(perRequestUs(total, p.requests));
  const row = (label: string, cell: (p: StageProfile) => string): string[] => [
    label,
    ...profiles.map(cell),
  ];
  return {
    head: ['µs main-thread CPU / request', ...profiles.map((p) => p.label)],
    body: [
      ...stages.map((s) => row(stageLabels[s], (p) => per(p, p.breakdown.byStage[s]))),
      row('= sampled main-thread busy', (p) => per(p, p.breakdown.busyUs)),
      row('(program): native, not in busy', (p) => per(p, p.breakdown.programUs)),
      row('process CPU, all threads', (p) => us(p.processCpuPerRequest)),
      row('req/s under the profiler', (p) => p.perSec.toFixed(0)),
      row('audit records / fsync', (p) =>
        Number.isFinite(p.recordsPerFsync) ? p.recordsPerFsync.toFixed(1) : '–',
      ),
    ],
  };
}
