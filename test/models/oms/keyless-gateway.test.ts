// Keyless signatures through a real gateway: the registry loads a keyless-signed ONNX model
// (private Sigstore instance, models.sigstoreTrustedRoot) and serves it; every mis-signed
// version is UNAVAILABLE with a stable reason in the index, an audit record and a metric; the
// public-good vector passes the verify path with the shipped root; production rules hold.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { buildIdentityModel } from '../../../scripts/onnx/onnx-builder.js';
import { parseConfigText } from '../../../src/config/load-config.js';
import { createGateway, StartupError } from '../../../src/server.js';
import { createCleanup, startGateway, tempDir, type TestGateway } from '../../helpers/gateway.js';
import { vectorsRoot } from './oms-test-fixtures.js';
import {
  createTestSigstore,
  editBundle,
  type KeylessSignOptions,
} from './sigstore-test-instance.js';

const modelBytes = Buffer.from(buildIdentityModel('float32', ['batch']));
const echo = { inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2] }] };
const publisher = { identity: 'release@example.com', issuer: 'https://issuer.example.com' };
const vector = join(vectorsRoot, 'model-transparency/v1.1.0-sigstore');

interface Case {
  readonly model: string;
  readonly sign?: Partial<KeylessSignOptions>;
  readonly after?: (dir: string) => Promise<void>;
  readonly reason: RegExp;
  readonly code: string;
}

const at = new Date('2025-05-01T10:00:00Z');
const cases: Case[] = [
  {
    model: 'wrong-identity',
    sign: { identity: 'intruder@example.com' },
    reason: /^untrusted-identity: .*intruder@example\.com/,
    code: 'untrusted-identity',
  },
  {
    model: 'wrong-issuer',
    sign: { issuer: 'https://evil.example.com' },
    reason: /^untrusted-identity: .*evil\.example\.com/,
    code: 'untrusted-identity',
  },
  {
    model: 'tampered-file',
    after: (dir) =>
      writeFile(join(dir, 'model.onnx'), Buffer.concat([modelBytes, Buffer.from([0])])),
    reason: /^digest-mismatch: .*model\.onnx/,
    code: 'digest-mismatch',
  },
  {
    model: 'altered-set',
    after: (dir) =>
      editBundle(join(dir, 'model.sig'), (bundle) => {
        const entry = bundle.verificationMaterial.tlogEntries[0] as {
          inclusionPromise: { signedEntryTimestamp: string };
        };
        const set = Buffer.from(entry.inclusionPromise.signedEntryTimestamp, 'base64');
        set[10] = (set[10] ?? 0) ^ 0xff;
        entry.inclusionPromise.signedEntryTimestamp = set.toString('base64');
      }),
    reason: /^tlog-invalid: /,
    code: 'tlog-invalid',
  },
  {
    model: 'altered-entry',
    after: (dir) =>
      editBundle(join(dir, 'model.sig'), (bundle) => {
        const entry = bundle.verificationMaterial.tlogEntries[0] as { canonicalizedBody: string };
        const body = Buffer.from(entry.canonicalizedBody, 'base64').toString('utf8');
        entry.canonicalizedBody = Buffer.from(body.replace('"0.0.1"', '"0.0.2"')).toString(
          'base64',
        );
      }),
    reason: /^tlog-invalid: /,
    code: 'tlog-invalid',
  },
  {
    model: 'expired-at-log-time',
    sign: {
      integratedTime: at,
      validFrom: new Date(at.getTime() - 900_000),
      validTo: new Date(at.getTime() - 300_000),
    },
    reason: /^certificate-expired: .*not valid when the log recorded/,
    code: 'certificate-expired',
  },
  {
    // team-a's identity is trusted for team-a-* only.
    model: 'other-team',
    reason: /^untrusted-identity: model was signed by "team-a@example\.com"/,
    code: 'untrusted-identity',
  },
];

describe('keyless models in a real gateway', () => {
  const cleanup = createCleanup();
  const sigstore = createTestSigstore();
  let gw: TestGateway;
  let auditPath: string;
  let repo: string;

  async function version(model: string): Promise<string> {
    const dir = join(repo, model, '1');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.onnx'), modelBytes);
    return dir;
  }

  before(async () => {
    const base = await tempDir(cleanup);
    repo = join(base, 'models');
    const rootFile = join(base, 'private_trusted_root.json');
    await writeFile(rootFile, sigstore.trustedRootJson);
    await sigstore.signKeyless(await version('good'), publisher);
    await sigstore.signKeyless(await version('team-a-x'), {
      identity: 'team-a@example.com',
      issuer: publisher.issuer,
    });
    for (const c of cases) {
      const dir = await version(c.model);
      const identity = c.model === 'other-team' ? { identity: 'team-a@example.com' } : {};
      await sigstore.signKeyless(dir, { ...publisher, ...identity, ...c.sign });
      await c.after?.(dir);
    }
    auditPath = join(base, 'audit.log');
    gw = await startGateway(
      cleanup,
      repo,
      `models:
  repository: ${JSON.stringify(repo)}
  allowUnsigned: false
  trustedIdentities:
    - identity: ${publisher.identity}
      issuer: ${publisher.issuer}
    - identity: team-a@example.com
      issuer: ${publisher.issuer}
      models: ['team-a-*']
  sigstoreTrustedRoot: ${JSON.stringify(rootFile)}
  defaults:
    poolSize: 0
audit:
  path: ${JSON.stringify(auditPath)}
  fsync: always
metrics:
  enabled: true
  port: 0
`,
    );
  });
  after(() => cleanup.run());

  async function indexRows() {
    const res = await gw.post('/v2/repository/index', {});
    assert.equal(res.status, 200);
    return res.body as { name: string; version: string; state: string; reason: string }[];
  }

  it('serves the keyless-signed models whose identity is trusted', async () => {
    const rows = await indexRows();
    for (const model of ['good', 'team-a-x']) {
      const row = rows.find((r) => r.name === model);
      assert.equal(row?.state, 'READY', `${model}: ${row?.reason}`);
      const res = await gw.post(`/v2/models/${model}/infer`, echo);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual((res.body as { outputs: { data: number[] }[] }).outputs[0]?.data, [1, 2]);
    }
  });

  for (const c of cases) {
    it(`refuses ${c.model}: UNAVAILABLE, 503, with reason ${c.code}`, async () => {
      const row = (await indexRows()).find((r) => r.name === c.model);
      assert.equal(row?.state, 'UNAVAILABLE', JSON.stringify(row));
      assert.match(row.reason, c.reason);
      assert.doesNotMatch(row.reason, /\n|\/tmp\//);
      const res = await gw.post(`/v2/models/${c.model}/infer`, echo);
      assert.equal(res.status, 503);
      assert.equal((res.body as { code: string }).code, 'MODEL_NOT_READY');
    });
  }

  it('audits each load with the identity and each refusal with its reason', async () => {
    await gw.gateway.audit?.flush();
    const records = (await readFile(auditPath, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const load = records.find((r) => r.event === 'model.load' && r.model === 'good');
    assert.match(
      String(load?.reason),
      /signed by release@example\.com \(https:\/\/issuer\.example\.com\)/,
    );
    for (const c of cases) {
      const record = records.find((r) => r.event === 'model.refused' && r.model === c.model);
      assert.equal(record?.outcome, 'denied', c.model);
      assert.match(String(record.reason), c.reason);
    }
  });

  it('counts refusals by reason in bastion_model_refusals_total', async () => {
    const text = await gw.gateway.metrics!.registry.metrics();
    for (const c of cases) {
      assert.match(
        text,
        new RegExp(
          `^bastion_model_refusals_total\\{model="${c.model}",reason="${c.code}"\\} 1$`,
          'm',
        ),
      );
    }
  });

  it('a reload after re-signing with the trusted identity serves the model', async () => {
    const dir = join(repo, 'wrong-identity', '1');
    await sigstore.signKeyless(dir, publisher);
    const res = await gw.post('/v2/repository/models/wrong-identity/load', {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const infer = await gw.post('/v2/models/wrong-identity/infer', echo);
    assert.equal(infer.status, 200);
  });
});

describe(
  'the public-good vector through the registry',
  { skip: existsSync(vector) ? false : `OMS vectors not found at ${vectorsRoot}` },
  () => {
    async function load(t: Parameters<typeof tempDir>[0], identity: string) {
      const repo = join(await tempDir(t), 'models');
      await mkdir(join(repo, 'vector'), { recursive: true });
      await cp(vector, join(repo, 'vector', '1'), { recursive: true });
      const gw = await startGateway(
        t,
        repo,
        `models:
  repository: ${JSON.stringify(repo)}
  ignorePaths: [ignore-me]
  trustedIdentities:
    - identity: ${JSON.stringify(identity)}
      issuer: https://sigstore.verify.ibm.com/oauth2
`,
      );
      const res = await gw.post('/v2/repository/index', {});
      return (res.body as { name: string; reason: string }[]).find((r) => r.name === 'vector');
    }

    test('verifies offline with the shipped root: refused only for having no model.onnx', async (t) => {
      const row = await load(t, 'stefanb@us.ibm.com');
      // The signature and every file verified; the folder simply holds no ONNX model.
      assert.equal(row?.reason, 'the version folder has no model.onnx');
    });

    test('is refused for an identity that is not trusted', async (t) => {
      const row = await load(t, 'someone-else@us.ibm.com');
      assert.match(
        String(row?.reason),
        /^untrusted-identity: model was signed by "stefanb@us\.ibm\.com"/,
      );
    });
  },
);

describe('keyless trust at start-up', () => {
  async function start(t: Parameters<typeof tempDir>[0], models: string, mode = 'development') {
    const dir = await tempDir(t);
    const text = `mode: ${mode}
stateDir: ${JSON.stringify(join(dir, 'var'))}
auth: { issuer: https://id.example.com, audience: bastion, jwksFile: ${JSON.stringify(join(dir, 'jwks.json'))} }
audit: { path: ${JSON.stringify(join(dir, 'audit.log'))}, hmacKeyFile: ${JSON.stringify(join(dir, 'hmac.key'))} }
metrics: { enabled: false }
models:
  repository: ${JSON.stringify(join(dir, 'models'))}
${models}`;
    await writeFile(join(dir, 'jwks.json'), '{"keys":[]}');
    await writeFile(join(dir, 'hmac.key'), 'k'.repeat(64));
    await writeFile(join(dir, 'bad-root.json'), '{"mediaType":"x"}');
    return createGateway(parseConfigText(text, join(dir, 'config.yaml')));
  }

  test('production refuses an identity without an issuer', async (t) => {
    await assert.rejects(
      start(t, '  trustedIdentities: [{ identity: a@example.com }]\n', 'production'),
      (error: unknown) => {
        assert.ok(error instanceof StartupError);
        assert.match(error.message, /models\.trustedIdentities: "a@example\.com" has no issuer/);
        return true;
      },
    );
  });

  test('a bad sigstoreTrustedRoot stops the start, naming the field', async (t) => {
    await assert.rejects(
      start(
        t,
        `  trustedIdentities: [{ identity: a@example.com, issuer: https://i.example.com }]\n  sigstoreTrustedRoot: bad-root.json\n`,
      ),
      /models\.sigstoreTrustedRoot: .*bad-root\.json is not a Sigstore trusted_root\.json/,
    );
  });

  test('an unknown key in an identity entry stops the start', () => {
    assert.throws(
      () =>
        parseConfigText(
          'models:\n  trustedIdentities: [{ identity: a, issuer: b, regexp: true }]\n',
          '/tmp/c.yaml',
        ),
      /trustedIdentities/,
    );
  });
});
