/**
 * Test helpers for the audit log and the metrics listener: read an audit file, run the real
 * CLI, copy the demo models, parse a Prometheus scrape, find binaries and free ports.
 */
import { spawn } from 'node:child_process';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import type { TestGateway } from './gateway.js';

/** The repository root. */
export const root = resolve(import.meta.dirname, '../..');
/** The CLI entry point. */
export const bin = join(root, 'bin/bastion.js');
/** The committed demo models (signed with the demo publisher key). */
export const demoModels = join(root, 'models');

/**
 * Copies the demo model repository (or only the `only` models of it) to `dir`; the signatures
 * stay valid, as they cover each version folder's own files.
 */
export async function copyDemoModels(
  dir: string,
  only: readonly string[] = ['iris', 'mlp', 'tensor-types'],
): Promise<string> {
  for (const model of only) {
    await cp(join(demoModels, model), join(dir, model), { recursive: true });
  }
  return dir;
}

/** Every record of one audit file, in order. */
export async function readAudit(path: string): Promise<AuditRecord[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditRecord);
}

/** The audit file and its rotated predecessors, oldest first (the order `audit verify` needs). */
export async function auditFiles(path: string): Promise<string[]> {
  const base = basename(path);
  const rotated = (await readdir(dirname(path)))
    .filter((name) => name.startsWith(`${base}.`) && /^\.\d{12}$/.test(name.slice(base.length)))
    .sort()
    .map((name) => join(dirname(path), name));
  return [...rotated, path];
}

/** Runs the real CLI (`node bin/bastion.js ...`) to completion. */
export function runCli(args: readonly string[]): Promise<{
  code: number | null;
  stdout: string;
  stderr: string;
}> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...process.env, NODE_ENV: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** `bastion audit verify FILE...` through the real CLI. */
export function verifyWithCli(
  files: readonly string[],
  key?: string,
  checkpoint?: string,
): ReturnType<typeof runCli> {
  return runCli([
    'audit',
    'verify',
    ...files,
    ...(key === undefined ? [] : ['--key', key]),
    ...(checkpoint === undefined ? [] : ['--checkpoint', checkpoint]),
  ]);
}

/** The one default head checkpoint a gateway with this `stateDir` keeps. */
export async function defaultCheckpoint(stateDir: string): Promise<string> {
  const dir = join(stateDir, 'audit-checkpoints');
  // A gateway SIGKILLed mid-write leaves its temporary file (`<name>.<pid>.<uuid>.tmp`) beside
  // the checkpoint; the rename that would have replaced the checkpoint never happened.
  const names = (await readdir(dir)).filter((name) => !name.endsWith('.tmp'));
  if (names.length !== 1) throw new Error(`expected one checkpoint in ${dir}: ${names.join(', ')}`);
  return join(dir, names[0] as string);
}

/**
 * Writes an audit HMAC key and returns the `audit:` YAML lines that use it with `path` and a
 * checkpoint beside it (`<dir>/audit-head.json`), so a test can restart on the same log.
 */
export async function keyedAudit(
  dir: string,
  path: string,
): Promise<{ key: string; checkpoint: string; yaml: string }> {
  const key = join(dir, 'audit-hmac.key');
  const checkpoint = join(dir, 'audit-head.json');
  await writeFile(key, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
  const yaml = `audit:\n  path: ${JSON.stringify(path)}\n  hmacKeyFile: ${JSON.stringify(key)}\n  checkpointFile: ${JSON.stringify(checkpoint)}\n`;
  return { key, checkpoint, yaml };
}

/** The metrics port a test gateway bound (from its "bastion listening" log line). */
export function metricsPortOf(gw: TestGateway): number {
  const line = gw.log.find((entry) => entry.msg === 'bastion listening');
  const port = line?.metricsPort;
  if (typeof port !== 'number') throw new Error('this gateway has no metrics listener');
  return port;
}

/** One sample of a Prometheus text scrape. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the sample lines of a Prometheus text scrape (comments skipped). */
export function parseScrape(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (match === null) throw new Error(`unparsable scrape line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_all, c: string) =>
        c === 'n' ? '\n' : c,
      );
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The samples named `name` whose labels include `labels`. */
export function samplesOf(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The sum of the values of {@link samplesOf}. */
export function sumOf(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  return samplesOf(samples, name, labels).reduce((sum, s) => sum + s.value, 0);
}
