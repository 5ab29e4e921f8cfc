/**
 * Shared settings of the property-based tests: how many runs, and the seed, printed so that a
 * failure can be replayed (`BASTION_FUZZ_SEED=<seed> npm run test:only -- test/fuzz`).
 * `BASTION_FUZZ=long` runs many more cases (minutes, not for CI).
 */
import type { TestContext } from 'node:test';

const long = process.env.BASTION_FUZZ === 'long';

/** The number of runs for a property: `quick` in CI, 20× as many in the long mode. */
export function fuzzRuns(quick: number): number {
  const explicit = Number(process.env.BASTION_FUZZ_RUNS);
  if (Number.isInteger(explicit) && explicit > 0) return explicit;
  return long ? quick * 20 : quick;
}

/** The seed of this run (from `BASTION_FUZZ_SEED`, else random), printed as a test diagnostic. */
export function fuzzSeed(t: TestContext): number {
  const given = Number(process.env.BASTION_FUZZ_SEED);
  const seed = Number.isInteger(given) ? given : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`fast-check seed ${seed} (replay: BASTION_FUZZ_SEED=${seed})`);
  return seed;
}
