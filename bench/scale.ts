/**
 * `node --import tsx bench/scale.ts` (`BENCH_QUICK=1` for a short dev run): how Bastion's cost
 * grows. (1) Throughput vs concurrency (1, 8, 32, 128) on mlp for Bastion (default engine
 * choice, every guard on) and the naive server, alternating, with the server's CPU per request.
 * (2) 50 loaded models against one: start-up time, RSS per extra model, and throughput on one
 * hot model (alternating between the two servers). Writes `bench/results/scale-<date>.json|md`.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { LoadJob } from './bench-protocol.js';
import { markdownTable } from './bench-report.js';
import {
  bastionConfigYaml,
  buildBenchModels,
  inferBody,
  modelWidth,
  writeBenchFiles,
} from './bench-setup.js';
import { type RunningServer, startLoadGenerator, startServer } from './children.js';
import { median } from './stats.js';

const quick = process.env['BENCH_QUICK'] === '1';
const seconds = quick ? 1 : 3;
const rounds = quick ? 1 : 3;
const manyModels = 50;
const resultsDir = resolve(import.meta.dirname, 'results');
const log = (m: string): void => {
  process.stderr.write(`[scale ${(performance.now() / 1000).toFixed(0).padStart(3)}s] ${m}\n`);
};

interface Point {
  readonly server: string;
  readonly connections: number;
  readonly perSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuUsPerRequest: number;
}

const work = await mkdtemp(join(tmpdir(), 'bastion-scale-'));
const load = await startLoadGenerator();
const servers: RunningServer[] = [];
try {
  const models = await buildBenchModels();
  const files = await writeBenchFiles(work, models);
  // 50 copies of mlp under distinct names (unsigned; allowUnsigned is on in the bench config).
  const manyRepo = join(work, 'repo-many');
  for (let i = 0; i < manyModels; i++) {
    await mkdir(join(manyRepo, `mlp-${i}`, '1'), { recursive: true });
    await copyFile(
      join(files.mlpRepo, 'mlp/1/model.onnx'),
      join(manyRepo, `mlp-${i}/1/model.onnx`),
    );
  }
  const bastion = async (name: string, repository: string): Promise<[RunningServer, number]> => {
    const started = performance.now();
    const server = await startServer({
      kind: 'bastion',
      name,
      repository,
      configDir: work,
      configYaml: bastionConfigYaml({
        repository,
        stateDir: join(work, `var-${name}`),
        auditPath: join(work, `audit-${name}.log`),
        authCache: true,
        auditAndMetrics: true,
        logLevel: 'info',
      }),
    });
    servers.push(server);
    return [server, performance.now() - started];
  };
  const [one, oneStartMs] = await bastion('one', files.mlpRepo);
  const [many, manyStartMs] = await bastion('many', manyRepo);
  const naive = await startServer({ kind: 'naive', name: 'naive', repository: files.naiveDir });
  servers.push(naive);
  const body = inferBody(modelWidth.mlp);
  const job = (
    server: RunningServer,
    model: string,
    connections: number,
    sec: number,
  ): LoadJob => ({
    url: `${server.url}/v2/models/${model}/infer`,
    headers: {
      'content-type': 'application/json',
      ...(server.token === undefined ? {} : { authorization: `Bearer ${server.token}` }),
    },
    body,
    connections,
    durationSec: sec,
  });
  const measure = async (
    label: string,
    server: RunningServer,
    model: string,
    connections: number,
  ): Promise<Point> => {
    const before = await server.cpuMicros();
    const r = await load.run(job(server, model, connections, seconds));
    const used = (await server.cpuMicros()) - before;
    const answered = r.requests + r.non2xx;
    if (r.non2xx + r.errors > 0)
      log(`${label} c=${connections}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return {
      server: label,
      connections,
      perSec: r.perSec,
      p50: r.latency.p50,
      p99: r.latency.p99,
      cpuUsPerRequest: answered === 0 ? NaN : used / answered,
    };
  };
  for (const [s, m] of [
    [one, 'mlp'],
    [many, 'mlp-0'],
    [naive, 'mlp'],
  ] as const) {
    await load.run(job(s, m, 32, 1));
  }

  const points: Point[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const c of [1, 8, 32, 128]) {
      const order =
        round % 2 === 0
          ? ([
              ['bastion', one],
              ['naive', naive],
            ] as const)
          : ([
              ['naive', naive],
              ['bastion', one],
            ] as const);
      for (const [label, server] of order) {
        const p = await measure(label, server, 'mlp', c);
        points.push(p);
        log(
          `${label} c=${c}: ${p.perSec.toFixed(0)} req/s, p99 ${p.p99.toFixed(2)} ms, ${p.cpuUsPerRequest.toFixed(0)} µs CPU/req`,
        );
      }
    }
  }
  const hot: Point[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const [label, server, model] of [
      ['1 model', one, 'mlp'],
      [`${manyModels} models`, many, 'mlp-0'],
    ] as const) {
      const p = await measure(label, server, model, 32);
      hot.push(p);
      log(`hot model, ${label}: ${p.perSec.toFixed(0)} req/s`);
    }
  }
  const oneRss = await one.rssBytes();
  const manyRss = await many.rssBytes();

  const summarize = (list: Point[], server: string, c: number) => {
    const sel = list.filter((p) => p.server === server && p.connections === c);
    return {
      perSec: median(sel.map((p) => p.perSec)),
      p50: median(sel.map((p) => p.p50)),
      p99: median(sel.map((p) => p.p99)),
      cpu: median(sel.map((p) => p.cpuUsPerRequest)),
    };
  };
  const sweep = [1, 8, 32, 128].map((c) => {
    const b = summarize(points, 'bastion', c);
    const n = summarize(points, 'naive', c);
    return [
      String(c),
      n.perSec.toFixed(0),
      b.perSec.toFixed(0),
      (b.perSec / n.perSec).toFixed(2),
      `${n.p99.toFixed(2)} → ${b.p99.toFixed(2)}`,
      `${n.cpu.toFixed(0)} → ${b.cpu.toFixed(0)}`,
    ];
  });
  const hot1 = summarize(hot, '1 model', 32);
  const hotMany = summarize(hot, `${manyModels} models`, 32);
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  const md = `# Bastion scale figures — ${new Date().toISOString()}${quick ? ' (quick)' : ''}

Load average at end: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ')}; ${rounds} round(s) of ${seconds} s per point, alternating.
Bastion: every guard on (ES256 dev token through the cache, validation, audit \`fsync: always\`,
metrics, info logging), default engine choice (\`poolSize: auto\`).

## Throughput vs concurrency (mlp, batching off)

${markdownTable(['connections', 'naive req/s', 'Bastion req/s', 'Bastion/naive', 'p99 ms naive → Bastion', 'server µs CPU/req naive → Bastion'], sweep)}

## ${manyModels} loaded models

${markdownTable(
  ['figure', '1 model', `${manyModels} models`],
  [
    ['start-up to listening (ms)', oneStartMs.toFixed(0), manyStartMs.toFixed(0)],
    ['RSS after the runs (MiB)', mib(oneRss), mib(manyRss)],
    ['RSS per extra model (MiB)', '', mib((manyRss - oneRss) / (manyModels - 1))],
    ['hot model c=32 req/s', hot1.perSec.toFixed(0), hotMany.perSec.toFixed(0)],
    ['hot model c=32 µs CPU/req', hot1.cpu.toFixed(0), hotMany.cpu.toFixed(0)],
  ],
)}
`;
  process.stdout.write(`\n${md}`);
  await mkdir(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '');
  await writeFile(join(resultsDir, `scale-${stamp}.md`), md);
  await writeFile(
    join(resultsDir, `scale-${stamp}.json`),
    `${JSON.stringify({ quick, points, hot, oneStartMs, manyStartMs, oneRss, manyRss }, null, 2)}\n`,
  );
} finally {
  for (const s of servers) await s.close().catch(() => undefined);
  await load.close();
  await rm(work, { recursive: true, force: true });
}
