/**
 * ONNX external data end to end, over a real gateway (allowUnsigned: false, real ONNX Runtime):
 * a signed model whose weights sit in another file either is refused (`external-data`, the
 * default), or — with `allowExternalData: true` in its config.yaml — serves exactly the signed
 * weights, even when a file of the same name sits in the process's working directory. Locations
 * that leave the version folder are refused whatever the tuning says, encrypted models included.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildExternalAddModel, float32Bytes } from '../../scripts/onnx/onnx-builder.js';
import { encryptModelBytes, generateEncryptionKey } from '../../src/models/model-encryption.js';
import { signModelDirectory } from '../../src/models/oms/sign-model.js';
import { createCleanup, startGateway, tempDir, type TestGateway } from '../helpers/gateway.js';
import { createTestKeys } from './oms/oms-test-fixtures.js';

const signedWeights = [10, 20, 30, 40];
const attackerWeights = [-1000, -2000, -3000, -4000];
const input = { inputs: [{ name: 'x', shape: [4], datatype: 'FP32', data: [1, 2, 3, 4] }] };

interface Case {
  readonly model: string;
  readonly location: string;
  readonly tuning?: string;
  readonly encrypted?: boolean;
  /** Undefined: must serve the signed weights. */
  readonly refused?: RegExp;
}

const cases: Case[] = [
  { model: 'ext-pool', location: 'weights.bin', tuning: 'allowExternalData: true\npoolSize: 1' },
  { model: 'ext-inline', location: 'weights.bin', tuning: 'allowExternalData: true\npoolSize: 0' },
  {
    model: 'ext-disabled-opt',
    location: 'weights.bin',
    tuning: 'allowExternalData: true\ngraphOptimizationLevel: disabled',
  },
  {
    model: 'ext-encrypted-ok',
    location: 'weights.bin',
    tuning: 'allowExternalData: true',
    encrypted: true,
  },
  {
    model: 'ext-default',
    location: 'weights.bin',
    refused: /^external-data: .*initializer "w".*allowExternalData: true/,
  },
  {
    model: 'ext-default-disabled-opt',
    location: 'weights.bin',
    tuning: 'graphOptimizationLevel: disabled',
    refused: /^external-data: /,
  },
  {
    model: 'ext-encrypted-default',
    location: 'weights.bin',
    encrypted: true,
    refused: /^external-data: /,
  },
  {
    model: 'ext-config-file',
    location: 'config/default.yaml',
    tuning: 'allowExternalData: true\ngraphOptimizationLevel: disabled',
    refused:
      /^external-data: .*"config\/default\.yaml", which is not a file of this version folder/,
  },
  {
    model: 'ext-config-file-default',
    location: 'config/default.yaml',
    tuning: 'graphOptimizationLevel: disabled',
    refused: /^external-data: /,
  },
  {
    model: 'ext-absolute',
    location: '/etc/hostname',
    tuning: 'allowExternalData: true',
    refused: /^external-data: .*absolute path/,
  },
  {
    model: 'ext-dotdot',
    location: '../../ext-pool/1/weights.bin',
    tuning: 'allowExternalData: true',
    refused: /^external-data: .*leaves the version folder/,
  },
  {
    model: 'ext-encrypted-escape',
    location: '../weights.bin',
    tuning: 'allowExternalData: true',
    encrypted: true,
    refused: /^external-data: .*leaves the version folder/,
  },
  {
    model: 'ext-mem-addr',
    location: '*/_ORT_MEM_ADDR_/*',
    tuning: 'allowExternalData: true',
    refused: /^external-data: .*plain relative path/,
  },
];

void describe('external data: refused by default, verified bytes only when allowed', () => {
  const cleanup = createCleanup();
  const cwd = process.cwd();
  let gw: TestGateway;
  let auditPath: string;

  before(async () => {
    const base = await tempDir(cleanup, 'bastion-extdata-');
    const repo = join(base, 'models');
    const keys = createTestKeys();
    const encryptionKey = generateEncryptionKey();
    await writeFile(join(base, 'publisher.pub.pem'), keys.publicPem);
    await writeFile(join(base, 'model.key'), encryptionKey.toString('hex'));
    // The attacker's copies, where ONNX Runtime would look (relative to the working directory).
    const work = join(base, 'cwd');
    await mkdir(join(work, 'config'), { recursive: true });
    await writeFile(join(work, 'weights.bin'), float32Bytes(attackerWeights));
    await writeFile(join(work, 'config', 'default.yaml'), float32Bytes(attackerWeights));
    for (const c of cases) {
      const dir = join(repo, c.model, '1');
      await mkdir(dir, { recursive: true });
      const model = buildExternalAddModel({ location: c.location });
      if (c.encrypted === true) {
        await writeFile(
          join(dir, 'model.onnx.enc'),
          encryptModelBytes(Buffer.from(model), encryptionKey),
        );
      } else {
        await writeFile(join(dir, 'model.onnx'), model);
      }
      await writeFile(join(dir, 'weights.bin'), float32Bytes(signedWeights));
      await signModelDirectory({ root: dir, privateKeyPem: keys.privatePem });
      if (c.tuning !== undefined) await writeFile(join(repo, c.model, 'config.yaml'), c.tuning);
    }
    auditPath = join(base, 'audit.log');
    process.chdir(work);
    cleanup.after(() => {
      process.chdir(cwd);
      return Promise.resolve();
    });
    gw = await startGateway(
      cleanup,
      repo,
      `models:
  repository: ${JSON.stringify(repo)}
  allowUnsigned: false
  trustedKeys: [${JSON.stringify(join(base, 'publisher.pub.pem'))}]
  encryptionKeyFile: ${JSON.stringify(join(base, 'model.key'))}
  defaults:
    poolSize: 0
audit:
  path: ${JSON.stringify(auditPath)}
metrics:
  enabled: true
  port: 0
`,
    );
  });
  after(() => cleanup.run());

  async function row(model: string) {
    const res = await gw.post('/v2/repository/index', {});
    assert.equal(res.status, 200);
    return (res.body as { name: string; state: string; reason: string }[]).find(
      (r) => r.name === model,
    );
  }

  for (const c of cases) {
    if (c.refused === undefined) {
      void it(`${c.model}: serves the signed weights, not the working directory's file`, async () => {
        assert.equal((await row(c.model))?.state, 'READY', JSON.stringify(await row(c.model)));
        const res = await gw.post(`/v2/models/${c.model}/infer`, input);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(
          (res.body as { outputs: { data: number[] }[] }).outputs[0]?.data,
          [11, 22, 33, 44],
        );
      });
    } else {
      const refused = c.refused;
      void it(`${c.model}: refused (${c.location})`, async () => {
        const r = await row(c.model);
        assert.equal(r?.state, 'UNAVAILABLE', JSON.stringify(r));
        assert.match(r.reason, refused);
        const res = await gw.post(`/v2/models/${c.model}/infer`, input);
        assert.equal(res.status, 503);
      });
    }
  }

  void it('every refusal is audited and counted with its reason', async () => {
    await gw.gateway.audit?.flush();
    const records = (await readFile(auditPath, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const text = await gw.gateway.metrics!.registry.metrics();
    for (const c of cases.filter((x) => x.refused !== undefined)) {
      const record = records.find((r) => r.event === 'model.refused' && r.model === c.model);
      assert.match(String(record?.reason), /^external-data: /, c.model);
      assert.match(
        text,
        new RegExp(
          `bastion_model_loads_total\\{[^}]*model="${c.model}"[^}]*result="refused"[^}]*\\} 1`,
        ),
      );
    }
  });
});
