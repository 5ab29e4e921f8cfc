/**
 * What the bench serves, written to a temp folder at start: the demo `mlp` (batched and not), the
 * compute-bound model (1024 → 4096 → 1024, generated here, never committed), a slow model for the
 * event-loop probe, Bastion configurations, and the naive baseline's model folder.
 */
import { copyFile, cp, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildComputeMlp, buildMlp } from '../scripts/onnx/onnx-builder.js';

const demoModels = resolve(import.meta.dirname, '../models');
/** The demo models' publisher key: `mlp` keeps its signature and is verified with it. */
const demoPublisherKey = resolve(import.meta.dirname, '../config/keys/demo-publisher.pub.pem');

/** Input width of each bench model (all are float32 `[batch, width]` → `output`/`probabilities`). */
export const modelWidth = { mlp: 64, compute: 1024, slow: 16, iris: 4 } as const;

/** Models generated for the run, as bytes (for the in-process baseline). */
export interface BenchModels {
  readonly mlp: Uint8Array;
  readonly compute: Uint8Array;
  readonly slow: Uint8Array;
  /** The demo iris model (signed, with its signed policy.yaml in models/iris/1). */
  readonly iris: Uint8Array;
}

/** Paths written by {@link writeBenchFiles}. */
export interface BenchFiles {
  /** Full repository: every model, every variant. */
  readonly fullRepo: string;
  /** Only `mlp`, for the variant gateways (no auth cache, no audit/metrics, quiet log). */
  readonly mlpRepo: string;
  /** `<name>.onnx` files for the naive baseline. */
  readonly naiveDir: string;
}

/** Generates the compute-bound and slow models. */
export async function buildBenchModels(): Promise<BenchModels> {
  const { readFile } = await import('node:fs/promises');
  return {
    mlp: await readFile(join(demoModels, 'mlp/1/model.onnx')),
    compute: buildComputeMlp({ inputs: 1024, hidden: 4096, outputs: 1024, seed: 42 }),
    // Deep, narrow I/O: ~17 MFLOP per row, 16 numbers in and out per row.
    slow: buildMlp({ layers: [modelWidth.slow, 2048, 2048, 2048, modelWidth.slow], seed: 11 }),
    iris: await readFile(join(demoModels, 'iris/1/model.onnx')),
  };
}

async function writeVersion(
  repo: string,
  name: string,
  bytes: Uint8Array,
  configYaml?: string,
): Promise<void> {
  await mkdir(join(repo, name, '1'), { recursive: true });
  await writeFile(join(repo, name, '1', 'model.onnx'), bytes);
  if (configYaml !== undefined) await writeFile(join(repo, name, 'config.yaml'), configYaml);
}

/** Writes the repositories and the naive folder under `dir`. */
export async function writeBenchFiles(dir: string, models: BenchModels): Promise<BenchFiles> {
  const fullRepo = join(dir, 'repo-full');
  const mlpRepo = join(dir, 'repo-mlp');
  const naiveDir = join(dir, 'naive');
  for (const repo of [fullRepo, mlpRepo]) {
    await writeVersion(repo, 'mlp', models.mlp);
    await copyFile(join(demoModels, 'mlp/1/model.sig'), join(repo, 'mlp/1/model.sig'));
  }
  await writeVersion(fullRepo, 'mlp-batched', models.mlp, 'maxBatchSize: 32\n');
  await writeVersion(fullRepo, 'compute', models.compute);
  await writeVersion(fullRepo, 'compute-batched', models.compute, 'maxBatchSize: 64\n');
  await writeVersion(fullRepo, 'slow', models.slow, 'maxQueue: 64\n');
  // iris as shipped (signed model + signed policy.yaml: constraints, OOD score, output
  // hardening), and the same model.onnx unsigned without a policy, to price the policy alone.
  await cp(join(demoModels, 'iris/1'), join(fullRepo, 'iris/1'), { recursive: true });
  await writeVersion(fullRepo, 'iris-nopolicy', models.iris);
  await mkdir(naiveDir, { recursive: true });
  await writeFile(join(naiveDir, 'iris.onnx'), models.iris);
  await writeFile(join(naiveDir, 'mlp.onnx'), models.mlp);
  await writeFile(join(naiveDir, 'compute.onnx'), models.compute);
  await writeFile(join(naiveDir, 'slow.onnx'), models.slow);
  return { fullRepo, mlpRepo, naiveDir };
}

/** Knobs of one Bastion configuration. */
export interface BastionVariant {
  readonly repository: string;
  readonly stateDir: string;
  readonly auditPath: string;
  readonly authCache: boolean;
  readonly auditAndMetrics: boolean;
  readonly logLevel: 'info' | 'warn';
  /** `models.defaults.poolSize` (0: inline on the event loop); the built-in default when absent. */
  readonly poolSize?: number;
  /** `audit.fsync`: `always` (default) or group commit every N ms. */
  readonly fsync?: 'always' | number;
}

/**
 * A Bastion configuration as an operator would write it for this host: dev issuer (the bench
 * sends a valid token), audit with `fsync: always`, metrics on a loopback port, info logging,
 * the generated models unsigned (allowUnsigned), rate limits raised out of the way (the bench is one subject sending thousands per second).
 */
export function bastionConfigYaml(variant: BastionVariant): string {
  return `mode: development
stateDir: ${JSON.stringify(variant.stateDir)}
server:
  host: 127.0.0.1
  port: 0
  maxConnections: 4096
auth:
  devIssuer: true
  cache:
    maxEntries: ${variant.authCache ? 10_000 : 0}
models:
  repository: ${JSON.stringify(variant.repository)}
  allowUnsigned: true
  trustedKeys: [${JSON.stringify(demoPublisherKey)}]
${variant.poolSize === undefined ? '' : `  defaults:\n    poolSize: ${variant.poolSize}\n`}audit:
  enabled: ${variant.auditAndMetrics}
  path: ${JSON.stringify(variant.auditPath)}
  fsync: ${variant.fsync ?? 'always'}
metrics:
  enabled: ${variant.auditAndMetrics}
  host: 127.0.0.1
  port: 0
limits:
  requestsPerMinute: 10000000
  unauthenticatedPerMinute: 10000000
logging:
  level: ${variant.logLevel}
`;
}

/** A v2 infer body of `rows` rows of `width` float32 values, serialised once. */
/** Single real iris rows (in range, in distribution: the policy passes them). */
export function irisBody(): string {
  return JSON.stringify({
    inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
  });
}

export function inferBody(width: number, rows = 1, seed = 1): string {
  const data = Array.from({ length: rows * width }, (_, i) => Math.sin(seed * 7919 + i * 0.37));
  return JSON.stringify({
    inputs: [{ name: 'input', shape: [rows, width], datatype: 'FP32', data }],
  });
}
