/**
 * Compiles `src/` once per bench run (tsc, as `npm run build` does) into `.bench-dist`, so
 * that the Bastion servers run the JavaScript a deployment runs (`bin/bastion.js` and the
 * Dockerfile use `dist/`), not the sources through tsx: tsx's on-the-fly transform adds helpers
 * to every function it creates (esbuild's `keepNames`) and source-mapped stacks, measured at
 * ~20 % of the gateway's main-thread CPU per request on mlp at 32 connections.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '..');

/** The folder the bench server children import the gateway from (see `server-main.ts`). */
export const benchDistEnv = 'BASTION_BENCH_DIST';

/** Builds `src/` into `.bench-dist` (inside the repository, so packages resolve); its path. */
export async function buildForBench(): Promise<string> {
  const outDir = join(root, '.bench-dist');
  await rm(outDir, { recursive: true, force: true });
  await promisify(execFile)(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      outDir,
      '--declaration',
      'false',
      '--declarationMap',
      'false',
    ],
    { cwd: root },
  );
  return outDir;
}
