import { BastionError, isBastionError } from '../errors.js';

/**
 * The error a run rejects with when its `RunOptions.signal` aborts. A {@link BastionError} the
 * caller put in `signal.reason` (say `DEADLINE_EXCEEDED` from the request deadline, or a
 * client-disconnect error) is passed through unchanged; any other reason becomes
 * `DEADLINE_EXCEEDED`, with the original reason as its `cause`.
 */
export function abortError(signal: AbortSignal): BastionError {
  return abortReasonError(signal.reason);
}

/** The reason a request is cancelled with when its client goes away. */
export function clientClosedError(): BastionError {
  return new BastionError('CLIENT_CLOSED_REQUEST', 'the client closed the request');
}

/** {@link abortError} for a cancellation's reason (see `cancellation.ts`). */
export function abortReasonError(reason: unknown): BastionError {
  if (isBastionError(reason)) return reason;
  return new BastionError(
    'DEADLINE_EXCEEDED',
    'the request was cancelled before inference finished',
    {
      cause: reason,
    },
  );
}

/** What an engine refuses a run with once it is closing (its model is being unloaded). */
export function shuttingDownError(retryAfterSec: number): BastionError {
  return new BastionError('SHUTTING_DOWN', 'the model is being unloaded', { retryAfterSec });
}

/** What an engine refuses a run with when its queue is full. */
export function overloadedError(retryAfterSec: number): BastionError {
  return new BastionError('OVERLOADED', 'the model is at capacity; retry later', { retryAfterSec });
}
