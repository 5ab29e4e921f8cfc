/**
 * `node --import tsx bench/policy-cost.ts`: the main-thread CPU that a model's signed policy adds
 * to one iris request — input constraints, the Mahalanobis OOD score, output hardening (topK +
 * round) and the extraction watch — measured in process on the demo iris policy with the
 * hardening sections added, against the same calls with no policy. Issue budget: ≤ 15 µs.
 * Imported by bench/run.ts for its report; prints a line when run alone.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { HostTensor, ModelSignature } from '../src/inference/engine.js';
import { createExtractionWatch } from '../src/policy/extraction-watch.js';
import { compileModelPolicy } from '../src/policy/model-policy.js';
import { createPolicyEnforcer } from '../src/policy/policy-enforcer.js';
import { parsePolicyText } from '../src/policy/policy-schema.js';
import { createFileQuotaStore } from '../src/policy/query-quota.js';
import { encodeTensor } from '../src/inference/tensor-codec.js';

/** The figure the bench reports. */
export interface PolicyCost {
  /** Median CPU per request with the full iris policy, in µs. */
  readonly withPolicyUs: number;
  /** The same path's encode step with no policy, in µs. */
  readonly withoutPolicyUs: number;
  /** The difference: what the policy costs. */
  readonly addedUs: number;
  readonly requests: number;
}

const signature: ModelSignature = {
  inputs: [{ name: 'features', type: 'float32', dims: [-1, 4] }],
  outputs: [
    { name: 'label', type: 'int64', dims: [-1] },
    { name: 'probabilities', type: 'float32', dims: [-1, 3] },
  ],
};

/** Measures {@link PolicyCost} over `requests` single-row requests, best of 5 rounds. */
export async function measurePolicyCost(requests = 20_000): Promise<PolicyCost> {
  const root = resolve(import.meta.dirname, '..');
  const demo = await readFile(join(root, 'models/iris/1/policy.yaml'), 'utf8');
  const text = `${demo.replace('output:\n  allowFullScope: true\n', '')}output: {topK: 2, round: 3}\nquota: {requests: 1000000000, windowSec: 86400}\n`;
  const policy = compileModelPolicy(parsePolicyText(text), signature);
  const quotas = await createFileQuotaStore({
    path: join(root, 'var/bench-quotas.json'),
    flushMs: 60_000,
  });
  const enforcer = createPolicyEnforcer({ quotas, watch: createExtractionWatch(() => undefined) });
  const caller = { sub: 'bench', scopes: new Set(['infer:iris']) };
  const target = { model: 'iris', version: 1 };
  const rows = [
    [5.1, 3.5, 1.4, 0.2],
    [6.4, 3.2, 4.5, 1.5],
    [6.7, 3.0, 5.2, 2.3],
  ];
  const outputs = (): Record<string, HostTensor> => ({
    label: { type: 'int64', dims: [1], data: BigInt64Array.from([1n]) },
    probabilities: { type: 'float32', dims: [1, 3], data: Float32Array.from([0.2, 0.7, 0.1]) },
  });
  const once = async (i: number, withPolicy: boolean): Promise<void> => {
    const feeds = {
      features: {
        type: 'float32',
        dims: [1, 4],
        data: Float32Array.from(rows[i % 3] ?? []),
      } as HostTensor,
    };
    let out = outputs();
    if (withPolicy) {
      const admission = await enforcer.admit(
        target,
        policy,
        { feeds, outputs: ['label', 'probabilities'] },
        false,
        caller,
      );
      out = await enforcer.finish(target, policy, admission, out, caller);
      for (const name of admission.returned) {
        const t = out[name];
        if (t !== undefined) policy.output?.roundJson(name, encodeTensor(name, t).data);
      }
    } else {
      await Promise.resolve();
      for (const [name, t] of Object.entries(out)) encodeTensor(name, t);
    }
  };
  const round = async (withPolicy: boolean): Promise<number> => {
    const start = process.cpuUsage();
    for (let i = 0; i < requests; i++) await once(i, withPolicy);
    const used = process.cpuUsage(start);
    return (used.user + used.system) / requests;
  };
  const withRounds: number[] = [];
  const withoutRounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    withoutRounds.push(await round(false));
    withRounds.push(await round(true));
  }
  await quotas.close();
  const best = (xs: number[]): number => Math.min(...xs);
  const withPolicyUs = best(withRounds);
  const withoutPolicyUs = best(withoutRounds);
  return { withPolicyUs, withoutPolicyUs, addedUs: withPolicyUs - withoutPolicyUs, requests };
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href
) {
  const cost = await measurePolicyCost();
  console.log(
    `iris policy (constraints + OOD + topK/round + quota + extraction watch): +${cost.addedUs.toFixed(1)} µs CPU per request (${cost.withPolicyUs.toFixed(1)} vs ${cost.withoutPolicyUs.toFixed(1)} µs; budget 15 µs)`,
  );
}
