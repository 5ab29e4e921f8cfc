import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BastionError } from '../../src/errors.js';
import type { HostTensor, ModelSignature } from '../../src/inference/engine.js';
import {
  createExtractionWatch,
  hashFeeds,
  nearBoundaryRows,
} from '../../src/policy/extraction-watch.js';
import { compileModelPolicy } from '../../src/policy/model-policy.js';
import { createPolicyEnforcer } from '../../src/policy/policy-enforcer.js';
import { compileOodScorer, fitMahalanobis } from '../../src/policy/ood-detector.js';
import { parsePolicyText, PolicyError } from '../../src/policy/policy-schema.js';
import { parseCsvRows, parseNpyRows } from '../../src/policy/training-rows.js';

const signature: ModelSignature = {
  inputs: [
    { name: 'features', type: 'float32', dims: [-1, 4] },
    { name: 'codes', type: 'int32', dims: [-1, 2] },
    { name: 'text', type: 'string', dims: [-1] },
  ],
  outputs: [
    { name: 'label', type: 'int64', dims: [-1] },
    { name: 'probabilities', type: 'float32', dims: [-1, 3] },
  ],
};

const f32 = (dims: number[], values: number[]): HostTensor => ({
  type: 'float32',
  dims,
  data: Float32Array.from(values),
});

function problemsOf(text: string): string {
  try {
    compileModelPolicy(parsePolicyText(text), signature);
  } catch (error) {
    assert.ok(error instanceof PolicyError, String(error));
    assert.equal(error.reason, 'policy-invalid');
    return error.problems.join('\n');
  }
  assert.fail('expected a PolicyError');
}

void describe('policy.yaml validation', () => {
  const bad: [string, string, RegExp][] = [
    ['an unknown top-level key', 'inputz: {}', /unknown key "inputz"/],
    [
      'an unknown nested key',
      'inputs:\n  features: {minimum: 1}',
      /inputs\.features: unknown key "minimum"/,
    ],
    ['min above max', 'inputs:\n  features: {all: {min: 2, max: 1}}', /min must not exceed max/],
    ['a non-number bound', 'inputs:\n  features: {all: {min: "a"}}', /inputs\.features\.all\.min/],
    ['an unknown input', 'inputs:\n  nope: {all: {min: 0}}', /no input "nope"/],
    ['a string input', 'inputs:\n  text: {all: {min: 0}}', /numeric inputs/],
    [
      'a feature list longer than the axis',
      'inputs:\n  features: {features: [{}, {}, {}, {}, {}]}',
      /lists 5 positions but the last axis has 4/,
    ],
    [
      'a bad OOD action',
      'ood: {input: features, mean: [0], inverseCovariance: [[1]], threshold: 1, action: drop}',
      /ood\.action/,
    ],
    [
      'a non-square inverse covariance',
      'ood: {input: features, mean: [0, 0], inverseCovariance: [[1]], threshold: 1}',
      /must be 2 × 2/,
    ],
    [
      'an OOD mean that does not fit the input',
      'ood: {input: features, mean: [0, 0], inverseCovariance: [[1, 0], [0, 1]], threshold: 1}',
      /2 features, but input "features" has 4/,
    ],
    [
      'a zero threshold',
      'ood: {input: features, mean: [0], inverseCovariance: [[1]], threshold: 0}',
      /must be > 0/,
    ],
    [
      'an OOD input of integers',
      'ood: {input: codes, mean: [0, 0], inverseCovariance: [[1, 0], [0, 1]], threshold: 1}',
      /FP32 or FP64/,
    ],
    ['an unknown label output', 'output: {labelOnly: klass}', /no output "klass"/],
    ['an integer score output', 'output: {scores: [label]}', /scores must be FP32 or FP64/],
    ['too many decimals', 'output: {round: 16}', /output\.round/],
    ['a quota window under a minute', 'quota: {requests: 5, windowSec: 10}', /quota\.windowSec/],
    ['an unknown extraction output', 'extraction: {output: logits}', /no output "logits"/],
    ['a YAML syntax error', 'inputs: [', /YAML/],
    ['an unresolved alias', 'inputs: *x', /YAML/],
    ['duplicate keys', 'quota: {requests: 1}\nquota: {requests: 2}', /YAML/],
  ];
  for (const [name, text, says] of bad) {
    void it(`refuses ${name}, naming it`, () => {
      assert.match(problemsOf(text), says);
    });
  }

  void it('reports every problem at once', () => {
    const problems = problemsOf(
      'inputs:\n  nope: {}\noutput: {labelOnly: klass}\nextraction: {output: x}',
    );
    assert.match(problems, /no input "nope"/);
    assert.match(problems, /no output "klass"/);
    assert.match(problems, /no output "x"/);
  });
});

void describe('input constraints', () => {
  const policy = compileModelPolicy(
    parsePolicyText(
      [
        'inputs:',
        '  features:',
        '    maxElements: 8',
        '    all: {min: 0, max: 30}',
        '    features: [{min: 1}, null, {}, {allowed: [0, 0.5, 1]}]',
        '  codes: {features: [{allowed: [1, 2, 3]}, {min: -5, max: 5}]}',
      ].join('\n'),
    ),
    signature,
  );
  const check = (feeds: Record<string, HostTensor>) => () => policy.checkInputs?.(feeds);
  const refusal = (says: RegExp) => (error: unknown) =>
    error instanceof BastionError &&
    error.code === 'VALUE_OUT_OF_POLICY' &&
    says.test(error.message);

  void it('accepts values exactly at the bounds', () => {
    assert.doesNotThrow(check({ features: f32([2, 4], [1, 0, 30, 0, 30, 30, 0, 1]) }));
    assert.doesNotThrow(
      check({ codes: { type: 'int32', dims: [1, 2], data: Int32Array.from([3, -5]) } }),
    );
  });
  const cases: [string, HostTensor, string, RegExp][] = [
    [
      'just below a feature minimum',
      f32([1, 4], [0.999, 1, 1, 1]),
      'features',
      /element 0 \(feature 0\).*≥ 1/,
    ],
    [
      'just above the global maximum',
      f32([1, 4], [1, 30.001, 1, 1]),
      'features',
      /element 1 \(feature 1\).*≤ 30/,
    ],
    ['absurd but finite', f32([1, 4], [1, 1e30, 1, 1]), 'features', /≤ 30/],
    ['negative', f32([1, 4], [1, -0.5, 1, 1]), 'features', /≥ 0/],
    [
      'not an allowed category',
      f32([1, 4], [1, 1, 1, 0.25]),
      'features',
      /feature 3.*one of 0, 0.5, 1/,
    ],
    ['an infinity', f32([1, 4], [1, 1, Infinity, 1]), 'features', /a finite number/],
    [
      'more elements than the policy allows',
      f32([3, 4], new Array<number>(12).fill(1)),
      'features',
      /at most 8/,
    ],
    [
      'an integer outside its categories',
      { type: 'int32', dims: [1, 2], data: Int32Array.from([4, 0]) },
      'codes',
      /input "codes" element 0 .*one of 1, 2, 3/,
    ],
    [
      'the second row breaking a per-feature bound',
      { type: 'int32', dims: [2, 2], data: Int32Array.from([1, 0, 2, 6]) },
      'codes',
      /element 3 \(feature 1\).*≤ 5/,
    ],
  ];
  for (const [name, tensor, input, says] of cases) {
    void it(`refuses ${name}`, () => {
      assert.throws(check({ [input]: tensor }), refusal(says));
    });
  }
});

void describe('out-of-distribution scoring', () => {
  void it('fits a known covariance: the score of a point one σ out on an axis is 1', async () => {
    // x and y independent with variances 4 and 1 (a cross of points).
    const rows = [
      [2, 0],
      [-2, 0],
      [0, 1],
      [0, -1],
    ];
    const fit = fitMahalanobis(rows, { ridge: 0, quantile: 0.5, slack: 0 });
    assert.deepEqual(fit.mean, [0, 0]);
    // Sample covariance: var(x) = 8/3, var(y) = 2/3.
    assert.ok(Math.abs((fit.inverseCovariance[0]?.[0] ?? 0) - 3 / 8) < 1e-12);
    assert.ok(Math.abs((fit.inverseCovariance[1]?.[1] ?? 0) - 3 / 2) < 1e-12);
    const score = compileOodScorer(
      {
        input: 'x',
        method: 'mahalanobis',
        mean: fit.mean,
        inverseCovariance: fit.inverseCovariance,
        threshold: 1,
        action: 'flag',
      },
      [{ name: 'x', type: 'float64', dims: [-1, 2] }],
    );
    const at = async (x: number, y: number) =>
      score({ type: 'float64', dims: [1, 2], data: Float64Array.from([x, y]) });
    assert.ok(Math.abs((await at(Math.sqrt(8 / 3), 0)) - 1) < 1e-9);
    assert.ok(Math.abs((await at(0, Math.sqrt(2 / 3))) - 1) < 1e-9);
    // The highest row wins.
    assert.ok(
      Math.abs(
        (await score({ type: 'float64', dims: [2, 2], data: Float64Array.from([0, 0, 0, 2]) })) - 6,
      ) < 1e-9,
    );
  });

  void it('catches a combination that no single feature gives away (correlated features)', async () => {
    const rows = Array.from({ length: 200 }, (_, i) => {
      const t = (i % 20) / 2;
      return [t, t + ((i * 7) % 5) / 10];
    });
    const fit = fitMahalanobis(rows);
    const score = compileOodScorer(
      {
        input: 'x',
        method: 'mahalanobis',
        mean: fit.mean,
        inverseCovariance: fit.inverseCovariance,
        threshold: fit.threshold,
        action: 'flag',
      },
      [{ name: 'x', type: 'float32', dims: [-1, 2] }],
    );
    // Both features within their training ranges, but far off the line y ≈ x.
    assert.ok((await score(f32([1, 2], [9, 0.5]))) > fit.threshold * 10);
    assert.ok((await score(f32([1, 2], [5, 5.2]))) < fit.threshold);
    assert.ok(Math.max(...fit.trainingScores) <= fit.threshold);
  });

  void it('a constant feature still fits (ridge), ragged and non-finite rows do not', () => {
    assert.doesNotThrow(() =>
      fitMahalanobis([
        [1, 5],
        [2, 5],
        [3, 5],
      ]),
    );
    assert.throws(() => fitMahalanobis([[1, 2], [3]]), /row 2 has 1 values/);
    assert.throws(
      () =>
        fitMahalanobis([
          [1, 2],
          [NaN, 1],
        ]),
      /non-finite/,
    );
    assert.throws(() => fitMahalanobis([[1, 2]]), /at least two rows/);
  });
});

void describe('output hardening', () => {
  const compile = (text: string) => compileModelPolicy(parsePolicyText(text), signature).output;
  const outputs = {
    label: { type: 'int64', dims: [2], data: BigInt64Array.from([2n, 0n]) } as HostTensor,
    probabilities: f32([2, 3], [0.1, 0.2, 0.7, 0.5, 0.3, 0.2]),
  };

  void it('topK keeps the k highest scores per row and zeroes the rest; round rounds', async () => {
    const out = await compile('output: {topK: 1, round: 1}')?.harden(outputs);
    assert.deepEqual(
      [...(out?.probabilities?.data as Float32Array)],
      [0, 0, Math.fround(0.7), 0.5, 0, 0],
    );
    assert.equal(out?.label, outputs.label, 'non-score outputs untouched');
    assert.deepEqual(
      [...(outputs.probabilities.data as Float32Array)].map((v) => Number(v.toFixed(1))),
      [0.1, 0.2, 0.7, 0.5, 0.3, 0.2],
      'input not mutated',
    );
  });

  void it('rounds JSON numbers to exact decimals', () => {
    const data: unknown[] = [0.123456, 0.9999, 'NaN'];
    compile('output: {round: 2}')?.roundJson('probabilities', data);
    assert.deepEqual(data, [0.12, 1, 'NaN']);
  });

  void it('labelOnly returns the label and refuses a withheld output asked for by name', () => {
    const hardening = compile('output: {labelOnly: label, allowFullScope: true}');
    assert.ok(hardening);
    assert.deepEqual(hardening.select(['label', 'probabilities'], false, 'm'), ['label']);
    assert.deepEqual(hardening.select(['label'], true, 'm'), ['label']);
    assert.throws(
      () => hardening.select(['probabilities'], true, 'm'),
      (e: unknown) =>
        e instanceof BastionError && e.code === 'FORBIDDEN' && /infer:m:full/.test(e.message),
    );
  });
});

void describe('extraction watch', () => {
  const spec = {
    output: 'probabilities',
    margin: 0.1,
    windowSec: 60,
    distinctInputs: 500,
    nearBoundary: 3,
  };

  void it('counts rows whose top-2 margin is under the threshold', () => {
    assert.equal(
      nearBoundaryRows(f32([3, 3], [0.45, 0.5, 0.05, 0.9, 0.05, 0.05, 0.34, 0.33, 0.33]), 0.1),
      2,
    );
  });

  void it('alerts once per window when near-boundary rows cross the threshold', async () => {
    const alerts: string[] = [];
    const watch = createExtractionWatch((a) => alerts.push(`${a.kind}:${a.count}:${a.bucket}`));
    const near = f32([1, 3], [0.45, 0.5, 0.05]);
    for (let i = 0; i < 5; i++)
      await watch.observe('m', 'alice', spec, hashFeeds({ x: f32([1], [i]) }), near, 1_000_000);
    assert.equal(alerts.length, 1);
    assert.match(alerts[0] ?? '', /^near-boundary:3:[0-9a-f]$/);
    // A new window, a new alert.
    for (let i = 0; i < 3; i++)
      await watch.observe(
        'm',
        'alice',
        spec,
        hashFeeds({ x: f32([1], [i]) }),
        near,
        1_000_000 + 61_000,
      );
    assert.equal(alerts.length, 2);
  });

  void it('estimates distinct inputs within 10 % and ignores repeats', async () => {
    for (const n of [200, 2000, 20000]) {
      let alerted = 0;
      const watch = createExtractionWatch((a) => (alerted = a.count));
      const s = { ...spec, distinctInputs: n, nearBoundary: 1e9 };
      for (let i = 0; i < n * 1.1; i++)
        await watch.observe('m', 'bob', s, hashFeeds({ x: f32([1], [i]) }), undefined, 5000);
      assert.ok(alerted >= n && alerted < n * 1.15, `n=${n}: alerted at ${alerted}`);
      let repeats = 0;
      const again = createExtractionWatch(() => repeats++);
      for (let i = 0; i < n * 3; i++)
        await again.observe('m', 'bob', s, hashFeeds({ x: f32([1], [i % 10]) }), undefined, 5000);
      assert.equal(repeats, 0, 'ten inputs sent many times are ten distinct inputs');
    }
  });
});

void describe('training rows', () => {
  void it('CSV: skips a header, picks columns, refuses junk naming the line', () => {
    assert.deepEqual(parseCsvRows('a,b,c,species\n1,2,3,x\n4,5,6,y\n', { columns: [0, 2] }), [
      [1, 3],
      [4, 6],
    ]);
    assert.throws(() => parseCsvRows('1,2\n3,x\n'), /line 2/);
    assert.throws(() => parseCsvRows('1,2\n3\n'), /line 2: 1 values, expected 2/);
  });

  void it('NPY: reads <f8 and <f4 2-D arrays, refuses others', () => {
    const npy = (descr: string, shape: string, data: Buffer) => {
      let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
      header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
      const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
      prefix.writeUInt16LE(header.length, 8);
      return Buffer.concat([prefix, Buffer.from(header, 'latin1'), data]);
    };
    const f8 = Buffer.from(Float64Array.from([1, 2, 3, 4, 5, 6]).buffer);
    assert.deepEqual(parseNpyRows(npy('<f8', '(3, 2)', f8)), [
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const f4 = Buffer.from(Float32Array.from([0.5, 1.5]).buffer);
    assert.deepEqual(parseNpyRows(npy('<f4', '(1, 2)', f4)), [[0.5, 1.5]]);
    assert.throws(() => parseNpyRows(npy('<f8', '(6,)', f8)), /2-D/);
    assert.throws(() => parseNpyRows(npy('<f8', '(4, 2)', f8)), /shorter than its shape/);
    assert.throws(() => parseNpyRows(Buffer.from('not numpy')), /bad magic/);
  });
});

void describe('quota store failure', () => {
  void it('fails open and reports, like the rate limiter', async () => {
    const errors: unknown[] = [];
    const enforcer = createPolicyEnforcer({
      quotas: {
        take: () => Promise.reject(new Error('redis down')),
        close: () => Promise.resolve(),
      },
      onQuotaError: (e) => errors.push(e),
    });
    const policy = compileModelPolicy(parsePolicyText('quota: {requests: 1}'), signature);
    const feeds = { features: f32([1, 4], [1, 2, 3, 4]) };
    const admission = await enforcer.admit(
      { model: 'm', version: 1 },
      policy,
      { feeds, outputs: ['label'] },
      false,
      {
        sub: 's',
        scopes: new Set(),
      },
    );
    assert.deepEqual(admission.returned, ['label']);
    assert.equal(admission.report.quota, undefined);
    assert.match(String(errors[0]), /redis down/);
  });
});
