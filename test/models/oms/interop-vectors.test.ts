// Interop: bundles made by the reference model_signing tool, the OMS spec's test vectors and
// the model-signing-conformance suite, read in place from ../shared/vectors/oms.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { isOmsVerificationError } from '../../../src/models/oms/oms-verification-error.js';
import { verifyModelDirectory } from '../../../src/models/oms/verify-model.js';
import { vectorsRoot } from './oms-test-fixtures.js';

const absent = existsSync(vectorsRoot)
  ? false
  : `OMS vectors not found at ${vectorsRoot} (a clone without ../shared)`;

const mt = join(vectorsRoot, 'model-transparency');
const read = (path: string): string => readFileSync(path, 'utf8');

function expectRefusal(error: unknown): boolean {
  assert.ok(isOmsVerificationError(error), `expected a verification error, got ${String(error)}`);
  return true;
}

describe('model-transparency reference bundles', { skip: absent }, () => {
  const trust = () => ({
    keys: [read(join(mt, 'keys/certificate/signing-key-pub.pem'))],
    roots: [read(join(mt, 'keys/certificate/ca-cert.pem'))],
  });
  const folders = absent ? [] : readdirSync(mt).filter((name) => name.startsWith('v'));
  for (const folder of folders) {
    const keyless = folder.endsWith('-sigstore');
    test(
      folder,
      { skip: keyless ? 'keyless (Sigstore) bundles are not supported' : false },
      async () => {
        const verified = await verifyModelDirectory({
          root: join(mt, folder),
          trust: trust(),
          ignorePaths: ['ignore-me'],
        });
        assert.ok(verified.files.size > 0);
        assert.ok(!verified.files.has('ignore-me') && !verified.files.has('model.sig'));
        assert.equal(verified.legacyFormat, folder.startsWith('v0.2.'));
      },
    );
  }
});

describe('ossf/model-signing-spec v1.0 vectors', { skip: absent }, () => {
  const spec = join(vectorsRoot, 'spec-v1.0');
  const verify = (bundle: string) =>
    verifyModelDirectory({
      root: join(mt, 'v1.1.0-elliptic-key'),
      signatureFile: bundle,
      trust: {
        keys: [read(join(mt, 'keys/certificate/signing-key-pub.pem'))],
        roots: [read(join(mt, 'keys/certificate/ca-cert.pem'))],
      },
      ignorePaths: ['ignore-me', 'model.sig'],
    });
  for (const name of ['key', 'certificate']) {
    test(`valid/${name}`, async () => {
      const verified = await verify(join(spec, 'valid', `${name}.bundle.json`));
      assert.deepEqual([...verified.files.keys()].sort(), ['signme-1', 'signme-2']);
    });
  }
  test('valid/sigstore', { skip: 'keyless (Sigstore) bundles are not supported' }, () => undefined);
  for (const folder of absent ? [] : ['invalid', 'invalid-payload']) {
    for (const file of readdirSync(join(spec, folder))) {
      test(`${folder}/${file} is refused`, async () => {
        await assert.rejects(verify(join(spec, folder, file)), expectRefusal);
      });
    }
  }
});

interface CaseConfig {
  readonly method: 'key' | 'certificate' | 'sigstore';
  readonly model: string;
  readonly model_relative_to?: string;
  readonly expect?: string;
  readonly expected_signed_files?: readonly string[];
  readonly signature?: string;
  readonly model_modifications?: {
    readonly tamper?: Record<string, string>;
    readonly inject?: Record<string, string>;
    readonly delete?: readonly string[];
  };
  readonly verify: {
    readonly public_key?: string;
    readonly cert_chain?: readonly string[];
    readonly ignore_paths?: readonly string[];
  };
}

/** Copies the model to a temp folder and applies the case's modifications. */
async function modifiedCopy(model: string, mods: NonNullable<CaseConfig['model_modifications']>) {
  const base = await mkdtemp(join(tmpdir(), 'bastion-conformance-'));
  const copy = join(base, basename(model));
  await cp(model, copy, { recursive: true, verbatimSymlinks: true });
  for (const [name, content] of Object.entries({ ...mods.tamper, ...mods.inject })) {
    await rm(join(copy, name), { force: true });
    await writeFile(join(copy, name), content);
  }
  for (const name of mods.delete ?? []) await rm(join(copy, name), { force: true });
  return { copy, cleanup: () => rm(base, { recursive: true, force: true }) };
}

describe('model-signing-conformance verify cases', { skip: absent }, () => {
  const suite = join(vectorsRoot, 'conformance');
  const assets = join(suite, 'assets');
  for (const group of absent ? [] : ['positive', 'negative', 'historical']) {
    const groupDir = join(suite, 'test-cases/verify', group);
    for (const name of readdirSync(groupDir)) {
      const caseDir = join(groupDir, name);
      const config = JSON.parse(read(join(caseDir, 'config.json'))) as CaseConfig;
      const keyFiles = [config.verify.public_key ?? [], config.verify.cert_chain ?? []].flat();
      const missing = keyFiles.find((file) => !existsSync(join(assets, file)));
      const skip =
        config.method === 'sigstore'
          ? 'keyless (Sigstore) verification is not supported'
          : missing !== undefined
            ? `the case's key file ${missing} is not in the suite`
            : false;
      test(`${group}/${name}`, { skip }, async (t) => {
        let model = join(config.model_relative_to === 'test_dir' ? caseDir : assets, config.model);
        if (config.model_modifications !== undefined) {
          const copy = await modifiedCopy(model, config.model_modifications);
          t.after(copy.cleanup);
          model = copy.copy;
        }
        const run = verifyModelDirectory({
          root: model,
          signatureFile: join(caseDir, config.signature ?? 'bundle.sig'),
          trust: {
            keys: config.verify.public_key ? [read(join(assets, config.verify.public_key))] : [],
            roots: (config.verify.cert_chain ?? []).map((f) => read(join(assets, f))),
          },
          ignorePaths: config.verify.ignore_paths ?? [],
        });
        if (config.expect === 'fail') {
          await assert.rejects(run, (error: unknown) => {
            if (isOmsVerificationError(error)) t.diagnostic(`refused: ${error.reason}`);
            return expectRefusal(error);
          });
          return;
        }
        const verified = await run;
        const expected = config.expected_signed_files;
        if (expected !== undefined && !(expected.length === 1 && expected[0] === '.')) {
          assert.deepEqual([...verified.files.keys()].sort(), [...expected].sort());
        }
        assert.ok(dirname(model) !== '');
      });
    }
  }
});
