/**
 * The signed per-version security policy, `models/<m>/<v>/policy.yaml`: input constraints,
 * out-of-distribution detection, output hardening, query quota and extraction watch. It sits in
 * the signed folder, so altering it breaks the signature; operator tuning stays in the unsigned
 * `models/<m>/config.yaml`. Validated like the main config: unknown keys are refused and every
 * problem is reported at once, naming its field.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../zod-issues.js';
import { RefusalError } from '../errors.js';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const name = z.string().min(1).max(256);

/** Bounds for one element position (or for every element). */
const bounds = z
  .strictObject({
    /** Smallest allowed value (inclusive). */
    min: finite.optional(),
    /** Largest allowed value (inclusive). */
    max: finite.optional(),
    /** The only values allowed (categorical features). */
    allowed: z.array(finite).min(1).max(4096).optional(),
  })
  .refine((b) => b.min === undefined || b.max === undefined || b.min <= b.max, {
    message: 'min must not exceed max',
  });

const inputConstraint = z.strictObject({
  /** Refuse NaN and ±Infinity (float inputs; the default). */
  finiteOnly: z.boolean().default(true),
  /** At most this many elements in the tensor. */
  maxElements: z
    .number()
    .int()
    .min(1)
    .max(2 ** 31)
    .optional(),
  /** Bounds on every element. */
  all: bounds.optional(),
  /**
   * Bounds per feature: entry `i` applies to index `i` of the last axis (e.g. iris column 2,
   * petal length). `null` or `{}` leaves a position unconstrained.
   */
  features: z.array(bounds.nullable()).min(1).max(65_536).optional(),
});

/** Out-of-distribution detection on one input's rows (the last axis is the feature vector). */
const oodSchema = z
  .strictObject({
    input: name,
    /** Squared Mahalanobis distance to the training mean (see docs/defenses.md). */
    method: z.literal('mahalanobis').default('mahalanobis'),
    mean: z.array(finite).min(1).max(1024),
    /** Row-major inverse of the (regularised) training covariance, `n × n`. */
    inverseCovariance: z.array(z.array(finite)).min(1).max(1024),
    /** Rows scoring above this are out of distribution. */
    threshold: finite.refine((v) => v > 0, 'must be > 0'),
    /** What happens above the threshold. */
    action: z.enum(['log', 'flag', 'reject']).default('flag'),
    /** Informational: how the reference was fitted (rows, quantile). */
    fitted: z
      .strictObject({
        rows: z.number().int().min(1),
        quantile: z.number().gt(0).lt(1),
        source: z.string().max(256).optional(),
      })
      .optional(),
  })
  .superRefine((ood, ctx) => {
    const n = ood.mean.length;
    if (ood.inverseCovariance.length !== n || ood.inverseCovariance.some((r) => r.length !== n)) {
      ctx.addIssue({
        code: 'custom',
        path: ['inverseCovariance'],
        message: `must be ${n} × ${n} (mean has ${n} features)`,
      });
    }
  });

const outputSchema = z.strictObject({
  /** Return only this output (the label); scores stay inside the gateway. */
  labelOnly: name.optional(),
  /** Score outputs that `topK` and `round` apply to (default: every float output). */
  scores: z.array(name).min(1).max(64).optional(),
  /** Keep the k highest scores of each row; the others are answered as 0. */
  topK: z.number().int().min(1).max(65_536).optional(),
  /** Round scores to this many decimals. */
  round: z.number().int().min(0).max(15).optional(),
  /** Callers holding `infer:<model>:full` get unhardened outputs. Default false. */
  allowFullScope: z.boolean().default(false),
});

const quotaSchema = z.strictObject({
  /** Inferences per subject in each window. */
  requests: z.number().int().min(1).max(1_000_000_000),
  /** Window length; windows are aligned to the epoch (a day: 86400). */
  windowSec: z
    .number()
    .int()
    .min(60)
    .max(31 * 86_400)
    .default(86_400),
});

const extractionSchema = z.strictObject({
  /** The score output whose top-2 margin marks a near-boundary query. */
  output: name,
  /** A row whose two highest scores differ by less than this is near the boundary. */
  margin: z.number().gt(0).lt(1).default(0.05),
  windowSec: z
    .number()
    .int()
    .min(60)
    .max(31 * 86_400)
    .default(3600),
  /** Alert when a subject sends this many distinct inputs in one window. */
  distinctInputs: z.number().int().min(1).max(10_000_000).default(1000),
  /** Alert when a subject sends this many near-boundary rows in one window. */
  nearBoundary: z.number().int().min(1).max(10_000_000).default(100),
});

/** The policy file's schema. */
export const policySchema = z.strictObject({
  inputs: z.record(name, inputConstraint).default({}),
  ood: oodSchema.optional(),
  output: outputSchema.optional(),
  quota: quotaSchema.optional(),
  extraction: extractionSchema.optional(),
});

/** A validated policy. */
export type PolicySpec = z.output<typeof policySchema>;
/** Bounds on elements, as in the policy. */
export type ElementBounds = z.output<typeof bounds>;
/** One input's constraints. */
export type InputConstraintSpec = z.output<typeof inputConstraint>;
/** The OOD section. */
export type OodSpec = z.output<typeof oodSchema>;
/** The output-hardening section. */
export type OutputHardeningSpec = z.output<typeof outputSchema>;
/** The quota section. */
export type QuotaSpec = z.output<typeof quotaSchema>;
/** The extraction-watch section. */
export type ExtractionSpec = z.output<typeof extractionSchema>;

/** A policy file that does not validate (`policy-invalid`); `problems` names each field. */
export class PolicyError extends RefusalError<'policy-invalid'> {
  constructor(readonly problems: readonly string[]) {
    super('policy-invalid', `policy.yaml: ${problems.join('; ')}`);
    this.name = 'PolicyError';
  }
}

/**
 * Parses and validates policy text.
 *
 * @throws PolicyError listing every problem (YAML syntax, unknown keys, bad values).
 */
export function parsePolicyText(text: string): PolicySpec {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(doc.errors.map((e) => `YAML: ${e.message.split('\n')[0] ?? e.code}`));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    throw new PolicyError([`YAML: ${error instanceof Error ? error.message : 'unreadable'}`]);
  }
  const result = policySchema.safeParse(raw);
  if (!result.success) {
    throw new PolicyError(formatIssues(result.error.issues));
  }
  return result.data;
}
