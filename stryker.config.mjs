// Stryker mutation testing (docs/mutation.md): `npm run mutate` runs scripts/mutate.mjs, which
// runs Stryker once per area with BASTION_MUTATE_AREA set. Each area names the sources it mutates
// and the unit-level test files that may kill those mutants; the tap runner records which of them
// reach each mutant and reruns only those. Whole-gateway and fuzz files are left out: each costs
// seconds per surviving mutant, and the score is meant to say what the unit tests pin down.

import { resolve } from 'node:path';

/** The mutated areas: sources, and the test files that exercise them. */
export const areas = {
  auth: {
    mutate: ['src/auth/**/*.ts'],
    testFiles: ['test/auth/*.test.ts', 'test/cli/token-command.test.ts'],
  },
  oms: {
    mutate: ['src/models/oms/**/*.ts'],
    testFiles: ['test/models/oms/*.test.ts', 'test/models/trusted-keys.test.ts'],
  },
  audit: {
    mutate: ['src/audit/**/*.ts'],
    testFiles: ['test/audit/*.test.ts', 'test/cli/audit-command.test.ts'],
  },
  'input-schema': {
    mutate: ['src/inference/input-schema.ts'],
    testFiles: ['test/inference/input-schema.test.ts', 'test/inference/binary-tensor.test.ts'],
  },
};

// Stryker runs the tests from a copy under .stryker-tmp/, where `../shared` is not the project's
// neighbour: name the shared OMS vectors absolutely so the interop tests run there too.
process.env.BASTION_OMS_VECTORS ??= resolve('../shared/vectors/oms');

const name = process.env.BASTION_MUTATE_AREA ?? 'auth';
const area = areas[name];
if (area === undefined) throw new Error(`unknown mutation area "${name}"`);
// A quicker look while writing tests: BASTION_MUTATE_TESTS=a.test.ts,b.test.ts runs only those.
const testFiles = process.env.BASTION_MUTATE_TESTS?.split(',') ?? area.testFiles;

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
  mutate: area.mutate,
  coverageAnalysis: 'perTest',
  // The project's machines are small and shared: one test process at a time.
  concurrency: 1,
  timeoutMS: 30000,
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  clearTextReporter: { allowColor: false, logTests: false },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  // A rerun retests only the mutants whose code or covering tests changed (`-- --force`: all).
  incremental: true,
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};

export default config;
