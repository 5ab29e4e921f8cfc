// Stryker mutation testing (docs/mutation.md): `npm run mutate` runs scripts/mutate.mjs, which
// runs Stryker once per area with BASTION_MUTATE_AREA set. Each area names the sources it mutates
// and the unit-level test files that may kill those mutants; the tap runner records which of them
// reach each mutant and reruns only those. Whole-gateway and fuzz files are left out: each costs
// seconds per surviving mutant, and the score is meant to say what the unit tests pin down.

import { readdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

const omsSlow = ['certificate-chain.test.ts', 'interop-vectors.test.ts', 'verify-keyless.test.ts'];

/** The mutated areas: their sources (folders or files) and the test files that exercise them. */
export const areas = {
  auth: {
    sources: ['src/auth'],
    testFiles: ['test/auth/*.test.ts', 'test/cli/token-command.test.ts'],
  },
  oms: {
    sources: ['src/models/oms'],
    // keyless-gateway.test.ts boots whole gateways: left out like the other gateway tests. The
    // slower files (openssl, the interop vectors, Sigstore) go last: a mutant stops at the first
    // file that fails.
    testFiles: [
      ...readdirSync('test/models/oms')
        .filter(
          (f) => f.endsWith('.test.ts') && !omsSlow.includes(f) && f !== 'keyless-gateway.test.ts',
        )
        .sort()
        .map((f) => `test/models/oms/${f}`),
      ...omsSlow.map((f) => `test/models/oms/${f}`),
      'test/models/trusted-keys.test.ts',
    ],
  },
  audit: {
    sources: ['src/audit'],
    testFiles: ['test/audit/*.test.ts', 'test/cli/audit-command.test.ts'],
  },
  'input-schema': {
    sources: ['src/inference/input-schema.ts'],
    testFiles: ['test/inference/input-schema.test.ts', 'test/inference/binary-tensor.test.ts'],
  },
};

/** Every TypeScript source file of an area, sorted. */
export function sourcesOf(area) {
  return area.sources
    .flatMap((source) =>
      source.endsWith('.ts')
        ? [source]
        : readdirSync(source, { recursive: true })
            .map(String)
            .filter((f) => f.endsWith('.ts'))
            .map((f) => join(source, f)),
    )
    .sort();
}

/** Where the JSON report of one source file of an area goes. */
export function reportOf(areaName, file) {
  return `reports/mutation/${areaName}/${basename(file, '.ts')}.json`;
}

// Stryker runs the tests from a copy under .stryker-tmp/, where `../shared` is not the project's
// neighbour: name the shared OMS vectors absolutely so the interop tests run there too.
process.env.BASTION_OMS_VECTORS ??= resolve('../shared/vectors/oms');

const name = process.env.BASTION_MUTATE_AREA ?? 'auth';
const area = areas[name];
if (area === undefined) throw new Error(`unknown mutation area "${name}"`);
// A quicker look while writing tests: BASTION_MUTATE_TESTS=a.test.ts,b.test.ts runs only those.
const testFiles = process.env.BASTION_MUTATE_TESTS?.split(',') ?? area.testFiles;
// scripts/mutate.mjs runs one source file at a time (BASTION_MUTATE_FILE): short runs, each with
// its own report and incremental file, so a run that is stopped loses little.
const file = process.env.BASTION_MUTATE_FILE;
const report = file === undefined ? `reports/mutation/${name}/all.json` : reportOf(name, file);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
const config = {
  packageManager: 'npm',
  plugins: ['@stryker-mutator/tap-runner'],
  testRunner: 'tap',
  tap: {
    testFiles,
    // Each test file runs alone under node:test with tsx, its TAP output parsed by Stryker.
    nodeArgs: ['--import', 'tsx', '--test-reporter=tap', '-r', '{{hookFile}}', '{{testFile}}'],
    forceBail: true,
  },
  mutate: file === undefined ? sourcesOf(area) : [file],
  coverageAnalysis: 'perTest',
  // The project's machines are small and shared: one test process at a time.
  concurrency: 1,
  timeoutMS: 30000,
  reporters: ['clear-text', 'progress-append-only', 'json'],
  clearTextReporter: { allowColor: false, logTests: false },
  jsonReporter: { fileName: report },
  // A rerun retests only the mutants whose code or covering tests changed (`-- --force`: all).
  incremental: true,
  incrementalFile: report.replace(/\.json$/, '.incremental.json'),
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};

export default config;
