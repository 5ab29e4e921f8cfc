/**
 * `npm run bench [-- --quick] [-- --profile]`: Bastion against (a) ONNX Runtime called in
 * process (the limit) and (b) a naive Fastify + ONNX Runtime endpoint, in the same run, in
 * alternating rounds; (f) is that endpoint behind the plugins Bastion registers for every request,
 * the floor of the stack before any of Bastion's own security work. Every server runs in its own child process and autocannon in another, so
 * that server and load generator do not share an event loop; (a) and the health probe run here
 * while nothing else does. Writes `bench/results/<date>.json` and `.md`.
 *
 * --quick    one short round (about a minute)
 * --profile  afterwards, CPU-profile Bastion's main thread in each scenario (pool and inline c=32,
 *            batching c=32, c=1), the naive server's and the floor's, and print the CPU per request by stage
 *            (bench/profile-scenarios.ts, bench/stages.ts)
 * --profile-only  only that (profiles under bench/results/profiles/)
 * --from-source  run the Bastion servers from src/ through tsx instead of a fresh tsc build
 * --no-scale  skip the scale figures (bench/scale.ts: concurrency sweep, 50 loaded models; and,
 *             without --quick, bench/verify-load.ts on a 1 GiB file)
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadJob, LoadResult } from './bench-protocol.js';
import {
  consoleTable,
  type GoalCheck,
  healthCells,
  healthHeader,
  type HealthFigure,
  alignedTable,
  markdownTable,
  profileMarkdown,
  type Scenario,
  type ScenarioRow,
  scenarioMarkdown,
  scenarioRows,
} from './bench-report.js';
import {
  bastionConfigYaml,
  type BastionVariant,
  type BenchFiles,
  buildBenchModels,
  inferBody,
  irisBody,
  modelWidth,
  writeBenchFiles,
} from './bench-setup.js';
import {
  recordsPerFsync,
  type RunningServer,
  startLoadGenerator,
  startServer,
} from './children.js';
import {
  type InProcessResult,
  measureInProcess,
  releaseSessions,
  timeOneRun,
} from './in-process.js';
import { benchDistEnv, buildForBench } from './build-dist.js';
import { probeHealth } from './health-probe.js';
import { profileScenarios } from './profile-scenarios.js';
import { type StageProfile, stageTable } from './stage-table.js';

const args = new Set(process.argv.slice(2));
/** `--only=id,id`: measure only these HTTP targets (skips nothing else). */
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const quick = args.has('--quick');
const profileOnly = args.has('--profile-only');
const profile = profileOnly || args.has('--profile');
const plan = quick
  ? { rounds: 1, durationSec: 2, warmupSec: 1, inProcessSec: 1, probeSec: 3, profileSec: 3 }
  : { rounds: 3, durationSec: 4, warmupSec: 2, inProcessSec: 2, probeSec: 6, profileSec: 8 };
const resultsDir = resolve(import.meta.dirname, 'results');
const log = (message: string): void => {
  process.stderr.write(
    `[bench ${(performance.now() / 1000).toFixed(0).padStart(3)}s] ${message}\n`,
  );
};

type ServerName = 'naive' | 'floor' | 'full' | 'nocache' | 'quiet' | 'groupsync' | 'inline';

/** One HTTP measurement: which server, which model, how many connections. */
interface Target {
  readonly id: string;
  readonly server: ServerName;
  readonly model: string;
  readonly width: number;
  readonly connections: number;
  /** The request body; `inferBody(width)` when absent. */
  readonly body?: string;
}

const allTargets: readonly Target[] = [
  { id: 'b-mlp-c1', server: 'naive', model: 'mlp', width: modelWidth.mlp, connections: 1 },
  { id: 'b-mlp-c32', server: 'naive', model: 'mlp', width: modelWidth.mlp, connections: 32 },
  { id: 'f-mlp-c1', server: 'floor', model: 'mlp', width: modelWidth.mlp, connections: 1 },
  { id: 'f-mlp-c32', server: 'floor', model: 'mlp', width: modelWidth.mlp, connections: 32 },
  { id: 'c-mlp-c1', server: 'full', model: 'mlp', width: modelWidth.mlp, connections: 1 },
  { id: 'c-mlp-c32', server: 'full', model: 'mlp', width: modelWidth.mlp, connections: 32 },
  { id: 'c-mlpb-c1', server: 'full', model: 'mlp-batched', width: modelWidth.mlp, connections: 1 },
  {
    id: 'c-mlpb-c32',
    server: 'full',
    model: 'mlp-batched',
    width: modelWidth.mlp,
    connections: 32,
  },
  { id: 'c-nocache-c32', server: 'nocache', model: 'mlp', width: modelWidth.mlp, connections: 32 },
  { id: 'c-quiet-c32', server: 'quiet', model: 'mlp', width: modelWidth.mlp, connections: 32 },
  {
    id: 'c-groupsync-c32',
    server: 'groupsync',
    model: 'mlp',
    width: modelWidth.mlp,
    connections: 32,
  },
  { id: 'c-inline-c32', server: 'inline', model: 'mlp', width: modelWidth.mlp, connections: 32 },
  { id: 'b-iris-c32', server: 'naive', model: 'iris', width: 4, connections: 32, body: irisBody() },
  { id: 'c-iris-c32', server: 'full', model: 'iris', width: 4, connections: 32, body: irisBody() },
  {
    id: 'c-irisnp-c32',
    server: 'full',
    model: 'iris-nopolicy',
    width: 4,
    connections: 32,
    body: irisBody(),
  },
  {
    id: 'b-compute-c64',
    server: 'naive',
    model: 'compute',
    width: modelWidth.compute,
    connections: 64,
  },
  {
    id: 'c-computeb-c64',
    server: 'full',
    model: 'compute-batched',
    width: modelWidth.compute,
    connections: 64,
  },
  {
    id: 'c-compute-c64',
    server: 'full',
    model: 'compute',
    width: modelWidth.compute,
    connections: 64,
  },
];

const targets = allTargets.filter((t) => only === undefined || only.includes(t.id));

/** In-process measurements: model, rows per run. */
const inProcessRuns = [
  { id: 'a-mlp-1', model: 'mlp', rows: 1 },
  { id: 'a-mlp-32', model: 'mlp', rows: 32 },
  { id: 'a-compute-1', model: 'compute', rows: 1 },
  { id: 'a-iris-1', model: 'iris', rows: 1 },
  { id: 'a-compute-64', model: 'compute', rows: 64 },
] as const;

const scenarios: readonly Scenario[] = [
  { label: 'mlp c=1, batching off', a: 'a-mlp-1', b: 'b-mlp-c1', c: 'c-mlp-c1', rows: 1 },
  { label: 'mlp c=32, batching off', a: 'a-mlp-1', b: 'b-mlp-c32', c: 'c-mlp-c32', rows: 1 },
  { label: 'mlp c=1, batching on (max 32)', a: 'a-mlp-1', b: 'b-mlp-c1', c: 'c-mlpb-c1', rows: 1 },
  {
    label: 'mlp c=32, batching on (max 32)',
    a: 'a-mlp-32',
    b: 'b-mlp-c32',
    c: 'c-mlpb-c32',
    rows: 1,
  },
  {
    label: 'iris c=32, signed policy on',
    a: 'a-iris-1',
    b: 'b-iris-c32',
    c: 'c-iris-c32',
    rows: 1,
  },
  {
    label: 'iris c=32, same model, no policy',
    a: 'a-iris-1',
    b: 'b-iris-c32',
    c: 'c-irisnp-c32',
    rows: 1,
  },
  {
    label: 'compute c=64, batching on (max 64)',
    a: 'a-compute-64',
    b: 'b-compute-c64',
    c: 'c-computeb-c64',
    rows: 1,
  },
  {
    label: 'compute c=64, batching off',
    a: 'a-compute-1',
    b: 'b-compute-c64',
    c: 'c-compute-c64',
    rows: 1,
  },
  {
    label: 'mlp c=32, off — auth cache OFF',
    a: 'a-mlp-1',
    b: 'b-mlp-c32',
    c: 'c-nocache-c32',
    rows: 1,
  },
  {
    label: 'mlp c=32, off — audit+metrics OFF',
    a: 'a-mlp-1',
    b: 'b-mlp-c32',
    c: 'c-quiet-c32',
    rows: 1,
  },
  {
    label: 'mlp c=32, off — audit fsync every 5 ms',
    a: 'a-mlp-1',
    b: 'b-mlp-c32',
    c: 'c-groupsync-c32',
    rows: 1,
  },
  {
    label: 'mlp c=32, off — poolSize 0 (inline)',
    a: 'a-mlp-1',
    b: 'b-mlp-c32',
    c: 'c-inline-c32',
    rows: 1,
  },
  // Not Bastion: the naive server behind Bastion's edge plugins only (`naive-server.ts`).
  { label: floorLabel(1), a: 'a-mlp-1', b: 'b-mlp-c1', c: 'f-mlp-c1', rows: 1 },
  { label: floorLabel(32), a: 'a-mlp-1', b: 'b-mlp-c32', c: 'f-mlp-c32', rows: 1 },
];

function floorLabel(connections: number): string {
  return `mlp c=${connections} — f: naive + edge plugins (not Bastion)`;
}

function jobFor(
  target: Target,
  servers: ReadonlyMap<ServerName, RunningServer>,
  body: string,
  seconds: number,
): LoadJob {
  const server = servers.get(target.server);
  if (server === undefined) throw new Error(`no server ${target.server}`);
  return {
    url: `${server.url}/v2/models/${target.model}/infer`,
    headers: {
      'content-type': 'application/json',
      ...(server.token === undefined ? {} : { authorization: `Bearer ${server.token}` }),
    },
    body,
    connections: target.connections,
    durationSec: seconds,
  };
}

async function profileOnlyMain(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bastion-bench-'));
  try {
    const files = await writeBenchFiles(work, await buildBenchModels());
    printProfiles(await profileServers(work, files));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function profileServers(work: string, files: BenchFiles): Promise<StageProfile[]> {
  return profileScenarios(work, files, plan, join(resultsDir, 'profiles'), log);
}

/** The stage table, then each profile's top self-time functions. */
function printProfiles(profiles: readonly StageProfile[]): void {
  if (profiles.length === 0) return;
  const { head, body } = stageTable(profiles);
  process.stdout.write(`\n${alignedTable(head, body)}\n`);
  for (const { summary: p } of profiles) {
    process.stdout.write(
      `\nprofile ${p.file.replace(/^.*\//, '')}: ${p.busyMs.toFixed(0)} ms busy, ${p.idlePercent.toFixed(0)}% idle; self time:\n`,
    );
    for (const x of p.selfByFunction.slice(0, 8)) {
      process.stdout.write(`  ${x.percent.toFixed(1).padStart(5)}%  ${x.name}\n`);
    }
  }
}

/**
 * The machine's CPU time so far from /proc/stat (Linux), in clock ticks: all of it and the part
 * the hypervisor ran other guests in (steal). Undefined where /proc/stat cannot be read.
 */
function cpuTimes(): { total: number; steal: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]?.trim().split(/\s+/) ?? [];
    const ticks = fields.slice(1, 9).map(Number);
    if (fields[0] !== 'cpu' || ticks.length < 8 || ticks.some((t) => !Number.isFinite(t))) {
      return undefined;
    }
    return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7] ?? 0 };
  } catch {
    return undefined;
  }
}

/** Percent of the machine's CPU time stolen by the hypervisor between two readings. */
function stealPercent(
  start: ReturnType<typeof cpuTimes>,
  end: ReturnType<typeof cpuTimes>,
): number | undefined {
  if (start === undefined || end === undefined || end.total <= start.total) return undefined;
  return Number(((100 * (end.steal - start.steal)) / (end.total - start.total)).toFixed(1));
}

async function main(): Promise<void> {
  const started = new Date();
  const loadStart = loadavg();
  const cpuStart = cpuTimes();
  const work = await mkdtemp(join(tmpdir(), 'bastion-bench-'));
  const closers: (() => Promise<void>)[] = [];
  try {
    log(`plan: ${JSON.stringify(plan)}; work dir ${work}`);
    const models = await buildBenchModels();
    const files = await writeBenchFiles(work, models);
    const bytesOf = { mlp: models.mlp, compute: models.compute, iris: models.iris } as const;

    const variant = (name: string, v: Partial<BastionVariant>): BastionVariant => ({
      repository: files.mlpRepo,
      stateDir: join(work, `var-${name}`),
      auditPath: join(work, `audit-${name}.log`),
      authCache: true,
      auditAndMetrics: true,
      logLevel: 'info',
      ...v,
    });
    const bastion = (name: ServerName, v: BastionVariant) =>
      startServer({
        kind: 'bastion',
        name,
        repository: v.repository,
        configYaml: bastionConfigYaml(v),
        configDir: work,
      });
    log('starting servers and the load generator');
    const serverList = await Promise.all([
      startServer({ kind: 'naive', name: 'naive', repository: files.naiveDir }),
      startServer({ kind: 'floor', name: 'floor', repository: files.naiveDir }),
      bastion('full', variant('full', { repository: files.fullRepo })),
      bastion('nocache', variant('nocache', { authCache: false })),
      bastion('quiet', variant('quiet', { auditAndMetrics: false })),
      bastion('groupsync', variant('groupsync', { fsync: 5 })),
      bastion('inline', variant('inline', { poolSize: 0 })),
    ]);
    const servers = new Map(serverList.map((s) => [s.name as ServerName, s]));
    for (const s of serverList) closers.push(() => s.close());
    const load = await startLoadGenerator();
    closers.push(() => load.close());

    const bodies = new Map(targets.map((t) => [t.id, t.body ?? inferBody(t.width)]));
    const http = new Map<string, LoadResult[]>(targets.map((t) => [t.id, []]));
    const inProcess = new Map<string, InProcessResult[]>(inProcessRuns.map((r) => [r.id, []]));

    /** One measured load run, with the server's CPU time per answered request. */
    const measure = async (t: Target): Promise<LoadResult> => {
      const server = servers.get(t.server);
      const before = (await server?.cpuTimes()) ?? { micros: 0, mainMicros: NaN };
      const auditBefore = await server?.auditCounts();
      const result = await load.run(jobFor(t, servers, bodies.get(t.id) ?? '', plan.durationSec));
      const after = (await server?.cpuTimes()) ?? { micros: 0, mainMicros: NaN };
      const auditAfter = await server?.auditCounts();
      const answered = result.requests + result.non2xx;
      return {
        ...result,
        serverCpuPerRequest: answered === 0 ? NaN : (after.micros - before.micros) / answered,
        serverMainCpuPerRequest:
          answered === 0 ? NaN : (after.mainMicros - before.mainMicros) / answered,
        auditRecordsPerFsync: recordsPerFsync(auditBefore, auditAfter),
      };
    };

    log('warm-up');
    for (const r of inProcessRuns)
      await measureInProcess(bytesOf[r.model], modelWidth[r.model], r.rows, 0.3);
    for (const t of targets) {
      const result = await load.run(jobFor(t, servers, bodies.get(t.id) ?? '', plan.warmupSec));
      if (result.requests === 0) {
        const job = jobFor(t, servers, bodies.get(t.id) ?? '', 0);
        const res = await fetch(job.url, {
          method: 'POST',
          headers: job.headers,
          body: job.body ?? '',
        });
        throw new Error(
          `${t.id}: no successful request in warm-up (${res.status} ${await res.text()})`,
        );
      }
    }

    for (let round = 0; round < plan.rounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      const inOrder = round % 2 === 0 ? inProcessRuns : [...inProcessRuns].reverse();
      for (const r of inOrder) {
        const result = await measureInProcess(
          bytesOf[r.model],
          modelWidth[r.model],
          r.rows,
          plan.inProcessSec,
        );
        inProcess.get(r.id)?.push(result);
        log(`round ${round + 1}/${plan.rounds} ${r.id}: ${result.rowsPerSec.toFixed(0)} rows/s`);
      }
      for (const t of order) {
        const result = await measure(t);
        http.get(t.id)?.push(result);
        log(
          `round ${round + 1}/${plan.rounds} ${t.id}: ${result.perSec.toFixed(0)} req/s, ${(result.serverCpuPerRequest ?? NaN).toFixed(0)} µs CPU/req, p50 ${result.latency.p50.toFixed(2)} ms, p99 ${result.latency.p99.toFixed(2)} ms${result.non2xx + result.errors > 0 ? `, ${result.non2xx} non-2xx, ${result.errors} errors` : ''}`,
        );
      }
    }

    // Where each Bastion server's models ran by the end (poolSize auto may have demoted one).
    const placements: Record<string, string[]> = {};
    for (const s of serverList) {
      const text = await s.metricsText();
      if (text === undefined) continue;
      placements[s.name] = [
        ...text.matchAll(
          /^bastion_model_placement\{model="([^"]+)",version="([^"]+)",placement="([^"]+)"\} 1$/gm,
        ),
      ].map((m) => `${m[1]}:${m[2]} ${m[3]}`);
    }

    // Event loop under a saturated slow model: rows such that one run takes ≥ 50 ms (aim 80).
    let slowRows = 64;
    let runMs = await timeOneRun(models.slow, modelWidth.slow, slowRows);
    while (runMs < 80 && slowRows < 8192) {
      slowRows = Math.min(8192, Math.ceil((slowRows * 85) / Math.max(runMs, 1)));
      runMs = await timeOneRun(models.slow, modelWidth.slow, slowRows);
    }
    await releaseSessions();
    const health: HealthFigure[] = [];
    for (const name of ['full', 'naive'] as const) {
      const server = servers.get(name);
      if (server === undefined) continue;
      const job = jobFor(
        { id: 'slow', server: name, model: 'slow', width: modelWidth.slow, connections: 8 },
        servers,
        inferBody(modelWidth.slow, slowRows),
        plan.probeSec + 2,
      );
      const loading = load.run(job);
      await sleep(1000);
      const probe = await probeHealth(`${server.url}/v2/health/live`, plan.probeSec);
      const loadResult = await loading;
      health.push({
        server: name === 'full' ? 'c: Bastion (worker pool)' : 'b: naive (inline)',
        runMs,
        rows: slowRows,
        load: loadResult,
        probe,
      });
      log(
        `health/live on ${name} under slow load: p50 ${probe.p50.toFixed(2)} ms, p99 ${probe.p99.toFixed(2)} ms, max ${probe.max.toFixed(1)} ms`,
      );
    }

    for (const close of closers.splice(0).reverse()) await close();

    let profiles: StageProfile[] = [];
    if (profile) profiles = await profileServers(work, files);

    const rows = scenarioRows(scenarios, http, inProcess);
    const table = consoleTable(rows);
    const find = (label: string) => rows.find((r) => r.label === label);
    const off32 = find('mlp c=32, batching off');
    const off1 = find('mlp c=1, batching off');
    const computeOff = find('compute c=64, batching off');
    const compute = find('compute c=64, batching on (max 64)');
    const bastionHealth = health.find((h) => h.server.startsWith('c:'));
    const inline32 = find('mlp c=32, off — poolSize 0 (inline)');
    const irisPolicy = find('iris c=32, signed policy on');
    const irisBare = find('iris c=32, same model, no policy');
    const policyKeeps = (irisPolicy?.cOverB ?? NaN) / (irisBare?.cOverB ?? NaN);
    const goals: GoalCheck[] = [
      {
        goal: 'c/b ≥ 0.9 at c=32, batching off (mlp, default placement)',
        measured: (off32?.cOverB ?? NaN).toFixed(2),
        met: (off32?.cOverB ?? 0) >= 0.9,
      },
      {
        goal: 'c/b ≥ 0.9 at c=32, batching off (mlp, inline: poolSize 0)',
        measured: (inline32?.cOverB ?? NaN).toFixed(2),
        met: (inline32?.cOverB ?? 0) >= 0.9,
      },
      {
        goal: 'the iris policy keeps the ratio: c/b with it ≥ 0.95 × c/b without',
        measured: `${policyKeeps.toFixed(2)} (${(irisPolicy?.cOverB ?? NaN).toFixed(2)} vs ${(irisBare?.cOverB ?? NaN).toFixed(2)})`,
        met: policyKeeps >= 0.95,
      },
      {
        goal: 'c ≥ 2× b at c=64 on the compute-bound model, batching on',
        measured: `${(compute?.cOverB ?? NaN).toFixed(2)}×`,
        met: (compute?.cOverB ?? 0) >= 2,
      },
      {
        goal: 'c/b ≥ 1.0 where the pool runs the model on the second core (compute c=64, batching off)',
        measured: (computeOff?.cOverB ?? NaN).toFixed(2),
        met: (computeOff?.cOverB ?? 0) >= 1,
      },
      {
        goal: 'main-thread CPU per request ≤ b + 60 µs at c=32 (mlp, default placement)',
        measured: mainCpuGap(off32),
        met: (off32?.c?.mainCpuPerRequest ?? Infinity) <= (off32?.b?.mainCpuPerRequest ?? 0) + 60,
      },
      {
        goal: 'main-thread CPU per request ≤ b + 60 µs at c=32 (mlp, inline: poolSize 0)',
        measured: mainCpuGap(inline32),
        met:
          (inline32?.c?.mainCpuPerRequest ?? Infinity) <=
          (inline32?.b?.mainCpuPerRequest ?? 0) + 60,
      },
      {
        goal: 'p50(c) within 100 µs of p50(b) at c=1 (mlp, batching off)',
        measured: `+${(((off1?.c?.p50 ?? NaN) - (off1?.b?.p50 ?? NaN)) * 1000).toFixed(0)} µs (${(off1?.c?.p50 ?? NaN).toFixed(2)} vs ${(off1?.b?.p50 ?? NaN).toFixed(2)} ms)`,
        met: (off1?.c?.p50 ?? Infinity) - (off1?.b?.p50 ?? 0) <= 0.1,
      },
      {
        goal: 'p99(c) ≤ 1.5 × p99(b) at c=32 (mlp, batching off)',
        measured: `${(off32?.p99COverB ?? NaN).toFixed(2)}× (${(off32?.c?.p99 ?? NaN).toFixed(2)} vs ${(off32?.b?.p99 ?? NaN).toFixed(2)} ms)`,
        met: (off32?.p99COverB ?? Infinity) <= 1.5,
      },
      {
        goal: '/v2/health/live p99 < 20 ms while a ≥ 50 ms model is saturated',
        measured: `${(bastionHealth?.probe.p99 ?? NaN).toFixed(2)} ms (one run ${runMs.toFixed(0)} ms)`,
        met: (bastionHealth?.probe.p99 ?? Infinity) < 20 && runMs >= 50,
      },
    ];
    const floor = floorFigures(find(floorLabel(32)), off32, inline32);
    const loadEnd = loadavg();
    const host = {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadavgStart: loadStart.map((x) => Number(x.toFixed(2))),
      loadavgEnd: loadEnd.map((x) => Number(x.toFixed(2))),
      stealPercent: stealPercent(cpuStart, cpuTimes()),
    };

    process.stdout.write(`\n${table}\n\n`);
    process.stdout.write(
      `${markdownTable(healthHeader, healthCells(health)).replace(/\|/g, ' ')}\n\n`,
    );
    for (const [name, list] of Object.entries(placements))
      process.stdout.write(`placement at the end, ${name}: ${list.join(', ') || '–'}\n`);
    for (const g of goals)
      process.stdout.write(`${g.met ? 'MET   ' : 'NOT MET'}  ${g.goal}: ${g.measured}\n`);
    for (const line of floor) process.stdout.write(`floor: ${line}\n`);
    printProfiles(profiles);

    const stamp = started.toISOString().replace(/:/g, '-').replace(/\..*$/, '');
    await mkdir(resultsDir, { recursive: true });
    const json = {
      date: started.toISOString(),
      quick,
      plan,
      host,
      scenarios: rows,
      health,
      goals,
      floor,
      placements,
      raw: { http: Object.fromEntries(http), inProcess: Object.fromEntries(inProcess) },
      profiles,
    };
    await writeFile(join(resultsDir, `${stamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
    await writeFile(
      join(resultsDir, `${stamp}.md`),
      markdown({ started, host, rows, health, goals, floor, profiles, placements }),
    );
    log(`wrote bench/results/${stamp}.json and .md`);
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

/** Main-thread CPU per request of c against b, as "+N µs (c vs b)". */
function mainCpuGap(row: ScenarioRow | undefined): string {
  const c = row?.c?.mainCpuPerRequest ?? NaN;
  const b = row?.b?.mainCpuPerRequest ?? NaN;
  return `+${(c - b).toFixed(0)} µs (${c.toFixed(0)} vs ${b.toFixed(0)})`;
}

/** What the edge plugins alone cost, against the naive server and against Bastion. */
function floorFigures(
  floor: ScenarioRow | undefined,
  ...bastion: readonly (ScenarioRow | undefined)[]
): string[] {
  if (floor?.b === undefined || floor.c === undefined) return [];
  const cpu = (row: ScenarioRow | undefined) => row?.c?.cpuPerRequest ?? NaN;
  const main = (row: ScenarioRow | undefined) => row?.c?.mainCpuPerRequest ?? NaN;
  const f = floor.c;
  return [
    `f/b at c=32 (mlp): ${floor.cOverB.toFixed(2)}, p99 ${floor.p99COverB.toFixed(2)}×; main-thread CPU per request ${f.mainCpuPerRequest.toFixed(0)} µs against b's ${floor.b.mainCpuPerRequest.toFixed(0)} (+${(f.mainCpuPerRequest - floor.b.mainCpuPerRequest).toFixed(0)} µs of the +60 µs the issue allows everything Bastion adds); process CPU ${f.cpuPerRequest.toFixed(0)} against ${floor.b.cpuPerRequest.toFixed(0)} µs`,
    `Bastion over the floor at c=32, main-thread (process) CPU per request: default placement +${(main(bastion[0]) - f.mainCpuPerRequest).toFixed(0)} (+${(cpu(bastion[0]) - f.cpuPerRequest).toFixed(0)}) µs, inline +${(main(bastion[1]) - f.mainCpuPerRequest).toFixed(0)} (+${(cpu(bastion[1]) - f.cpuPerRequest).toFixed(0)}) µs`,
  ];
}

function stagesMarkdown(profiles: readonly StageProfile[]): string {
  const { head, body } = stageTable(profiles);
  return `
## Main-thread CPU per request, by stage (CPU profiles)

Each scenario's server main thread profiled (V8 sampling, 200 µs) for ${plan.profileSec} s of load after a
${plan.warmupSec} s warm-up; every sample goes to the stage of the first frame on its stack, from the leaf
up, that \`bench/stages.ts\` names; each cell is that stage's sampled time / requests served while
profiled, µs. Bastion runs with every guard on; \`pool\` and \`inline\` pin \`poolSize\` 1 and 0,
\`batching\` and \`default c=1\` use the default placement. \`(program)\` is native time V8 puts on
no stack (libuv, native callbacks); "process CPU" counts every thread (worker, thread pool) and
includes the profiler's overhead. V8 samples at wall-clock intervals: on a loaded host a thread's
descheduled time lands on the stack it was running, so sampled figures can exceed the process
CPU; compare columns of one run, not runs on different load.

${markdownTable(head, body)}

<details><summary>Top functions by self time, per profile</summary>

${profileMarkdown(profiles.map((p) => p.summary))}

</details>
`;
}

function markdown(report: {
  started: Date;
  host: {
    cpus: number;
    cpu: string;
    node: string;
    loadavgStart: number[];
    loadavgEnd: number[];
    stealPercent: number | undefined;
  };
  rows: ReturnType<typeof scenarioRows>;
  health: HealthFigure[];
  goals: GoalCheck[];
  floor: readonly string[];
  profiles: StageProfile[];
  placements: Record<string, string[]>;
}): string {
  const { host } = report;
  return `# Bastion bench — ${report.started.toISOString()}${quick ? ' (quick)' : ''}

Host: ${host.cpus} × ${host.cpu}, Node ${host.node}; load average at start ${host.loadavgStart.join(' / ')}, at end ${host.loadavgEnd.join(' / ')}; CPU time stolen by the hypervisor during the run: ${host.stealPercent === undefined ? 'unknown' : `${String(host.stealPercent)} %`}
(the bench shares the machine with whatever else ran meanwhile; on a VM, steal is time other guests had the cores).

Plan: ${plan.rounds} round(s) of ${plan.durationSec} s per target after a ${plan.warmupSec} s warm-up each, targets
alternating order between rounds; figures are medians over rounds, (min–max) of c's throughput.

- **a** — \`session.run\` in a loop in the bench process (same session options as Bastion: 1 intra-op
  thread), rows per run as the scenario allows (1, or the batch size when batching is on).
- **b** — naive Fastify + onnxruntime-node, inference inline on the event loop, no auth, audit,
  metrics or logging (\`bench/naive-server.ts\`), own process.
- **c** — Bastion (\`createGateway\`): JWT auth with a valid token, validation, audit log with
  \`fsync: always\`, metrics on, info-level JSON logging to /dev/null, the default placement
  (\`poolSize: auto\`; 1 intra-op thread) unless the scenario names another, own process. Where
  each server's models ran at the end: ${Object.entries(report.placements)
    .map(([name, list]) => `${name}: ${list.join(', ') || '–'}`)
    .join('; ')}.
- Load: autocannon in its own process, one request = one row; throughput in rows/s (= req/s).
  Latencies in ms, measured per response by the load generator.

${scenarioMarkdown(report.rows)}

## Event loop while a slow model (≥ 50 ms per run) is saturated

\`GET /v2/health/live\` every 10 ms from the bench process while autocannon keeps 8 requests on the
slow model.

${markdownTable(healthHeader, healthCells(report.health))}

## Issue goals

${markdownTable(
  ['goal', 'measured', 'met'],
  report.goals.map((g) => [g.goal, g.measured, g.met ? 'yes' : '**no**']),
)}

## The stack's floor (f)

**f** is the naive server behind the plugins Bastion registers for every request, configured as
Bastion configures them: helmet's headers (computed once), a request id, @fastify/rate-limit in
memory, @fastify/compress (1 KiB threshold); no auth, validation, audit, metrics or logging. Its
rows above are "f" in the c columns. What it costs over b is spent before any of Bastion's own
security work.

${report.floor.map((line) => `- ${line}`).join('\n')}
${report.profiles.length === 0 ? '' : stagesMarkdown(report.profiles)}`;
}

if (!args.has('--from-source')) {
  log('compiling src/ for the Bastion servers (.bench-dist; --from-source runs tsx instead)');
  process.env[benchDistEnv] = await buildForBench();
}
await (profileOnly ? profileOnlyMain() : main());
// The iris policy's own cost (constraints + OOD + hardening + quota + extraction watch), in process:
// issue "Model-level defenses" budgets it at 15 µs of main-thread CPU per request.
if (!profileOnly) {
  const { measurePolicyCost } = await import('./policy-cost.js');
  const cost = await measurePolicyCost(quick ? 5000 : 20_000);
  console.log(
    `\niris policy: +${cost.addedUs.toFixed(1)} µs CPU per request (${cost.withPolicyUs.toFixed(1)} vs ${cost.withoutPolicyUs.toFixed(1)} µs without; budget 15 µs: ${cost.addedUs <= 15 ? 'met' : 'NOT met'})`,
  );
}
// Scale figures (concurrency sweep, 50 models): bench/scale.ts, shortened with --quick.
if (!profileOnly && !args.has('--no-scale')) {
  if (quick) process.env['BENCH_QUICK'] = '1';
  await import('./scale.js');
  // A 1 GiB model file: verify + load against sha256sum on the same file (temp dir, deleted).
  if (!quick) {
    const { spawnSync } = await import('node:child_process');
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        resolve(import.meta.dirname, 'verify-load.ts'),
        '--size-mb',
        '1024',
        '--runs',
        '1',
        '--session-mb',
        '0',
      ],
      { stdio: 'inherit' },
    );
  }
}
