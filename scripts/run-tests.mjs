#!/usr/bin/env node
// Runs every test/**/*.test.ts with node:test through tsx, under c8 coverage.
// Node 20's test runner takes no globs, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(path));
    else if (entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

const filter = process.argv.slice(2);
const files = findTests('test').filter(
  (f) => filter.length === 0 || filter.some((part) => f.includes(part)),
);
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Coverage thresholds apply to the whole suite only: a filtered run covers part of src/.
const thresholds =
  filter.length === 0
    ? ['--check-coverage', '--lines=90', '--statements=90', '--functions=90', '--branches=80']
    : [];
// Tests that measure the gateway's event-loop stalls run after the others, one at a time: on a
// 2-core host a neighbouring test file's work would otherwise count as the gateway's stall.
const alone = ['test/http/edge-stall.test.ts'];
const together = files.filter((f) => !alone.includes(f));
const isolated = files.filter((f) => alone.includes(f));
const node = ['node', '--import', 'tsx', '--test'];
const phases = [
  ...(together.length === 0 ? [] : [[...node, '--test-concurrency=2', ...together]]),
  ...(isolated.length === 0 ? [] : [[...node, '--test-concurrency=1', ...isolated]]),
];
// One c8 over both phases (it collects every process's coverage), run by this same script.
if (process.env.BASTION_TEST_PHASES === undefined) {
  const result = spawnSync(
    'npx',
    [
      '--no-install',
      'c8',
      '--reporter=text-summary',
      ...thresholds,
      '--include=src/**',
      process.execPath,
      import.meta.filename,
      ...filter,
    ],
    { stdio: 'inherit', env: { ...process.env, BASTION_TEST_PHASES: '1' } },
  );
  process.exit(result.status ?? 1);
}
let status = 0;
for (const [command, ...rest] of phases) {
  const result = spawnSync(command === 'node' ? process.execPath : command, rest, {
    stdio: 'inherit',
  });
  if (result.status !== 0) status = result.status ?? 1;
}
process.exit(status);
