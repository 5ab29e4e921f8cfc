/**
 * A model version's signed policy, compiled once at load against the model's signature: every
 * name it uses must exist and every shape must fit, or the version is refused (`policy-invalid`).
 */
import type { ModelSignature } from '../inference/engine.js';
import { compileInputConstraints, type InputCheck } from './input-constraints.js';
import { compileOodScorer, type OodScorer } from './ood-detector.js';
import { compileOutputHardening, type OutputHardening } from './output-hardening.js';
import {
  parsePolicyText,
  PolicyError,
  type ExtractionSpec,
  type OodSpec,
  type PolicySpec,
  type QuotaSpec,
} from './policy-schema.js';

/** The compiled policy of one model version. */
export interface ModelPolicy {
  readonly spec: PolicySpec;
  readonly checkInputs: InputCheck | undefined;
  readonly ood:
    | {
        readonly input: string;
        readonly score: OodScorer;
        readonly threshold: number;
        readonly action: OodSpec['action'];
      }
    | undefined;
  readonly output: OutputHardening | undefined;
  readonly quota: QuotaSpec | undefined;
  readonly extraction: ExtractionSpec | undefined;
}

/** The policy file's name inside a signed version folder. */
export const policyFileName = 'policy.yaml';

/**
 * Parses and compiles `policy.yaml` bytes (undefined: the version has no policy).
 *
 * @throws PolicyError naming every problem.
 */
export function loadModelPolicy(
  bytes: Uint8Array | undefined,
  signature: ModelSignature,
): ModelPolicy | undefined {
  if (bytes === undefined) return undefined;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  return compileModelPolicy(parsePolicyText(text), signature);
}

/**
 * Compiles a validated policy against the model's signature.
 *
 * @throws PolicyError when the policy names inputs or outputs the model does not have, or shapes
 *   that do not fit.
 */
export function compileModelPolicy(spec: PolicySpec, signature: ModelSignature): ModelPolicy {
  const problems: string[] = [];
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const checkInputs = attempt(() => compileInputConstraints(spec.inputs, signature.inputs));
  const ood =
    spec.ood === undefined
      ? undefined
      : attempt(() => {
          const o = spec.ood as OodSpec;
          return {
            input: o.input,
            score: compileOodScorer(o, signature.inputs),
            threshold: o.threshold,
            action: o.action,
          };
        });
  const output =
    spec.output === undefined
      ? undefined
      : attempt(() =>
          compileOutputHardening(
            spec.output as NonNullable<PolicySpec['output']>,
            signature.outputs,
          ),
        );
  const extraction = spec.extraction;
  if (extraction !== undefined && !signature.outputs.some((o) => o.name === extraction.output)) {
    problems.push(`extraction.output: the model has no output "${extraction.output}"`);
  }
  if (problems.length > 0) throw new PolicyError(problems);
  return { spec, checkInputs, ood, output, quota: spec.quota, extraction };
}
