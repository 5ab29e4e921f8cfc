import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthError, forbiddenMessage } from '../../src/auth/auth-error.js';
import {
  acceptedScopesFor,
  anyValidToken,
  assertAuthorized,
  isAuthorized,
  requiredScopeFor,
  type AccessNeed,
} from '../../src/auth/authorization.js';
import { parsePrincipal } from '../../src/auth/principal.js';

function holding(scope: string) {
  return parsePrincipal({ sub: 'alice', exp: 2_000_000_000, scope });
}

const iris: AccessNeed = { kind: 'infer', model: 'iris' };
const mnist: AccessNeed = { kind: 'infer', model: 'mnist' };
const manage: AccessNeed = { kind: 'manage' };

describe('authorization', () => {
  it('grants exactly what the scopes say, nothing implied', () => {
    const table: [string, AccessNeed, boolean][] = [
      ['', iris, false],
      ['', manage, false],
      ['', anyValidToken, true],
      ['infer:iris', iris, true],
      ['infer:iris', mnist, false],
      ['infer:iris', manage, false],
      ['infer:*', iris, true],
      ['infer:*', mnist, true],
      ['infer:*', manage, false],
      ['models:manage', manage, true],
      ['models:manage', iris, false],
      ['models:manage', anyValidToken, true],
      ['infer:iris models:manage', iris, true],
      ['infer:iris models:manage', manage, true],
      ['infer:iris models:manage', mnist, false],
      ['INFER:iris', iris, false],
      ['infer:Iris', iris, false],
      ['infer:iris2', iris, false],
      ['infer:', iris, false],
      ['infer', iris, false],
      ['*', iris, false],
      ['*', manage, false],
      ['infer:**', iris, false],
      ['models:*', manage, false],
      ['models:manage:x', manage, false],
    ];
    for (const [scope, need, expected] of table) {
      assert.equal(
        isAuthorized(holding(scope), need),
        expected,
        `${JSON.stringify(scope)} for ${JSON.stringify(need)}`,
      );
    }
  });

  it('names the required scope', () => {
    assert.equal(requiredScopeFor(iris), 'infer:iris');
    assert.equal(requiredScopeFor(manage), 'models:manage');
    assert.equal(requiredScopeFor(anyValidToken), undefined);
    assert.deepEqual(acceptedScopesFor(iris), ['infer:iris', 'infer:*']);
  });

  it('throws FORBIDDEN with reason and scope, and a generic message', () => {
    assert.doesNotThrow(() => {
      assertAuthorized(holding('infer:*'), iris);
    });
    assert.throws(
      () => {
        assertAuthorized(holding('models:manage'), iris);
      },
      (error: unknown) => {
        assert.ok(error instanceof AuthError);
        assert.equal(error.code, 'FORBIDDEN');
        assert.equal(error.status, 403);
        assert.equal(error.reason, 'forbidden');
        assert.equal(error.requiredScope, 'infer:iris');
        assert.equal(error.message, forbiddenMessage);
        return true;
      },
    );
  });
});
