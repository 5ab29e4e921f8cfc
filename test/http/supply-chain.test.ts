/**
 * The model supply chain end to end: a real gateway (allowUnsigned: false) over a repository
 * that holds good models and one bad version per way a model can be tampered with or
 * mis-signed. Every bad version is refused — UNAVAILABLE in the index with a reason, 503 on
 * infer, an audit record, a metric — while the good ones keep serving.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, sign } from 'node:crypto';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { encryptModelBytes, generateEncryptionKey } from '../../src/models/model-encryption.js';
import { createPae } from '../../src/models/oms/dsse-pae.js';
import { signModelDirectory } from '../../src/models/oms/sign-model.js';
import { createCleanup, startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { createKeyBundle, createTestKeys, type TestKeys } from '../models/oms/oms-test-fixtures.js';

const modelBytes = Buffer.from(buildIdentityModel('float32', ['batch']));
const echo = { inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 2] }] };

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const openssl = hasOpenssl();

/** A root CA (P-256) made with the openssl CLI, able to issue leaves. */
function createCa(dir: string, name: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  run('genpkey', ...ec, '-out', `${name}-ca.key`);
  run(
    ...['req', '-x509', '-new', '-key', `${name}-ca.key`, '-subj', `/CN=${name} test root`],
    ...['-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign', '-out', `${name}-ca.pem`],
  );
  return {
    caFile: join(dir, `${name}-ca.pem`),
    /** Issues a code-signing leaf valid for `days` (-1: already expired); returns its PEM. */
    async issue(leaf: string, days: number): Promise<{ keyPem: string; certPem: string }> {
      run('genpkey', ...ec, '-out', `${leaf}.key`);
      run('req', '-new', '-key', `${leaf}.key`, '-subj', `/CN=${leaf}`, '-out', `${leaf}.csr`);
      await writeFile(
        join(dir, `${leaf}.ext`),
        'keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n',
      );
      run(
        ...['x509', '-req', '-in', `${leaf}.csr`, '-CA', `${name}-ca.pem`],
        ...['-CAkey', `${name}-ca.key`, '-CAcreateserial', '-days', String(days)],
        ...['-extfile', `${leaf}.ext`, '-out', `${leaf}.pem`],
      );
      return {
        keyPem: await readFile(join(dir, `${leaf}.key`), 'utf8'),
        certPem: await readFile(join(dir, `${leaf}.pem`), 'utf8'),
      };
    },
  };
}

interface Bundle {
  verificationMaterial: unknown;
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string }[] };
}

async function readBundle(dir: string): Promise<Bundle> {
  return JSON.parse(await readFile(join(dir, 'model.sig'), 'utf8')) as Bundle;
}

/** Re-signs a version's bundle in certificate mode with `leaf` (chain: leaf only). */
async function toCertificateBundle(dir: string, leaf: { keyPem: string; certPem: string }) {
  const bundle = await readBundle(dir);
  const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
  const sig = sign('sha256', createPae(bundle.dsseEnvelope.payloadType, payload), {
    key: leaf.keyPem,
    dsaEncoding: 'der',
  });
  bundle.dsseEnvelope.signatures = [{ sig: sig.toString('base64') }];
  bundle.verificationMaterial = {
    x509CertificateChain: {
      certificates: [{ rawBytes: leaf.certPem.replace(/-----[A-Z ]+-----|\s/g, '') }],
    },
  };
  await writeFile(join(dir, 'model.sig'), JSON.stringify(bundle));
}

/** The statement inside a version's bundle, as JSON. */
async function statementOf(dir: string): Promise<Record<string, unknown>> {
  const bundle = await readBundle(dir);
  return JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** One refused version: how to make it, and what its reason must say. */
interface BadVersion {
  readonly name: string;
  readonly model: string;
  readonly version?: number;
  readonly reason: RegExp;
  readonly needsOpenssl?: boolean;
  /** Fills `dir` (the empty version folder). */
  make(dir: string): Promise<void>;
}

void describe('supply chain: a gateway refuses every tampered or mis-signed version', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  let repo: string;
  let auditPath: string;
  let trusted: TestKeys;
  const stranger = createTestKeys();
  const team = createTestKeys();
  const encryptionKey = generateEncryptionKey();
  let rootCa: ReturnType<typeof createCa> | undefined;
  let otherCa: ReturnType<typeof createCa> | undefined;

  async function signed(dir: string, keys: TestKeys = trusted, files = {}): Promise<void> {
    await writeFile(join(dir, 'model.onnx'), modelBytes);
    for (const [file, content] of Object.entries<string>(files)) {
      await writeFile(join(dir, file), content);
    }
    await signModelDirectory({ root: dir, privateKeyPem: keys.privatePem });
  }

  const bad: BadVersion[] = [
    {
      name: 'one flipped byte',
      model: 'flipped-byte',
      reason: /digest-mismatch.*model\.onnx/,
      async make(dir) {
        await signed(dir);
        const bytes = Buffer.from(modelBytes);
        bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
        await writeFile(join(dir, 'model.onnx'), bytes);
      },
    },
    {
      name: 'an extra file',
      model: 'extra-file',
      reason: /file-extra.*notes\.txt/,
      async make(dir) {
        await signed(dir);
        await writeFile(join(dir, 'notes.txt'), 'added after signing');
      },
    },
    {
      name: 'a missing file',
      model: 'missing-file',
      reason: /file-missing.*labels\.txt/,
      async make(dir) {
        await signed(dir, trusted, { 'labels.txt': 'cat\ndog\n' });
        await rm(join(dir, 'labels.txt'));
      },
    },
    {
      name: 'an untrusted key',
      model: 'untrusted-key',
      reason: /untrusted-key/,
      make: (dir) => signed(dir, stranger),
    },
    {
      name: 'no signature',
      model: 'unsigned',
      reason: /no signature/,
      make: (dir) => writeFile(join(dir, 'model.onnx'), modelBytes),
    },
    {
      name: 'a malformed bundle',
      model: 'malformed-bundle',
      reason: /bundle-malformed/,
      async make(dir) {
        await signed(dir);
        const text = await readFile(join(dir, 'model.sig'), 'utf8');
        await writeFile(join(dir, 'model.sig'), text.slice(0, text.length / 2));
      },
    },
    {
      name: 'a symlinked model file (to identical bytes outside the folder)',
      model: 'symlinked-file',
      reason: /symlink/,
      async make(dir) {
        await signed(dir);
        const outside = join(dir, '..', 'outside.onnx');
        await writeFile(outside, modelBytes);
        await rm(join(dir, 'model.onnx'));
        await symlink(outside, join(dir, 'model.onnx'));
      },
    },
    {
      name: 'a resource named with ..',
      model: 'dotdot-resource',
      reason: /resource-name/,
      async make(dir) {
        await signed(dir);
        const statement = await statementOf(dir);
        const predicate = statement.predicate as { resources: { name: string; digest: string }[] };
        predicate.resources.push({ ...predicate.resources[0]!, name: '../good/1/model.onnx' });
        const subject = createHash('sha256');
        for (const r of predicate.resources) subject.update(Buffer.from(r.digest, 'hex'));
        statement.subject = [{ name: '1', digest: { sha256: subject.digest('hex') } }];
        await writeFile(join(dir, 'model.sig'), createKeyBundle(statement, trusted));
      },
    },
    {
      name: 'a wrong predicateType (properly re-signed)',
      model: 'wrong-predicate',
      reason: /predicate-type/,
      async make(dir) {
        await signed(dir);
        const statement = await statementOf(dir);
        statement.predicateType = 'https://example.com/not-a-model-signature/v1';
        await writeFile(join(dir, 'model.sig'), createKeyBundle(statement, trusted));
      },
    },
    {
      name: 'an expired certificate',
      model: 'cert-expired',
      reason: /certificate-expired/,
      needsOpenssl: true,
      async make(dir) {
        await signed(dir, stranger);
        await toCertificateBundle(dir, await rootCa!.issue('expired-leaf', -1));
      },
    },
    {
      name: 'a certificate that chains to another root',
      model: 'cert-other-root',
      reason: /untrusted-key.*root/,
      needsOpenssl: true,
      async make(dir) {
        await signed(dir, stranger);
        await toCertificateBundle(dir, await otherCa!.issue('other-leaf', 10));
      },
    },
    {
      name: 'a key restricted to team-a-* signing team-b-x',
      model: 'team-b-x',
      reason: /untrusted-key|may sign/,
      make: (dir) => signed(dir, team),
    },
    {
      name: 'a tampered v2 of a model whose v1 is good',
      model: 'multi',
      version: 2,
      reason: /digest-mismatch/,
      async make(dir) {
        await signed(dir);
        await writeFile(join(dir, 'model.onnx'), Buffer.concat([modelBytes, Buffer.from([0])]));
      },
    },
    {
      name: 'an encrypted model under a key the gateway does not hold',
      model: 'encrypted-wrong-key',
      reason: /wrong-key/,
      async make(dir) {
        await writeFile(
          join(dir, 'model.onnx.enc'),
          encryptModelBytes(modelBytes, generateEncryptionKey()),
        );
        await signModelDirectory({ root: dir, privateKeyPem: trusted.privatePem });
      },
    },
  ];
  const cases = bad.filter((c) => openssl || c.needsOpenssl !== true);

  before(async () => {
    const base = await tempDir(cleanup, 'bastion-supply-');
    repo = join(base, 'models');
    const keysDir = join(base, 'keys');
    await mkdir(keysDir);
    trusted = createTestKeys();
    await writeFile(join(keysDir, 'publisher.pub.pem'), trusted.publicPem);
    await writeFile(join(keysDir, 'team-a.pub.pem'), team.publicPem);
    await writeFile(join(keysDir, 'model.key'), encryptionKey.toString('hex'));
    if (openssl) {
      rootCa = createCa(keysDir, 'trusted');
      otherCa = createCa(keysDir, 'other');
    }
    const version = async (model: string, v = 1) => {
      const dir = join(repo, model, String(v));
      await mkdir(dir, { recursive: true });
      return dir;
    };
    await signed(await version('good'));
    await signed(await version('multi', 1));
    await signed(await version('team-a-x'), team);
    const enc = await version('encrypted');
    await writeFile(join(enc, 'model.onnx.enc'), encryptModelBytes(modelBytes, encryptionKey));
    await signModelDirectory({ root: enc, privateKeyPem: trusted.privatePem });
    if (rootCa !== undefined) {
      const dir = await version('cert-good');
      await signed(dir, stranger);
      await toCertificateBundle(dir, await rootCa.issue('good-leaf', 10));
    }
    for (const c of cases) await c.make(await version(c.model, c.version));

    auditPath = join(base, 'audit', 'audit.log');
    gw = await startGateway(
      cleanup,
      repo,
      `models:
  repository: ${JSON.stringify(repo)}
  allowUnsigned: false
  trustedKeys:
    - ${JSON.stringify(join(keysDir, 'publisher.pub.pem'))}
    - file: ${JSON.stringify(join(keysDir, 'team-a.pub.pem'))}
      models: ['team-a-*']
  trustedRoots: [${rootCa === undefined ? '' : JSON.stringify(rootCa.caFile)}]
  encryptionKeyFile: ${JSON.stringify(join(keysDir, 'model.key'))}
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

  void it('the good models are READY and serve', async () => {
    const ready = ['good', 'multi', 'team-a-x', 'encrypted', ...(openssl ? ['cert-good'] : [])];
    const rows = await indexRows();
    for (const model of ready) {
      const row = rows.find((r) => r.name === model && r.version === '1');
      assert.equal(row?.state, 'READY', `${model}: ${row?.reason}`);
      const res = await gw.post(`/v2/models/${model}/infer`, echo);
      assert.equal(res.status, 200, `${model}: ${JSON.stringify(res.body)}`);
      assert.deepEqual((res.body as { outputs: { data: number[] }[] }).outputs[0]?.data, [1, 2]);
    }
  });

  for (const c of cases) {
    void it(`refuses ${c.name}: UNAVAILABLE with a reason, 503 on infer`, async () => {
      const version = c.version ?? 1;
      const row = (await indexRows()).find(
        (r) => r.name === c.model && r.version === String(version),
      );
      assert.equal(row?.state, 'UNAVAILABLE', JSON.stringify(row));
      assert.match(row.reason, c.reason);
      // No file system path leaks into the reason.
      assert.doesNotMatch(row.reason, new RegExp(repo.replaceAll('/', '\\/')));
      const res = await gw.post(`/v2/models/${c.model}/versions/${version}/infer`, echo);
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal((res.body as { code: string }).code, 'MODEL_NOT_READY');
      assert.ok(res.headers.get('retry-after'));
      if (c.version === undefined) {
        const unversioned = await gw.post(`/v2/models/${c.model}/infer`, echo);
        assert.equal(unversioned.status, 503);
        assert.equal((unversioned.body as { code: string }).code, 'MODEL_NOT_READY');
      }
    });
  }

  void it('an unversioned request uses the highest version that verified (v2 tampered → v1)', async () => {
    const res = await gw.post('/v2/models/multi/infer', echo);
    assert.equal(res.status, 200);
    assert.equal((res.body as { model_version: string }).model_version, '1');
    const meta = await gw.get('/v2/models/multi/versions/2/ready');
    assert.equal(meta.status, 503);
  });

  void it('every refusal is an audit record (model.refused) with its reason', async () => {
    await gw.gateway.audit?.flush();
    const records = (await readFile(auditPath, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const refused = records.filter((r) => r.event === 'model.refused');
    for (const c of cases) {
      const record = refused.find(
        (r) => r.model === c.model && r.version === String(c.version ?? 1),
      );
      assert.ok(record, `no model.refused record for ${c.model}`);
      assert.equal(record.outcome, 'denied');
      assert.match(String(record.reason), c.reason);
    }
    assert.equal(refused.length, cases.length);
    const loaded = records.filter((r) => r.event === 'model.load').map((r) => r.model);
    assert.ok(loaded.includes('good') && loaded.includes('encrypted'));
  });

  void it('every refusal counts in bastion_model_loads_total{result="refused"}', async () => {
    const text = await gw.gateway.metrics!.registry.metrics();
    const refused = [...text.matchAll(/^bastion_model_loads_total\{(.*)\} (\d+)$/gm)]
      .filter(([, labels]) => labels!.includes('result="refused"'))
      .map(([, labels, value]) => ({ labels: labels!, value: Number(value) }));
    const total = refused.reduce((sum, r) => sum + r.value, 0);
    assert.equal(total, cases.length, text);
    for (const c of cases) {
      assert.ok(
        refused.some(
          (r) =>
            r.labels.includes(`model="${c.model}"`) &&
            r.labels.includes(`version="${c.version ?? 1}"`),
        ),
        `no refused sample labelled ${c.model}/${c.version ?? 1}:\n${refused.map((r) => r.labels).join('\n')}`,
      );
    }
  });
  void it('regression: a reload keeps every other model and version as metric labels', async () => {
    // setKnownModels used to be called with only the model just loaded, so every other model's
    // requests (and every refusal) were counted under model="_unknown".
    const count = async (labels: string) => {
      const text = await gw.gateway.metrics!.registry.metrics();
      const line = text.split('\n').find((l) => l.startsWith(`bastion_requests_total{${labels}} `));
      return Number(line?.split(' ')[1] ?? 0);
    };
    const ok = 'model="multi",version="1",status="200"';
    const refused = 'model="multi",version="2",status="503"';
    const [okBefore, refusedBefore] = [await count(ok), await count(refused)];
    assert.equal((await gw.post('/v2/repository/models/good/load', {})).status, 200);
    assert.equal((await gw.post('/v2/models/multi/versions/1/infer', echo)).status, 200);
    assert.equal((await gw.post('/v2/models/multi/versions/2/infer', echo)).status, 503);
    assert.equal(await count(ok), okBefore + 1);
    assert.equal(await count(refused), refusedBefore + 1);
  });
});
