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

/** The signer of every keyless vector (README: a public-good certificate, a private OIDC issuer). */
const vectorIdentity = {
  identity: 'stefanb@us.ibm.com',
  issuer: 'https://sigstore.verify.ibm.com/oauth2',
};

function expectRefusal(error: unknown): boolean {
  assert.ok(isOmsVerificationError(error), `expected a verification error, got ${String(error)}`);
  return true;
}

describe('model-transparency reference bundles', { skip: absent }, () => {
  const trust = () => ({
    keys: [read(join(mt, 'keys/certificate/signing-key-pub.pem'))],
    roots: [read(join(mt, 'keys/certificate/ca-cert.pem'))],
    identities: [vectorIdentity],
  });
  const folders = absent ? [] : readdirSync(mt).filter((name) => name.startsWith('v'));
  for (const folder of folders) {
    const method = folder.endsWith('-sigstore')
      ? 'keyless'
      : folder.endsWith('-certificate')
        ? 'certificate'
        : 'key';
    test(folder, async () => {
      const verified = await verifyModelDirectory({
        root: join(mt, folder),
        trust: trust(),
        ignorePaths: ['ignore-me'],
      });
      assert.ok(verified.files.size > 0);
      assert.ok(!verified.files.has('ignore-me') && !verified.files.has('model.sig'));
      assert.equal(verified.legacyFormat, folder.startsWith('v0.2.'));
      assert.equal(verified.signer.method, method);
    });
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
  test('valid/sigstore', async () => {
    const verified = await verifyModelDirectory({
      root: join(mt, 'v1.1.0-sigstore'),
      signatureFile: join(spec, 'valid', 'sigstore.bundle.json'),
      trust: { identities: [vectorIdentity] },
      ignorePaths: ['ignore-me', 'model.sig'],
    });
    assert.deepEqual([...verified.files.keys()].sort(), ['signme-1', 'signme-2']);
    assert.equal(verified.signer.method, 'keyless');
  });
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
    readonly identity?: string;
    readonly identity_provider?: string;
  };
}

/**
 * The one case whose key file the suite lacks is `sigstore-verify-as-key_fail` (a keyless bundle
 * checked in key mode): any P-256 public key shows the method mismatch, so the suite's own P-256
 * test key stands in for it.
 */
/** Keyless refusals must be for the reason the case is about, not any failure on the way. */
const expectedReasons: Readonly<Record<string, string>> = {
  'sigstore-tampered-content_fail': 'digest-mismatch',
  'sigstore-verify-as-key_fail': 'untrusted-identity',
  'sigstore-wrong-identity_fail': 'untrusted-identity',
  'sigstore-wrong-issuer_fail': 'untrusted-identity',
};

const substituteKeys: Readonly<Record<string, string>> = {
  'keys/ec-p256/signing-key-pub.pem': 'keys/certificate/signing-key-pub.pem',
};

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
      const keyFile = (file: string): string => substituteKeys[file] ?? file;
      const keyFiles = [config.verify.public_key ?? [], config.verify.cert_chain ?? []]
        .flat()
        .map(keyFile);
      const missing = keyFiles.find((file) => !existsSync(join(assets, file)));
      const skip =
        missing !== undefined ? `the case's key file ${missing} is not in the suite` : false;
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
            keys: config.verify.public_key
              ? [read(join(assets, keyFile(config.verify.public_key)))]
              : [],
            roots: (config.verify.cert_chain ?? []).map((f) => read(join(assets, f))),
            identities:
              config.verify.identity === undefined
                ? []
                : [{ identity: config.verify.identity, issuer: config.verify.identity_provider }],
          },
          ignorePaths: config.verify.ignore_paths ?? [],
        });
        if (config.expect === 'fail') {
          await assert.rejects(run, (error: unknown) => {
            if (isOmsVerificationError(error)) t.diagnostic(`refused: ${error.reason}`);
            expectRefusal(error);
            const reason = expectedReasons[name];
            if (reason !== undefined) assert.equal((error as { reason?: string }).reason, reason);
            return true;
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
