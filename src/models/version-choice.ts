import { BastionError } from '../errors.js';
import type { ReadyVersion, VersionState } from './model-state.js';
import type { VersionParts } from './version-preparer.js';

/** The highest ready version among `versions`, if any is ready. */
export function highestReady<P extends VersionParts>(
  versions: Iterable<VersionState<P>>,
): ReadyVersion<P> | undefined {
  let best: ReadyVersion<P> | undefined;
  for (const state of versions) {
    if (state.state === 'ready' && (best === undefined || state.version > best.version)) {
      best = state;
    }
  }
  return best;
}

/**
 * The version a request for `model` at `version` (undefined: the highest ready one) gets.
 * `versions` is the model's table, undefined when the registry has never seen the model;
 * `started` says whether the first repository scan has finished.
 *
 * @throws BastionError MODEL_NOT_FOUND, VERSION_NOT_FOUND or MODEL_NOT_READY (with a retry hint).
 */
export function chooseVersion<P extends VersionParts>(
  versions: ReadonlyMap<number, VersionState<P>> | undefined,
  model: string,
  version: number | undefined,
  started: boolean,
): ReadyVersion<P> {
  if (versions === undefined) {
    // While the first scan runs, a model not reached yet may still appear: not ready, not 404.
    if (!started) {
      throw new BastionError('MODEL_NOT_READY', 'the gateway is still loading its models', {
        retryAfterSec: 5,
      });
    }
    throw new BastionError('MODEL_NOT_FOUND', `model "${model}" is not served here`);
  }
  if (version === undefined) {
    const chosen = highestReady(versions.values());
    if (chosen === undefined) {
      throw new BastionError('MODEL_NOT_READY', `model "${model}" has no ready version`, {
        retryAfterSec: 5,
      });
    }
    return chosen;
  }
  const chosen = versions.get(version);
  if (chosen === undefined) {
    throw new BastionError('VERSION_NOT_FOUND', `model "${model}" has no version ${version}`);
  }
  if (chosen.state !== 'ready') {
    throw new BastionError(
      'MODEL_NOT_READY',
      `model "${model}" version ${version} is not ready (${chosen.state})`,
      { retryAfterSec: 5 },
    );
  }
  return chosen;
}
