/**
 * A real `bastion serve` child process for probe and signal tests: its JSON log lines parsed as
 * they arrive, and a way to wait for one.
 */
import { type ChildProcess, type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { bin, root } from './observe.js';

/** A running `bastion serve`. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** Every log line so far, parsed, with the time it arrived (performance.now()). */
  readonly lines: (Record<string, unknown> & { readonly at: number })[];
  /** Resolves with the first line (past or future) matching `test`; rejects after `timeoutMs`. */
  waitFor(
    test: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown> & { readonly at: number }>;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  stderr(): string;
}

/**
 * Spawns `bastion serve --config FILE [extra…]` with piped output and NODE_ENV cleared; killed
 * (SIGKILL) when the test ends if still running.
 */
export function spawnServe(
  t: { after: (fn: () => void) => void },
  config: string,
  extra: readonly string[] = [],
  env: Record<string, string> = {},
): ChildProcessByStdio<null, Readable, Readable> {
  const child = spawn(process.execPath, [bin, 'serve', '--config', config, ...extra], {
    cwd: root,
    env: { ...process.env, NODE_ENV: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/** {@link spawnServe}, with its log lines parsed and waited for. */
export function startServe(
  t: TestContext,
  config: string,
  env: Record<string, string> = {},
): ServeProcess {
  const child = spawnServe(t, config, [], env);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: ServeProcess['lines'] = [];
  const waiters: { test: (line: Record<string, unknown>) => boolean; done: () => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(text) as Record<string, unknown>;
    } catch {
      entry = { msg: text };
    }
    lines.push({ ...entry, at: performance.now() });
    for (const w of [...waiters]) if (w.test(entry)) w.done();
  });
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitFor(test, timeoutMs = 30_000) {
      const seen = lines.find((l) => test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no matching log line in ${timeoutMs} ms; stderr: ${stderr}`));
        }, timeoutMs);
        const waiter = {
          test,
          done: () => {
            clearTimeout(timer);
            waiters.splice(waiters.indexOf(waiter), 1);
            const line = lines.find((l) => test(l));
            if (line !== undefined) resolve(line);
          },
        };
        waiters.push(waiter);
        void exited.then(() => {
          clearTimeout(timer);
          reject(new Error(`serve exited before the awaited line; stderr: ${stderr}`));
        });
      });
    },
  };
}

/** `GET url` → status and parsed JSON body (undefined when empty); `error` when refused. */
export async function probe(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown } | { error: string }> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? String(error) };
  }
}

/** The repository root, for configs that name committed files. */
export { root };
