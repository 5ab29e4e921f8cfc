/**
 * How fast is verifying a signed model before it loads?
 *
 *     node --import tsx bench/verify-load.ts [--size-mb 512] [--runs 3] [--session-mb 128]
 *
 * 1. Writes a model-like file of `--size-mb` random bytes in a temp folder (hashing does not care
 *    whether it is valid ONNX) and signs the folder (OMS, ECDSA P-256 key made for the run).
 * 2. Times `verifyModelDirectory` — one read of every file into memory, SHA-256 while reading,
 *    signature and manifest check: the exact work done before a model is handed to ONNX Runtime
 *    — against `sha256sum` of the same file, alternating, `--runs` times each, in this run (and,
 *    for context, `openssl dgst -sha256`, which uses the CPU's SHA extensions). All read a warm
 *    page cache (the file was just written and is read again each run), so this
 *    compares hashing + copying, not disk speed.
 * 3. Reports peak RSS (`process.resourceUsage().maxRSS`) against the file size: the verified
 *    bytes are one buffer the size of the file; anything above is overhead.
 * 4. Separately (`--session-mb`, 0 to skip): builds a valid float32 MLP of about that size with
 *    `buildComputeMlp`, signs it, and times verify vs ONNX Runtime session creation from the
 *    verified bytes, so the share of load time spent verifying is visible.
 *
 * Prints a table and writes JSON to `bench/results/verify-load-<date>.json`.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { buildComputeMlp } from '../scripts/onnx/onnx-builder.js';
import { createOrtSession } from '../src/inference/ort-session.js';
import { signModelDirectory } from '../src/models/oms/sign-model.js';
import { verifyModelDirectory } from '../src/models/oms/verify-model.js';

const MiB = 1024 * 1024;

function argument(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`--${name} needs a non-negative number`);
    process.exit(2);
  }
  return value;
}

const sizeMb = argument('size-mb', 512);
const runs = Math.max(1, Math.round(argument('runs', 3)));
const sessionMb = argument('session-mb', 128);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

const maxRssBytes = (): number => process.resourceUsage().maxRSS * 1024;

/** Writes `bytes` random bytes to `path` in 16 MiB slices (keeps this process's RSS low). */
async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'w');
  const slice = Buffer.allocUnsafe(16 * MiB);
  try {
    for (let written = 0; written < bytes;) {
      const n = Math.min(slice.length, bytes - written);
      randomFillSync(slice, 0, n);
      await handle.write(slice, 0, n);
      written += n;
    }
  } finally {
    await handle.close();
  }
}

/** CPU seconds of waited-for children (Linux `/proc/self/stat` cutime + cstime); else NaN. */
function childCpuMs(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of stat(5), counted from field 3 (state) here; in clock ticks (USER_HZ).
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

interface Timing {
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** Runs `command args… path` to completion and times it (wall and the child's CPU). */
function timeCommand(command: readonly string[], path: string): Timing {
  const cpu = childCpuMs();
  const started = performance.now();
  execFileSync(command[0] ?? '', [...command.slice(1), path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return { wallMs: performance.now() - started, cpuMs: childCpuMs() - cpu };
}

function available(command: string, versionArgs: readonly string[]): boolean {
  try {
    execFileSync(command, versionArgs, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The reference: coreutils `sha256sum`. */
const sha256sumCommand = ['sha256sum'] as const;
/** For context only: OpenSSL's SHA-256 (uses SHA extensions where the CPU has them). */
const opensslCommand = ['openssl', 'dgst', '-sha256'] as const;

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const trust = { keys: [publicKey.export({ type: 'spki', format: 'pem' }) as string] };

async function main(): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'bastion-verify-bench-'));
  try {
    const dir = join(base, 'model', '1');
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'model.onnx');
    const bytes = Math.round(sizeMb * MiB);
    await writeRandomFile(file, bytes);

    let started = performance.now();
    await signModelDirectory({ root: dir, privateKeyPem: privateKey });
    const signMs = performance.now() - started;

    const withSha256sum = available('sha256sum', ['--version']);
    const withOpenssl = available('openssl', ['version']);
    if (withSha256sum) timeCommand(sha256sumCommand, file); // warm the page cache for all sides
    gc();
    const rssBefore = maxRssBytes();
    const verifyRuns: Timing[] = [];
    const sumRuns: Timing[] = [];
    const opensslRuns: Timing[] = [];
    for (let i = 0; i < runs; i++) {
      const cpu = process.cpuUsage();
      started = performance.now();
      let verified: Awaited<ReturnType<typeof verifyModelDirectory>> | undefined =
        await verifyModelDirectory({ root: dir, trust });
      const wallMs = performance.now() - started;
      const used = process.cpuUsage(cpu);
      verifyRuns.push({ wallMs, cpuMs: (used.user + used.system) / 1000 });
      if (verified.files.get('model.onnx')?.length !== bytes) throw new Error('short read');
      verified = undefined;
      gc();
      if (withSha256sum) sumRuns.push(timeCommand(sha256sumCommand, file));
      if (withOpenssl) opensslRuns.push(timeCommand(opensslCommand, file));
    }
    const rssPeak = maxRssBytes();

    const mibPerSec = (ms: number) => Math.round(bytes / MiB / (ms / 1000));
    const summary = (list: readonly Timing[]) => {
      const walls = list.map((r) => r.wallMs);
      const cpu = list.map((r) => r.cpuMs);
      return {
        wallMs: walls.map(Math.round),
        cpuMs: cpu.map(Math.round),
        medianWallMs: Math.round(median(walls)),
        bestWallMs: Math.round(Math.min(...walls)),
        medianCpuMs: Math.round(median(cpu)),
        mibPerSecBestWall: mibPerSec(Math.min(...walls)),
        mibPerSecMedianWall: mibPerSec(median(walls)),
      };
    };
    const verify = summary(verifyRuns);
    const sum = withSha256sum ? summary(sumRuns) : undefined;
    const ossl = withOpenssl ? summary(opensslRuns) : undefined;
    const ratio = (a: number | undefined, b: number) =>
      a === undefined || !Number.isFinite(a) ? null : Number((a / b).toFixed(3));
    const ratios = {
      bestWall: ratio(sum?.bestWallMs, verify.bestWallMs),
      medianWall: ratio(sum?.medianWallMs, verify.medianWallMs),
      cpu: ratio(sum?.medianCpuMs, verify.medianCpuMs),
    };
    const result: Record<string, unknown> = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cpus: cpus().length,
      loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
      platform: `${process.platform}-${process.arch}`,
      fileBytes: bytes,
      runs,
      signMs: Math.round(signMs),
      verify,
      sha256sum: sum ?? null,
      opensslDgst: ossl ?? null,
      speedRatioVsOpensslDgst: {
        bestWall: ratio(ossl?.bestWallMs, verify.bestWallMs),
        cpu: ratio(ossl?.medianCpuMs, verify.medianCpuMs),
      },
      speedRatioVsSha256sum: ratios,
      peakRssBytes: rssPeak,
      rssBeforeVerifyBytes: rssBefore,
      peakRssToFileSize: Number((rssPeak / bytes).toFixed(3)),
      goals: { speedRatio: 0.8, peakRssToFileSize: 2.5 },
    };

    console.log(
      `verify-load: ${(bytes / MiB).toFixed(0)} MiB random file, ${runs} run(s), ${String(result.cpu)} ×${cpus().length}, load average ${loadavg()[0]?.toFixed(1)}`,
    );
    const row = (t: ReturnType<typeof summary> | undefined) =>
      t === undefined
        ? { 'best ms': 'n/a', 'median ms': 'n/a', 'CPU ms': 'n/a', 'MiB/s (best)': 'n/a' }
        : {
            'best ms': t.bestWallMs,
            'median ms': t.medianWallMs,
            'CPU ms': t.medianCpuMs,
            'MiB/s (best)': t.mibPerSecBestWall,
          };
    console.table({
      'sign (stream + hash + ECDSA)': {
        'best ms': Math.round(signMs),
        'median ms': Math.round(signMs),
        'CPU ms': '',
        'MiB/s (best)': mibPerSec(signMs),
      },
      'verifyModelDirectory (read once, hash, verify)': row(verify),
      'sha256sum (child process)': row(sum),
      'openssl dgst -sha256 (context)': row(ossl),
    });
    console.log(
      `speed vs sha256sum (goal ≥ 0.8): best wall ${ratios.bestWall ?? 'n/a'}, median wall ${ratios.medianWall ?? 'n/a'}, CPU ${ratios.cpu ?? 'n/a'}\n` +
        `peak RSS ${(rssPeak / MiB).toFixed(0)} MiB = ${(rssPeak / bytes).toFixed(2)}× file size (goal < 2.5×; ${(rssBefore / MiB).toFixed(0)} MiB before verifying)`,
    );
    await rm(file);

    if (sessionMb > 0) result.session = await sessionPart(base, sessionMb);
    const out = resolve(import.meta.dirname, 'results');
    await mkdir(out, { recursive: true });
    const path = join(out, `verify-load-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(path, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${path}`);
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

async function writeMlp(path: string, width: number, hidden: number): Promise<number> {
  const bytes = buildComputeMlp({ inputs: width, hidden, outputs: width, seed: 7 });
  await writeFile(path, bytes);
  return bytes.byteLength;
}

/** Verify vs session creation for a valid MLP of about `mb` MiB (two square-ish Gemm layers). */
async function sessionPart(base: string, mb: number): Promise<Record<string, unknown>> {
  // Weights ≈ 2 · width · hidden floats; width = hidden / 4.
  const hidden = Math.max(64, Math.round(Math.sqrt((mb * MiB) / 4 / 2 / 0.25) / 64) * 64);
  const width = hidden / 4;
  const dir = join(base, 'mlp', '1');
  await mkdir(dir, { recursive: true });
  // Built and written in a helper so the builder's buffers are garbage before verifying.
  const size = await writeMlp(join(dir, 'model.onnx'), width, hidden);
  await signModelDirectory({ root: dir, privateKeyPem: privateKey });
  gc();
  let started = performance.now();
  const verified = await verifyModelDirectory({ root: dir, trust });
  const verifyMs = performance.now() - started;
  const bytes = verified.files.get('model.onnx');
  if (bytes === undefined) throw new Error('model.onnx was not verified');
  started = performance.now();
  const { session } = await createOrtSession(
    bytes,
    {
      executionProviders: ['cpu'],
      intraOpThreads: 1,
      interOpThreads: 1,
      graphOptimizationLevel: 'all',
    },
    () => undefined,
  );
  const sessionMs = performance.now() - started;
  await session.release();
  const row = {
    modelBytes: size,
    layers: [width, hidden, width],
    verifyMs: Math.round(verifyMs),
    sessionCreateMs: Math.round(sessionMs),
    verifyShareOfLoad: Number((verifyMs / (verifyMs + sessionMs)).toFixed(3)),
  };
  console.table({
    [`valid MLP ${width}→${hidden}→${width} (${(size / MiB).toFixed(0)} MiB)`]: {
      'verify ms': row.verifyMs,
      'ORT session ms': row.sessionCreateMs,
      'verify share': row.verifyShareOfLoad,
    },
  });
  return row;
}

await main();
