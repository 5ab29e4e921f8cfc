/**
 * `--profile`: CPU-profiles the main thread of Bastion in each HTTP scenario the bench measures
 * (worker pool and inline at c=32, batching at c=32, the default placement at c=1), of the
 * naive server (c=32, c=1) and of the floor (the naive server behind Bastion's edge plugins,
 * c=32), each after a warm-up and for a few seconds of load only (start-up is not in the
 * profiles), and attributes the samples to stages (`stages.ts`).
 */
import { readFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadJob } from './bench-protocol.js';
import { bastionConfigYaml, type BenchFiles, inferBody, modelWidth } from './bench-setup.js';
import {
  type LoadGenerator,
  recordsPerFsync,
  type RunningServer,
  startLoadGenerator,
  startServer,
} from './children.js';
import { summarizeProfile } from './profile-summary.js';
import type { StageProfile } from './stage-table.js';
import { type CpuProfile, stageBreakdown } from './stages.js';

/** How long to load each scenario. */
export interface ProfilePlan {
  readonly warmupSec: number;
  readonly profileSec: number;
}

type ServerKey = 'pool' | 'inline' | 'default' | 'naive' | 'floor';

interface ProfileScenario {
  readonly id: string;
  readonly label: string;
  readonly server: ServerKey;
  readonly model: 'mlp' | 'mlp-batched';
  readonly connections: number;
}

/** The scenarios, grouped by server so that each server starts once. */
const scenarios: readonly ProfileScenario[] = [
  { id: 'pool-c32', label: 'pool c=32', server: 'pool', model: 'mlp', connections: 32 },
  { id: 'inline-c32', label: 'inline c=32', server: 'inline', model: 'mlp', connections: 32 },
  {
    id: 'batched-c32',
    label: 'batching c=32',
    server: 'default',
    model: 'mlp-batched',
    connections: 32,
  },
  { id: 'default-c1', label: 'default c=1', server: 'default', model: 'mlp', connections: 1 },
  { id: 'naive-c32', label: 'naive c=32', server: 'naive', model: 'mlp', connections: 32 },
  { id: 'naive-c1', label: 'naive c=1', server: 'naive', model: 'mlp', connections: 1 },
  { id: 'floor-c32', label: 'floor c=32', server: 'floor', model: 'mlp', connections: 32 },
];

function startFor(key: ServerKey, work: string, files: BenchFiles): Promise<RunningServer> {
  if (key === 'naive' || key === 'floor') {
    return startServer({ kind: key, name: key, repository: files.naiveDir });
  }
  // Every guard on, as in the measured rounds: token through the cache, audit (fsync: always),
  // metrics, info logging. `pool` and `inline` pin the placement; `default` leaves it to Bastion.
  const repository = key === 'default' ? files.fullRepo : files.mlpRepo;
  const configYaml = bastionConfigYaml({
    repository,
    stateDir: join(work, `var-profile-${key}`),
    auditPath: join(work, `audit-profile-${key}.log`),
    authCache: true,
    auditAndMetrics: true,
    logLevel: 'info',
    ...(key === 'pool' ? { poolSize: 1 } : key === 'inline' ? { poolSize: 0 } : {}),
  });
  return startServer({
    kind: 'bastion',
    name: `profile-${key}`,
    repository,
    configYaml,
    configDir: work,
  });
}

async function profileOne(
  s: ProfileScenario,
  server: RunningServer,
  load: LoadGenerator,
  plan: ProfilePlan,
  dir: string,
): Promise<StageProfile> {
  const job: LoadJob = {
    url: `${server.url}/v2/models/${s.model}/infer`,
    headers: {
      'content-type': 'application/json',
      ...(server.token === undefined ? {} : { authorization: `Bearer ${server.token}` }),
    },
    body: inferBody(modelWidth.mlp),
    connections: s.connections,
    durationSec: plan.warmupSec,
  };
  const warm = await load.run(job);
  if (warm.requests === 0) throw new Error(`profile ${s.id}: no successful request in warm-up`);
  const file = join(dir, `${s.id}.cpuprofile`);
  const cpuBefore = await server.cpuMicros();
  const auditBefore = await server.auditCounts();
  const result = await server.profile(file, () =>
    load.run({ ...job, durationSec: plan.profileSec }),
  );
  const cpuUsed = (await server.cpuMicros()) - cpuBefore;
  const auditAfter = await server.auditCounts();
  const requests = result.requests + result.non2xx;
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  return {
    id: s.id,
    label: s.label,
    file,
    requests,
    perSec: result.perSec,
    breakdown: stageBreakdown(profile),
    processCpuPerRequest: requests === 0 ? NaN : cpuUsed / requests,
    recordsPerFsync: recordsPerFsync(auditBefore, auditAfter),
    summary: {
      ...(await summarizeProfile(file, 15)),
      requestsPerSec: result.perSec,
      requests,
    },
  };
}

/** Profiles every scenario; writes the `.cpuprofile` files under `dir` (emptied first). */
export async function profileScenarios(
  work: string,
  files: BenchFiles,
  plan: ProfilePlan,
  dir: string,
  log: (message: string) => void,
): Promise<StageProfile[]> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const load = await startLoadGenerator();
  const results: StageProfile[] = [];
  try {
    for (const key of ['pool', 'inline', 'default', 'naive', 'floor'] as const) {
      const server = await startFor(key, work, files);
      try {
        for (const s of scenarios.filter((x) => x.server === key)) {
          const p = await profileOne(s, server, load, plan, dir);
          const busy = p.breakdown.busyUs / Math.max(1, p.requests);
          log(
            `profiled ${s.id}: ${p.perSec.toFixed(0)} req/s, ${busy.toFixed(0)} µs sampled main-thread busy/req`,
          );
          results.push(p);
        }
      } finally {
        await server.close();
      }
    }
  } finally {
    await load.close();
  }
  return results;
}
