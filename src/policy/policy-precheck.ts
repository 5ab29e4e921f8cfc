/**
 * The part of a policy's admission that depends on a request's inputs alone: the input
 * constraints, the OOD score and the extraction watch's input hash. For a large body it is
 * computed where the body is parsed and decoded, on a parse worker, so that the event loop does
 * none of the per-element work; {@link PolicyEnforcer.admit} then uses the result in place of
 * computing it, keeping its own order (quota first) and its metrics.
 */
import { type ErrorCode, isBastionError } from '../errors.js';
import type { HostTensor } from '../inference/engine.js';
import { hashFeedsInSlices } from './extraction-watch.js';
import type { ModelPolicy } from './model-policy.js';

/** What {@link precheckInputs} found. */
export interface PolicyPrecheck {
  /** Why the input constraints refused the request (then nothing else was computed). */
  readonly refusal?: { readonly code: ErrorCode; readonly message: string };
  /** The highest OOD row score, when the policy scores OOD and the input is present. */
  readonly oodScore?: number;
  /** The inputs' hash, when the policy has an extraction watch. */
  readonly inputHash?: number;
}

/**
 * Checks and scores `feeds` as {@link PolicyEnforcer.admit} would.
 *
 * @throws whatever a check throws that is not a client error (a bug, never the input's fault).
 */
export async function precheckInputs(
  policy: ModelPolicy,
  feeds: Readonly<Record<string, HostTensor>>,
): Promise<PolicyPrecheck> {
  try {
    await policy.checkInputs?.(feeds);
  } catch (error) {
    if (!isBastionError(error)) throw error;
    return { refusal: { code: error.code, message: error.message } };
  }
  const ood = policy.ood;
  const tensor = ood === undefined ? undefined : feeds[ood.input];
  const oodScore = ood === undefined || tensor === undefined ? undefined : await ood.score(tensor);
  const inputHash = policy.extraction === undefined ? undefined : await hashFeedsInSlices(feeds);
  return {
    ...(oodScore === undefined ? {} : { oodScore }),
    ...(inputHash === undefined ? {} : { inputHash }),
  };
}
