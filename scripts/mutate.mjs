#!/usr/bin/env node
// Mutation testing (docs/mutation.md): Stryker over each source file of each area of
// stryker.config.mjs, one file per run, then one score table.
//   npm run mutate                       every area
//   npm run mutate -- auth audit         the named areas
//   npm run mutate -- --resume oms       skip files whose report is newer than the file and tests
//   npm run mutate -- --report           only print the table from the reports there are
//   npm run mutate -- oms -- --force     extra Stryker options (here: ignore incremental results)
// Reports: reports/mutation/<area>/<file>.json. The score is Stryker's: killed and timed-out
// mutants over killed, timed out, survived and not covered (compile and runtime errors excluded).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { areas, reportOf, sourcesOf } from '../stryker.config.mjs';

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const own = split === -1 ? argv : argv.slice(0, split);
const extra = split === -1 ? [] : argv.slice(split + 1);
const resume = own.includes('--resume');
const reportOnly = own.includes('--report');
const named = own.filter((a) => !a.startsWith('--'));
const unknown = named.filter((n) => !(n in areas));
if (unknown.length > 0) {
  console.error(`unknown area(s): ${unknown.join(', ')}; known: ${Object.keys(areas).join(', ')}`);
  process.exit(2);
}
const chosen = named.length > 0 ? named : Object.keys(areas);

/** The test files an area's globs name (only `dir/*.suffix` and plain paths are used). */
function testFilesOf(area) {
  return area.testFiles.flatMap((pattern) => {
    const star = pattern.indexOf('*');
    if (star === -1) return existsSync(pattern) ? [pattern] : [];
    const dir = dirname(pattern);
    const suffix = pattern.slice(star + 1);
    return readdirSync(dir)
      .filter((f) => f.endsWith(suffix))
      .map((f) => join(dir, f));
  });
}

const mtime = (path) => statSync(path).mtimeMs;

function upToDate(report, file, tests) {
  if (!existsSync(report)) return false;
  const newest = Math.max(mtime(file), mtime('stryker.config.mjs'), ...tests.map(mtime));
  return mtime(report) > newest;
}

const statuses = ['Killed', 'Timeout', 'Survived', 'NoCoverage'];
function tally(path) {
  const counts = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, errors: 0 };
  const report = JSON.parse(readFileSync(path, 'utf8'));
  for (const file of Object.values(report.files)) {
    for (const m of file.mutants) {
      if (statuses.includes(m.status)) counts[m.status]++;
      else if (m.status !== 'Ignored') counts.errors++;
    }
  }
  return counts;
}

const score = (c) => {
  const detected = c.Killed + c.Timeout;
  const valid = detected + c.Survived + c.NoCoverage;
  return valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(2)} %`;
};
const row = (label, c) =>
  `${label.padEnd(34)} ${score(c).padStart(8)} ${[
    c.Killed,
    c.Timeout,
    c.Survived,
    c.NoCoverage,
    c.errors,
  ]
    .map((n) => String(n).padStart(7))
    .join('')}`;

const failed = [];
const table = [];
for (const name of chosen) {
  const area = areas[name];
  const tests = testFilesOf(area);
  const total = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, errors: 0 };
  const lines = [];
  for (const file of sourcesOf(area)) {
    const report = reportOf(name, file);
    if (!reportOnly && !(resume && upToDate(report, file, tests))) {
      console.log(`\n=== ${name}: ${file}`);
      const run = spawnSync(
        'npx',
        ['--no-install', 'stryker', 'run', 'stryker.config.mjs', ...extra],
        {
          stdio: 'inherit',
          env: { ...process.env, BASTION_MUTATE_AREA: name, BASTION_MUTATE_FILE: file },
        },
      );
      if (run.status !== 0) failed.push(file);
    }
    if (!existsSync(report)) {
      lines.push(`${`  ${file}`.padEnd(34)}   (no report)`);
      continue;
    }
    const c = tally(report);
    for (const k of Object.keys(total)) total[k] += c[k];
    lines.push(row(`  ${file.replace(/^src\//, '')}`, c));
  }
  table.push(row(name, total), ...lines);
}

console.log(
  `\n${'area / file'.padEnd(34)} ${'score'.padStart(8)}  killed timeout survivd  nocov errors`,
);
for (const line of table) console.log(line);
if (failed.length > 0) {
  console.error(`\nStryker did not finish for: ${failed.join(', ')} (rerun with --resume)`);
  process.exit(1);
}
