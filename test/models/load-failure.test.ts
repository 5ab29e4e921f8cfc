import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuditLogError } from '../../src/audit/audit-log-error.js';
import {
  auditLogErrorCodes,
  BastionError,
  CodedError,
  isRefusalError,
  RefusalError,
  refusalCodes,
} from '../../src/errors.js';
import { ModelContentError } from '../../src/models/external-data.js';
import { describeFailure, refusalCodeOf } from '../../src/models/load-failure.js';
import { ModelEncryptionError } from '../../src/models/model-encryption-error.js';
import { OmsVerificationError } from '../../src/models/oms/oms-verification-error.js';
import { PolicyError } from '../../src/policy/policy-schema.js';

const repo = '/srv/models';

void describe('one error vocabulary: every load refusal has a code from refusalCodes', () => {
  const cases: { error: Error; code: string | undefined; line: string }[] = [
    {
      error: new OmsVerificationError('digest-mismatch', `${repo}/iris/1/model.onnx differs`),
      code: 'digest-mismatch',
      line: 'digest-mismatch: iris/1/model.onnx differs',
    },
    {
      error: new ModelEncryptionError('wrong-key', 'encrypted with another key'),
      code: 'wrong-key',
      line: 'wrong-key: encrypted with another key',
    },
    {
      error: new ModelContentError('external-data', 'tensor "w" has its data in w.bin'),
      code: 'external-data',
      line: 'external-data: tensor "w" has its data in w.bin',
    },
    {
      error: new PolicyError(['inputs.x: unknown key "max"']),
      code: 'policy-invalid',
      line: 'policy-invalid: policy.yaml: inputs.x: unknown key "max"',
    },
    // The version folder's own refusals keep their plain wording (no code in the line).
    {
      error: new RefusalError('model-missing', 'the version folder has no model.onnx'),
      code: 'model-missing',
      line: 'the version folder has no model.onnx',
    },
    {
      error: new RefusalError('tuning-invalid', 'config.yaml: maxQueue: too small'),
      code: 'tuning-invalid',
      line: 'config.yaml: maxQueue: too small',
    },
    // Not a refusal (ONNX Runtime's own failure): no code, the message only, paths hidden.
    {
      error: new Error('Load model from /tmp/x/model.onnx failed\nstack'),
      code: undefined,
      line: 'Load model from <path> failed',
    },
  ];
  for (const c of cases) {
    void it(`${c.error.name}: ${c.code ?? 'no code'}`, () => {
      assert.equal(refusalCodeOf(c.error), c.code);
      assert.equal(describeFailure(c.error, repo), c.line);
      if (c.code !== undefined) {
        assert.ok(isRefusalError(c.error) && c.error instanceof CodedError);
        assert.equal(c.error.reason, c.code, 'reason is the same as code');
        assert.ok(
          Object.values(refusalCodes)
            .flat()
            .includes(c.code as never),
        );
      }
    });
  }

  void it('client errors and audit log errors are CodedErrors too, with codes from their tables', () => {
    const client = new BastionError('MODEL_NOT_FOUND', 'no such model');
    assert.ok(client instanceof CodedError);
    assert.equal(client.status, 404);
    const audit = new AuditLogError('AUDIT_CLOSED', 'the audit log is closed');
    assert.ok(audit instanceof CodedError && !isRefusalError(audit));
    assert.ok(auditLogErrorCodes.includes(audit.code));
  });
});
