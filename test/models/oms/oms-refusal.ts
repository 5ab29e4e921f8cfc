// The assert.throws/rejects predicate of the OMS tests: an OmsVerificationError with this
// `reason` and exactly this message (or one matching the pattern; any message when none is given).
import assert from 'node:assert/strict';
import { isOmsVerificationError } from '../../../src/models/oms/oms-verification-error.js';

export function refusal(reason: string, message?: string | RegExp) {
  return (error: unknown): boolean => {
    assert.ok(isOmsVerificationError(error), `expected OmsVerificationError, got ${String(error)}`);
    assert.equal(error.name, 'OmsVerificationError');
    assert.equal(error.reason, reason, error.message);
    if (typeof message === 'string') assert.equal(error.message, message);
    else if (message !== undefined) assert.match(error.message, message);
    return true;
  };
}
