#!/usr/bin/env node
// Mutation testing, one Stryker run per area (stryker.config.mjs), then one score table.
//   npm run mutate                      every area
//   npm run mutate -- auth audit        the named areas
//   npm run mutate -- oms -- --mutate src/models/oms/dsse-pae.ts   extra Stryker options
// Reports: reports/mutation/<area>.json and .html. The fuzz tests run with a fixed seed so two
// runs of the same code give the same score.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { areas } from '../stryker.config.mjs';

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const named = split === -1 ? argv : argv.slice(0, split);
const extra = split === -1 ? [] : argv.slice(split + 1);
const unknown = named.filter((n) => !(n in areas));
if (unknown.length > 0) {
  console.error(`unknown area(s): ${unknown.join(', ')}; known: ${Object.keys(areas).join(', ')}`);
  process.exit(2);
}
const chosen = named.length > 0 ? named : Object.keys(areas);

/** Mutation score as Stryker defines it: detected / (detected + survived + no coverage). */
function tally(report) {
  const counts = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, errors: 0, ignored: 0 };
  for (const file of Object.values(report.files)) {
    for (const m of file.mutants) {
      if (m.status === 'Killed') counts.killed++;
      else if (m.status === 'Timeout') counts.timeout++;
      else if (m.status === 'Survived') counts.survived++;
      else if (m.status === 'NoCoverage') counts.noCoverage++;
      else if (m.status === 'Ignored') counts.ignored++;
      else counts.errors++;
    }
  }
  return counts;
}

const rows = [];
let failed = false;
for (const name of chosen) {
  const run = spawnSync('npx', ['--no-install', 'stryker', 'run', 'stryker.config.mjs', ...extra], {
    stdio: 'inherit',
    env: { ...process.env, BASTION_MUTATE_AREA: name, BASTION_FUZZ_SEED: '1' },
  });
  if (run.status !== 0) {
    failed = true;
    continue;
  }
  rows.push([name, tally(JSON.parse(readFileSync(`reports/mutation/${name}.json`, 'utf8')))]);
}

const pct = (c) => {
  const detected = c.killed + c.timeout;
  const valid = detected + c.survived + c.noCoverage;
  return valid === 0 ? 'n/a' : `${((100 * detected) / valid).toFixed(2)} %`;
};
const total = { killed: 0, timeout: 0, survived: 0, noCoverage: 0, errors: 0, ignored: 0 };
console.log('\narea          score     killed timeout survived nocov errors');
for (const [name, c] of rows) {
  for (const k of Object.keys(total)) total[k] += c[k];
  const cols = [c.killed, c.timeout, c.survived, c.noCoverage, c.errors].map((n) => String(n));
  console.log(`${name.padEnd(13)} ${pct(c).padEnd(9)} ${cols.map((s) => s.padStart(6)).join(' ')}`);
}
if (rows.length > 1) console.log(`${'all'.padEnd(13)} ${pct(total)}`);
process.exit(failed ? 1 : 0);
