/**
 * The policy's per-element passes give the same answer whether a tensor fits in one slice (run
 * at once) or is checked in slices that yield to the event loop, and the fast interval check of
 * input constraints refuses exactly the element an element-by-element reference refuses.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { BastionError } from '../../src/errors.js';
import type { HostTensor, ModelSignature } from '../../src/inference/engine.js';
import { sliceElements } from '../../src/inference/slices.js';
import {
  hashFeeds,
  hashFeedsInSlices,
  nativeHashBytes,
  nearBoundaryRows,
  nearBoundaryRowsInSlices,
} from '../../src/policy/extraction-watch.js';
import { compileModelPolicy } from '../../src/policy/model-policy.js';
import { createPolicyEnforcer } from '../../src/policy/policy-enforcer.js';
import { precheckInputs } from '../../src/policy/policy-precheck.js';
import { parsePolicyText } from '../../src/policy/policy-schema.js';
// A seeded PRNG, so that a failure can be replayed from its seed.
import { mulberry32 } from '../../scripts/onnx/prng.js';

const signature: ModelSignature = {
  inputs: [
    { name: 'features', type: 'float32', dims: [-1, 4] },
    { name: 'text', type: 'string', dims: [-1] },
  ],
  outputs: [{ name: 'probabilities', type: 'float32', dims: [-1, 3] }],
};

const seed = Number(process.env.BASTION_SEED ?? Date.now() % 1e9);

const f32 = (dims: number[], data: Float32Array): HostTensor => ({ type: 'float32', dims, data });
const compile = (text: string) => compileModelPolicy(parsePolicyText(text), signature);

/** The element index a refusal names, or undefined when the check passed. */
async function refusedAt(
  check: ((feeds: Record<string, HostTensor>) => Promise<void> | undefined) | undefined,
  tensor: HostTensor,
): Promise<number | undefined> {
  try {
    await check?.({ features: tensor });
    return undefined;
  } catch (error) {
    assert.ok(error instanceof BastionError && error.code === 'VALUE_OUT_OF_POLICY', String(error));
    return Number(/element (\d+)/.exec(error.message)?.[1]);
  }
}

void describe('input constraints, at once and in slices', () => {
  type Bounds = readonly [number | undefined, number | undefined];
  interface Constraint {
    readonly all: Bounds;
    readonly features: readonly (Bounds | undefined)[];
  }
  const yaml = (b: Bounds | undefined) =>
    b === undefined
      ? 'null'
      : `{${[b[0] === undefined ? '' : `min: ${b[0]}`, b[1] === undefined ? '' : `max: ${b[1]}`].filter((x) => x !== '').join(', ')}}`;
  // Bounds per feature position over a global one; and one with open ends and no global bound.
  const constraints: Constraint[] = [
    { all: [-10, 10], features: [[0, 5], [-1, 1], undefined, [2.5, 7.25]] },
    {
      all: [undefined, undefined],
      features: [[0, undefined], undefined, undefined, [undefined, 3]],
    },
  ];
  const reference = (
    c: Constraint,
    data: Float32Array,
    finiteOnly: boolean,
  ): number | undefined => {
    for (let i = 0; i < data.length; i++) {
      const v = data[i] ?? 0;
      if (finiteOnly && !Number.isFinite(v)) return i;
      const f = c.features[i % 4];
      const lo = Math.max(c.all[0] ?? -Infinity, f?.[0] ?? -Infinity);
      const hi = Math.min(c.all[1] ?? Infinity, f?.[1] ?? Infinity);
      if (v < Math.fround(lo) || v > Math.fround(hi)) return i;
    }
    return undefined;
  };
  const policyText = (c: Constraint, finiteOnly: boolean) =>
    [
      'inputs:',
      '  features:',
      `    finiteOnly: ${finiteOnly}`,
      `    all: ${yaml(c.all)}`,
      `    features: [${c.features.map(yaml).join(', ')}]`,
    ].join('\n');

  for (const [which, c] of constraints.entries()) {
    for (const finiteOnly of [true, false]) {
      void it(`refuses the first element the reference refuses (bounds ${which}, finiteOnly ${finiteOnly}, seed ${seed})`, async () => {
        const random = mulberry32(seed + which * 2 + (finiteOnly ? 1 : 0));
        const check = compile(policyText(c, finiteOnly)).checkInputs;
        for (let round = 0; round < 40; round++) {
          const rows = round % 4 === 0 ? 70_000 : 1 + Math.floor(random() * 50);
          const data = new Float32Array(rows * 4);
          for (let i = 0; i < data.length; i++) {
            const f = c.features[i % 4];
            const lo = Math.max(c.all[0] ?? -10, f?.[0] ?? -10);
            const hi = Math.min(c.all[1] ?? 10, f?.[1] ?? 10);
            data[i] = lo + random() * (hi - lo);
          }
          // Zero to two odd values anywhere, of every kind, the exact bounds among them.
          const odd = [
            NaN,
            Infinity,
            -Infinity,
            10.0001,
            -10.5,
            5.000001,
            2.4999,
            7.25,
            0,
            3,
            1e30,
          ];
          for (let k = Math.floor(random() * 3); k > 0; k--) {
            data[Math.floor(random() * data.length)] = odd[Math.floor(random() * odd.length)] ?? 0;
          }
          assert.equal(
            await refusedAt(check, f32([rows, 4], data)),
            reference(c, data, finiteOnly),
            `seed ${seed}, round ${round}`,
          );
        }
      });
    }
  }

  void it('checks a tensor larger than a slice in slices (a promise), a small one at once', async () => {
    const check = compile(policyText(constraints[0] as Constraint, true)).checkInputs;
    assert.equal(
      check?.({ features: f32([2, 4], Float32Array.from([1, 0, 0, 3, 1, 0, 0, 3])) }),
      undefined,
    );
    const large = Float32Array.from(
      { length: sliceElements * 4 },
      (_, i) => [1, 0, 0, 3][i % 4] ?? 0,
    );
    const pending = check?.({ features: f32([sliceElements, 4], large) });
    assert.ok(pending instanceof Promise);
    await pending;
  });
});

void describe('OOD score, near-boundary count, hash and hardening in slices', () => {
  const rows = sliceElements; // four slices of rows for a 4-wide input
  const random = mulberry32(seed + 7);
  const features = Float32Array.from({ length: rows * 4 }, () => random() * 8);
  const scores = Float32Array.from({ length: rows * 3 }, () => random());

  void it(`scores the same highest row as row blocks scored at once (seed ${seed})`, async () => {
    const policy = compile(
      [
        'ood:',
        '  input: features',
        '  method: mahalanobis',
        '  mean: [4, 4, 4, 4]',
        '  inverseCovariance: [[1, 0.2, 0, 0], [0.2, 1, 0, 0], [0, 0, 2, 0.5], [0, 0, 0.5, 1]]',
        '  threshold: 3',
        '  action: flag',
      ].join('\n'),
    );
    const score = policy.ood?.score ?? assert.fail('no scorer');
    const whole = score(f32([rows, 4], features));
    assert.ok(whole instanceof Promise, 'a large tensor is scored in slices');
    let best = 0;
    for (let r = 0; r < rows; r += 1000) {
      const block = score(f32([1000, 4], features.subarray(r * 4, (r + 1000) * 4)));
      assert.equal(typeof block, 'number', 'a small tensor is scored at once');
      best = Math.max(best, block as number);
    }
    assert.equal(await whole, best);
  });

  void it('counts the same near-boundary rows', async () => {
    const tensor = f32([rows, 3], scores);
    const sliced = nearBoundaryRowsInSlices(tensor, 0.1);
    assert.ok(sliced instanceof Promise);
    assert.equal(await sliced, nearBoundaryRows(tensor, 0.1));
  });

  void it('hashes to the same value at once and in slices, natively past 4 KiB', async () => {
    const large = { features: f32([rows, 4], features) };
    assert.equal(await hashFeedsInSlices(large), hashFeeds(large));
    const digest = createHash('sha256').update(features).digest().readUInt32BE(0);
    assert.equal(hashFeeds(large), digest, 'the leading bytes of the SHA-256 of the bytes');
    const words = Array.from({ length: sliceElements + 5 }, (_, i) => `w${i % 977}é`);
    const text: Record<string, HostTensor> = {
      text: { type: 'string', dims: [words.length], data: words },
    };
    assert.equal(await hashFeedsInSlices(text), hashFeeds(text));
    const fewer: HostTensor = { type: 'string', dims: [words.length - 1], data: words.slice(1) };
    assert.notEqual(hashFeeds(text), hashFeeds({ text: fewer }));
  });

  void it('keeps the FNV hash of small inputs (values unchanged by the native path)', async () => {
    const small = { features: f32([2, 4], features.subarray(0, 8)) };
    assert.ok(
      small.features.data instanceof Float32Array &&
        small.features.data.byteLength <= nativeHashBytes,
    );
    // The FNV-1a and murmur3 finaliser the distinct-inputs sketch has always used.
    let h = 0x811c9dc5;
    for (const b of new Uint8Array(features.buffer, 0, 32)) h = Math.imul(h ^ b, 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    assert.equal(hashFeeds(small), h >>> 0);
    assert.equal(await hashFeedsInSlices(small), h >>> 0);
  });

  void it('hardens a large output like its row blocks hardened at once', async () => {
    const output = compile('output: {topK: 2, round: 2}').output ?? assert.fail('no hardening');
    const tensor = f32([rows, 3], scores);
    const whole = output.harden({ probabilities: tensor });
    assert.ok(whole instanceof Promise);
    const hardened = (await whole).probabilities?.data as Float32Array;
    for (let r = 0; r < rows; r += 999) {
      const end = Math.min(rows, r + 999);
      const block = output.harden({
        probabilities: f32([end - r, 3], scores.subarray(r * 3, end * 3)),
      }) as Record<string, HostTensor>;
      assert.deepEqual(
        [...(block.probabilities?.data as Float32Array)],
        [...hardened.subarray(r * 3, end * 3)],
      );
    }
    assert.deepEqual([...scores.subarray(0, 3)], [...tensor.data.slice(0, 3)], 'input untouched');
  });
});

void describe('a precheck done where the body was parsed', () => {
  const policy = compile(
    [
      'inputs:',
      '  features: {all: {min: 0, max: 10}}',
      'ood:',
      '  input: features',
      '  method: mahalanobis',
      '  mean: [1, 1, 1, 1]',
      '  inverseCovariance: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]',
      '  threshold: 3',
      '  action: flag',
      'extraction: {output: probabilities, margin: 0.1, windowSec: 60, distinctInputs: 5, nearBoundary: 5}',
    ].join('\n'),
  );
  const target = { model: 'm', version: 1 };
  const caller = { sub: 'alice', scopes: new Set(['infer:m']) };
  const request = (data: number[]) => ({
    feeds: { features: f32([data.length / 4, 4], Float32Array.from(data)) },
    outputs: ['probabilities'],
  });

  void it('computes what admission computes itself', async () => {
    const enforcer = createPolicyEnforcer();
    for (const data of [
      [1, 1, 1, 1],
      [1, 1, 1, 9],
      [1, 1, 1, 11],
    ]) {
      const plain = request(data);
      const pre = await precheckInputs(policy, plain.feeds);
      const own = await enforcer
        .admit(target, policy, plain, false, caller)
        .catch((e: unknown) => e);
      const used = await enforcer
        .admit(target, policy, { ...plain, prechecked: pre }, false, caller)
        .catch((e: unknown) => e);
      assert.deepEqual(used, own);
      if (own instanceof BastionError) assert.equal(pre.refusal?.code, own.code);
      else assert.equal(pre.inputHash, hashFeeds(plain.feeds));
    }
  });

  void it('admission takes the precheck in place of its own passes, refusals counted', async () => {
    const refused: string[] = [];
    const enforcer = createPolicyEnforcer({ onRefused: (_m, _v, code) => refused.push(code) });
    const inDistribution = request([1, 1, 1, 1]);
    const flagged = await enforcer.admit(
      target,
      policy,
      { ...inDistribution, prechecked: { oodScore: 99, inputHash: 7 } },
      false,
      caller,
    );
    assert.equal(flagged.report.oodScore, 99);
    assert.equal(flagged.inputHash, 7);
    await assert.rejects(
      enforcer.admit(
        target,
        policy,
        {
          ...inDistribution,
          prechecked: { refusal: { code: 'VALUE_OUT_OF_POLICY', message: 'x' } },
        },
        false,
        caller,
      ),
      (e: unknown) => e instanceof BastionError && e.code === 'VALUE_OUT_OF_POLICY',
    );
    assert.deepEqual(refused, ['VALUE_OUT_OF_POLICY']);
  });
});
