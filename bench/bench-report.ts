/**
 * Turns the bench's rounds into the comparison table (console and markdown) and the goal checks.
 * Every figure is the median over rounds; the spread (min–max over rounds) of throughput is kept.
 */
import type { LatencySummary, LoadResult } from './bench-protocol.js';
import type { InProcessResult } from './in-process.js';
import type { ProfileSummary } from './profile-summary.js';
import { median } from './stats.js';

/** The median over rounds of one HTTP target. */
export interface HttpFigure {
  readonly perSec: number;
  readonly min: number;
  readonly max: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Server CPU µs (all threads) per answered request. */
  readonly cpuPerRequest: number;
  /** The server's main-thread CPU µs per answered request. */
  readonly mainCpuPerRequest: number;
  /** Audit records per fdatasync (Bastion with audit on; NaN otherwise). */
  readonly recordsPerFsync: number;
}

/** The median over rounds of one in-process measurement. */
export interface InProcessFigure {
  readonly rowsPerSec: number;
  readonly p50: number;
}

/** One row of the table: a scenario and the ids of its (a), (b), (c) measurements. */
export interface Scenario {
  readonly label: string;
  readonly a: string;
  readonly b: string;
  readonly c: string;
  /** Rows per request (throughput below is rows/s = requests/s × rows). */
  readonly rows: number;
}

/** One computed row. */
export interface ScenarioRow {
  readonly label: string;
  readonly a: InProcessFigure | undefined;
  readonly b: HttpFigure | undefined;
  readonly c: HttpFigure | undefined;
  readonly cOverB: number;
  readonly cOverA: number;
  readonly p99COverB: number;
}

/** One event-loop probe result. */
export interface HealthFigure {
  readonly server: string;
  readonly runMs: number;
  readonly rows: number;
  readonly load: LoadResult;
  readonly probe: LatencySummary;
}

/** One issue goal and whether this run met it. */
export interface GoalCheck {
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
}

/** Median figures per HTTP target. */
export function httpFigure(results: readonly LoadResult[], rows = 1): HttpFigure | undefined {
  if (results.length === 0) return undefined;
  const rates = results.map((r) => r.perSec * rows);
  return {
    perSec: median(rates),
    min: Math.min(...rates),
    max: Math.max(...rates),
    p50: median(results.map((r) => r.latency.p50)),
    p99: median(results.map((r) => r.latency.p99)),
    non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    errors: results.reduce((n, r) => n + r.errors, 0),
    cpuPerRequest: median(results.map((r) => r.serverCpuPerRequest ?? NaN)) / rows,
    mainCpuPerRequest: median(results.map((r) => r.serverMainCpuPerRequest ?? NaN)) / rows,
    recordsPerFsync: median(results.map((r) => r.auditRecordsPerFsync ?? NaN)),
  };
}

/** Median figures per in-process measurement. */
export function inProcessFigure(results: readonly InProcessResult[]): InProcessFigure | undefined {
  if (results.length === 0) return undefined;
  return {
    rowsPerSec: median(results.map((r) => r.rowsPerSec)),
    p50: median(results.map((r) => r.latency.p50)),
  };
}

/** Computes the rows of the table. */
export function scenarioRows(
  scenarios: readonly Scenario[],
  http: ReadonlyMap<string, readonly LoadResult[]>,
  inProcess: ReadonlyMap<string, readonly InProcessResult[]>,
): ScenarioRow[] {
  return scenarios.map((s) => {
    const a = inProcessFigure(inProcess.get(s.a) ?? []);
    const b = httpFigure(http.get(s.b) ?? [], s.rows);
    const c = httpFigure(http.get(s.c) ?? [], s.rows);
    return {
      label: s.label,
      a,
      b,
      c,
      cOverB: (c?.perSec ?? NaN) / (b?.perSec ?? NaN),
      cOverA: (c?.perSec ?? NaN) / (a?.rowsPerSec ?? NaN),
      p99COverB: (c?.p99 ?? NaN) / (b?.p99 ?? NaN),
    };
  });
}

const n0 = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US');
const ms = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(1);
const oneDecimal = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1);
const ratio = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const spread = (f: HttpFigure | undefined): string =>
  f === undefined ? '' : ` (${n0(f.min)}–${n0(f.max)})`;
const failures = (f: HttpFigure | undefined): string =>
  f === undefined || f.non2xx + f.errors === 0 ? '' : ` ⚠${f.non2xx + f.errors} failed`;

const header = [
  'scenario',
  'a rows/s',
  'b rows/s',
  'b p50',
  'b p99',
  'b µs CPU/row',
  'b main µs',
  'c rows/s',
  'c p50',
  'c p99',
  'c µs CPU/row',
  'c main µs',
  'c rec/fsync',
  'c/b',
  'c/a',
  'p99 c/b',
];

function cells(row: ScenarioRow): string[] {
  return [
    row.label,
    n0(row.a?.rowsPerSec),
    `${n0(row.b?.perSec)}${failures(row.b)}`,
    ms(row.b?.p50),
    ms(row.b?.p99),
    n0(row.b?.cpuPerRequest),
    n0(row.b?.mainCpuPerRequest),
    `${n0(row.c?.perSec)}${spread(row.c)}${failures(row.c)}`,
    ms(row.c?.p50),
    ms(row.c?.p99),
    n0(row.c?.cpuPerRequest),
    n0(row.c?.mainCpuPerRequest),
    oneDecimal(row.c?.recordsPerFsync),
    ratio(row.cOverB),
    ratio(row.cOverA),
    ratio(row.p99COverB),
  ];
}

/** The table as aligned plain text for the console. */
export function consoleTable(rows: readonly ScenarioRow[]): string {
  return alignedTable(header, rows.map(cells));
}

/** A table as aligned plain text: first column left-aligned, the others right-aligned. */
export function alignedTable(
  head: readonly string[],
  body: readonly (readonly string[])[],
): string {
  const lines = [head, ...body];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines
    .map((line) =>
      line
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  '),
    )
    .join('\n');
}

/** A markdown table. */
export function markdownTable(
  head: readonly string[],
  body: readonly (readonly string[])[],
): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...body.map((line) => `| ${line.join(' | ')} |`),
  ].join('\n');
}

/** The scenario table in markdown. */
export function scenarioMarkdown(rows: readonly ScenarioRow[]): string {
  return markdownTable(header, rows.map(cells));
}

/** The health-probe table rows. */
export function healthCells(figures: readonly HealthFigure[]): string[][] {
  return figures.map((h) => [
    h.server,
    `${ms(h.runMs)} (${h.rows} rows)`,
    `${n0(h.load.perSec)} req/s, ${h.load.non2xx + h.load.errors} failed`,
    String(h.probe.count),
    ms(h.probe.p50),
    ms(h.probe.p99),
    ms(h.probe.max),
  ]);
}

/** Header of {@link healthCells}. */
export const healthHeader = [
  'server',
  'one run ms',
  'slow-model load (c=8)',
  'probes',
  'live p50',
  'live p99',
  'live max',
];

/** The profile summary as markdown. */
export function profileMarkdown(summaries: readonly ProfileSummary[]): string {
  return summaries
    .map((s) =>
      [
        `#### ${s.file.replace(/^.*\//, '')} — ${s.busyMs.toFixed(0)} ms busy, ${s.idlePercent.toFixed(0)}% idle${s.requests === undefined || s.requests === 0 ? '' : `, ${(s.requestsPerSec ?? 0).toFixed(0)} req/s, ${((s.busyMs * 1000) / s.requests).toFixed(0)} µs of sampled main-thread busy time per request`}`,
        '',
        markdownTable(
          ['inclusive, by module', '% of busy'],
          s.inclusiveByModule.map((x) => [x.name, x.percent.toFixed(1)]),
        ),
        '',
        markdownTable(
          ['self, by function', '% of busy'],
          s.selfByFunction.map((x) => [x.name, x.percent.toFixed(1)]),
        ),
      ].join('\n'),
    )
    .join('\n\n');
}
