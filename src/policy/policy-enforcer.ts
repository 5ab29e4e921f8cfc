/**
 * Applies a model version's policy around one inference: quota and input checks (constraints,
 * out-of-distribution score) before ONNX Runtime, output hardening and the extraction watch
 * after. Domain code: no HTTP; the inference service calls it.
 */
import { BastionError } from '../errors.js';
import type { HostTensor } from '../inference/engine.js';
import { hashFeedsInSlices, type ExtractionWatch } from './extraction-watch.js';
import type { ModelPolicy } from './model-policy.js';
import type { PolicyPrecheck } from './policy-precheck.js';
import { checkQuota, quotaKey, type QuotaState, type QuotaStore } from './query-quota.js';

/** Who is calling, as far as the policy cares. */
export interface PolicyCaller {
  readonly sub: string;
  readonly scopes: ReadonlySet<string>;
}

/** What the policy decided for one request; the route turns it into headers and audit. */
export interface PolicyReport {
  /** The highest row score, when the policy scores OOD. */
  readonly oodScore?: number;
  readonly oodThreshold?: number;
  /** True when a row scored above the threshold (action `log` or `flag`). */
  readonly oodFlagged: boolean;
  /** A short reason for the audit record (`ood-flagged`), when there is one. */
  readonly reason?: string;
  readonly quota?: QuotaState;
}

/** An admitted request: which outputs to run and to return. */
export interface PolicyAdmission {
  readonly run: readonly string[];
  readonly returned: readonly string[];
  /** The caller holds `infer:<model>:full` and the policy lets that lift hardening. */
  readonly full: boolean;
  /** The inputs' hash for the extraction watch, taken before the engine may transfer them. */
  readonly inputHash: number | undefined;
  readonly report: PolicyReport;
}

/** Hooks for metrics and the audit log. */
export interface PolicyEnforcerOptions {
  readonly quotas?: QuotaStore | undefined;
  readonly watch?: ExtractionWatch | undefined;
  readonly onOod?: ((model: string, version: number, action: string) => void) | undefined;
  readonly onRefused?: ((model: string, version: number, code: string) => void) | undefined;
  /** The quota store failed; the request is let through (fail open) and this hears why. */
  readonly onQuotaError?: ((error: unknown) => void) | undefined;
}

/** The enforcer shared by every model. */
export interface PolicyEnforcer {
  /**
   * Checks a decoded request against the policy.
   *
   * @throws BastionError QUOTA_EXCEEDED (429), VALUE_OUT_OF_POLICY (400),
   *   OUT_OF_DISTRIBUTION (422) or FORBIDDEN (a withheld output asked for by name).
   */
  admit(
    target: { readonly model: string; readonly version: number },
    policy: ModelPolicy,
    request: {
      readonly feeds: Readonly<Record<string, HostTensor>>;
      readonly outputs: readonly string[];
      /** What a parse worker computed from the inputs already (`policy-precheck.ts`). */
      readonly prechecked?: PolicyPrecheck | undefined;
    },
    explicitOutputs: boolean,
    caller: PolicyCaller | undefined,
  ): Promise<PolicyAdmission>;
  /**
   * Hardens the outputs and feeds the extraction watch (large outputs in slices that yield to
   * the event loop).
   */
  finish(
    target: { readonly model: string; readonly version: number },
    policy: ModelPolicy,
    admission: PolicyAdmission,
    outputs: Readonly<Record<string, HostTensor>>,
    caller: PolicyCaller | undefined,
  ): Promise<Readonly<Record<string, HostTensor>>>;
}

type Target = { readonly model: string; readonly version: number };

/** Reports a refusal to the metrics hook, then throws it. */
type Refuse = (target: Target, error: BastionError) => never;

/** Creates the enforcer. */
export function createPolicyEnforcer(options: PolicyEnforcerOptions = {}): PolicyEnforcer {
  const refuse: Refuse = (target, error) => {
    options.onRefused?.(target.model, target.version, error.code);
    throw error;
  };
  return {
    async admit(target, policy, request, explicitOutputs, caller) {
      const quota = await admitQuota(target, policy, caller, options, refuse);
      // Computed already where a large body was decoded (policy-precheck.ts), or here: large
      // inputs are checked, scored and hashed in slices that yield to the event loop.
      const pre = request.prechecked;
      if (pre?.refusal !== undefined) {
        refuse(target, new BastionError(pre.refusal.code, pre.refusal.message));
      }
      try {
        const checking = pre === undefined ? policy.checkInputs?.(request.feeds) : undefined;
        if (checking !== undefined) await checking;
      } catch (error) {
        if (error instanceof BastionError) refuse(target, error);
        throw error;
      }
      const { oodScore, oodFlagged } = await scoreOod(
        target,
        policy,
        request.feeds,
        pre?.oodScore,
        options,
        refuse,
      );
      const { full, returned, run } = selectOutputs(
        target,
        policy,
        request.outputs,
        explicitOutputs,
        caller,
      );
      const ood = policy.ood;
      const report: PolicyReport = {
        oodFlagged,
        ...(oodScore === undefined || ood === undefined
          ? {}
          : { oodScore, oodThreshold: ood.threshold }),
        ...(oodFlagged && ood?.action === 'flag' ? { reason: 'ood-flagged' } : {}),
        ...(quota === undefined ? {} : { quota }),
      };
      const inputHash =
        policy.extraction === undefined || caller === undefined
          ? undefined
          : (pre?.inputHash ?? (await hashFeedsInSlices(request.feeds)));
      return { run, returned, full, report, inputHash };
    },

    async finish(target, policy, admission, outputs, caller) {
      const extraction = policy.extraction;
      if (extraction !== undefined && caller !== undefined && admission.inputHash !== undefined) {
        await options.watch?.observe(
          target.model,
          caller.sub,
          extraction,
          admission.inputHash,
          outputs[extraction.output],
        );
      }
      if (policy.output === undefined || admission.full) return outputs;
      return policy.output.harden(outputs);
    },
  };
}

/**
 * Counts the request against the caller's quota, when the policy sets one and a store is there.
 * A store that fails lets the request through (fail open) and is reported.
 *
 * @throws BastionError QUOTA_EXCEEDED with the retry delay and `RateLimit-*` headers.
 */
async function admitQuota(
  target: Target,
  policy: ModelPolicy,
  caller: PolicyCaller | undefined,
  options: PolicyEnforcerOptions,
  refuse: Refuse,
): Promise<QuotaState | undefined> {
  if (policy.quota === undefined || caller === undefined || options.quotas === undefined) {
    return undefined;
  }
  let quota: QuotaState | undefined;
  try {
    quota = await checkQuota(options.quotas, quotaKey(target.model, caller.sub), policy.quota);
  } catch (error) {
    // Like the rate limiter: a quota store that is down (Redis) fails open, loudly.
    options.onQuotaError?.(error);
  }
  if (quota?.exceeded === true) {
    refuse(
      target,
      new BastionError(
        'QUOTA_EXCEEDED',
        `query quota of ${quota.limit} per ${quota.windowSec} s on model "${target.model}" used up; retry in ${quota.resetSec} s`,
        { retryAfterSec: quota.resetSec, headers: quotaHeaders(quota) },
      ),
    );
  }
  return quota;
}

/**
 * Scores the policy's OOD input, when it has one; a score above the threshold (or NaN) is
 * reported, and refused when the action is `reject`.
 *
 * @throws BastionError OUT_OF_DISTRIBUTION.
 */
async function scoreOod(
  target: Target,
  policy: ModelPolicy,
  feeds: Readonly<Record<string, HostTensor>>,
  prescored: number | undefined,
  options: PolicyEnforcerOptions,
  refuse: Refuse,
): Promise<{ oodScore: number | undefined; oodFlagged: boolean }> {
  const ood = policy.ood;
  const tensor = ood === undefined ? undefined : feeds[ood.input];
  if (ood === undefined || tensor === undefined) return { oodScore: undefined, oodFlagged: false };
  const score = prescored ?? ood.score(tensor);
  const oodScore = typeof score === 'number' ? score : await score;
  if (oodScore <= ood.threshold) return { oodScore, oodFlagged: false };
  options.onOod?.(target.model, target.version, ood.action);
  if (ood.action === 'reject') {
    refuse(
      target,
      new BastionError(
        'OUT_OF_DISTRIBUTION',
        `input "${ood.input}" is out of the distribution the model was trained on (score ${oodScore.toFixed(2)} > ${ood.threshold.toFixed(2)})`,
      ),
    );
  }
  return { oodScore, oodFlagged: true };
}

/**
 * The outputs to return (hardening may withhold some, unless the caller holds
 * `infer:<model>:full` and the policy lets that lift it) and to run (plus the output the
 * extraction watch reads).
 *
 * @throws BastionError FORBIDDEN when a withheld output is asked for by name.
 */
function selectOutputs(
  target: Target,
  policy: ModelPolicy,
  outputs: readonly string[],
  explicitOutputs: boolean,
  caller: PolicyCaller | undefined,
): { full: boolean; returned: readonly string[]; run: readonly string[] } {
  const full =
    policy.output?.allowFullScope === true &&
    caller?.scopes.has(`infer:${target.model}:full`) === true;
  const returned =
    policy.output === undefined || full
      ? outputs
      : policy.output.select(outputs, explicitOutputs, target.model);
  const watched = policy.extraction?.output;
  const run =
    watched === undefined || returned.includes(watched) ? returned : [...returned, watched];
  return { full, returned, run };
}

/** `RateLimit-*` headers (IETF draft) for a quota state. */
export function quotaHeaders(quota: QuotaState): Record<string, string> {
  return {
    'ratelimit-limit': String(quota.limit),
    'ratelimit-remaining': String(quota.remaining),
    'ratelimit-reset': String(quota.resetSec),
    'ratelimit-policy': `${quota.limit};w=${quota.windowSec}`,
  };
}
