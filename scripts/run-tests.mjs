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
const args = [
  'c8',
  '--reporter=text-summary',
  ...thresholds,
  '--include=src/**',
  'node',
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=2',
  ...files,
];
const result = spawnSync('npx', ['--no-install', ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
