// Unit tests of the keyless trust policy: how trusted identities are named and matched to models,
// and how a Sigstore trusted_root.json is accepted or refused (the shipped public-good root, and
// edited copies of it). Nothing is fetched.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  identitiesForModel,
  identityName,
  loadKeylessTrust,
} from '../../../src/models/oms/keyless-trust.js';
import {
  loadSigstoreTrustedRoot,
  parseSigstoreTrustedRoot,
  publicGoodTrustedRoot,
  publicGoodTrustedRootPath,
} from '../../../src/models/oms/sigstore-trusted-root.js';

const shipped = readFileSync(publicGoodTrustedRootPath, 'utf8');
const shippedJson = JSON.parse(shipped) as Record<string, unknown>;
const toPattern = (pattern: string) => new RegExp(`^${pattern.replaceAll('*', '.*')}$`);

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-keyless-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

void describe('trusted identities', () => {
  void it('are named "identity (issuer)", or "(any issuer)" without one', () => {
    assert.equal(
      identityName({ identity: 'ci@example.com', issuer: 'https://idp' }),
      'ci@example.com (https://idp)',
    );
    assert.equal(identityName({ identity: 'ci@example.com' }), 'ci@example.com (any issuer)');
  });

  void it('no identities and no root file: no keyless trust at all', async () => {
    assert.deepEqual(await loadKeylessTrust({}, toPattern), {
      identities: [],
      sigstoreRoot: undefined,
    });
    assert.deepEqual(await loadKeylessTrust({ trustedIdentities: [] }, toPattern), {
      identities: [],
      sigstoreRoot: undefined,
    });
  });

  void it('identities get the shipped public-good root and their model patterns', async () => {
    const trust = await loadKeylessTrust(
      {
        trustedIdentities: [
          { identity: 'a@example.com', issuer: 'https://idp', models: ['iris*'] },
          { identity: 'b@example.com' },
        ],
      },
      toPattern,
    );
    assert.equal(trust.sigstoreRoot, publicGoodTrustedRoot());
    assert.equal(trust.sigstoreRoot.source, 'the shipped public-good trusted root');
    assert.deepEqual(
      trust.identities.map((a) => ({ ...a, models: a.models?.map(String) })),
      [
        {
          identity: 'a@example.com',
          issuer: 'https://idp',
          name: 'a@example.com (https://idp)',
          models: ['/^iris.*$/'],
        },
        {
          identity: 'b@example.com',
          issuer: undefined,
          name: 'b@example.com (any issuer)',
          models: undefined,
        },
      ],
    );
    assert.deepEqual(
      identitiesForModel(trust, 'iris-v2').map((a) => a.identity),
      ['a@example.com', 'b@example.com'],
    );
    assert.deepEqual(
      identitiesForModel(trust, 'mnist').map((a) => a.identity),
      ['b@example.com'],
    );
  });

  void it('a configured root file is used even without identities', async (t) => {
    const path = join(await dir(t), 'root.json');
    await writeFile(path, shipped);
    const trust = await loadKeylessTrust({ sigstoreTrustedRoot: path }, toPattern);
    assert.ok(trust.sigstoreRoot !== undefined, 'trust.sigstoreRoot !== undefined');
    assert.equal(trust.sigstoreRoot.source, path);
    assert.ok(
      trust.sigstoreRoot.material.tlogs.length > 0,
      'trust.sigstoreRoot.material.tlogs.length > 0',
    );
  });

  void it('an unreadable or invalid root file names the setting', async (t) => {
    const d = await dir(t);
    const missing = join(d, 'missing.json');
    await assert.rejects(loadKeylessTrust({ sigstoreTrustedRoot: missing }, toPattern), {
      message: `models.sigstoreTrustedRoot: cannot read Sigstore trusted root ${missing}`,
    });
    const bad = join(d, 'bad.json');
    await writeFile(bad, '[]');
    await assert.rejects(loadKeylessTrust({ sigstoreTrustedRoot: bad }, toPattern), {
      message: `models.sigstoreTrustedRoot: ${bad} is not a Sigstore trusted_root.json: the top level is not an object`,
    });
  });
});

void describe('parseSigstoreTrustedRoot', () => {
  const parse = (value: unknown) =>
    parseSigstoreTrustedRoot(
      Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
      'root.json',
    );
  const not = (why: string) => ({
    message: `root.json is not a Sigstore trusted_root.json: ${why}`,
  });

  void it('accepts the shipped root and the versioned media type names', () => {
    const root = parse(shipped);
    assert.equal(root.source, 'root.json');
    assert.ok(
      root.material.certificateAuthorities.length > 0,
      'root.material.certificateAuthorities.length > 0',
    );
    for (const mediaType of [
      'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      'application/vnd.dev.sigstore.trustedroot.v0.2+json',
    ]) {
      assert.ok(parse({ ...shippedJson, mediaType }).material.tlogs.length > 0, mediaType);
    }
  });

  void it('refuses what is not a trusted root', () => {
    assert.throws(() => parse('{'), not('not valid JSON'));
    assert.throws(() => parse([]), not('the top level is not an object'));
    assert.throws(() => parse(null), not('the top level is not an object'));
    assert.throws(() => parse('"text"'), not('the top level is not an object'));
    const mediaType = not('mediaType is not application/vnd.dev.sigstore.trustedroot+json');
    assert.throws(() => parse({ ...shippedJson, mediaType: undefined }), mediaType);
    assert.throws(() => parse({ ...shippedJson, mediaType: 'application/json' }), mediaType);
    assert.throws(
      () => parse({ ...shippedJson, mediaType: 'x-application/vnd.dev.sigstore.trustedroot+json' }),
      mediaType,
    );
    assert.throws(
      () => parse({ ...shippedJson, certificateAuthorities: [] }),
      not('it lists no certificateAuthorities'),
    );
    assert.throws(
      () => parse({ ...shippedJson, tlogs: [] }),
      not('it lists no tlogs (Rekor log keys)'),
    );
    assert.throws(
      () => parse({ ...shippedJson, tlogs: [{ baseUrl: 'x', publicKey: { rawBytes: '%%%' } }] }),
      (error: unknown) =>
        error instanceof Error &&
        /^root\.json is not a Sigstore trusted_root\.json: /.test(error.message),
    );
  });

  void it('refuses a file over 4 MiB before parsing it', () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    assert.throws(() => parseSigstoreTrustedRoot(big, 'big.json'), {
      message: 'big.json is not a Sigstore trusted_root.json: the file is too large',
    });
    assert.throws(() => parseSigstoreTrustedRoot(Buffer.alloc(4 * 1024 * 1024, 0x20), 'big.json'), {
      message: 'big.json is not a Sigstore trusted_root.json: not valid JSON',
    });
  });

  void it('reads a file by path, and the public-good root once', async (t) => {
    const path = join(await dir(t), 'root.json');
    await writeFile(path, shipped);
    assert.equal((await loadSigstoreTrustedRoot(path)).source, path);
    assert.equal(publicGoodTrustedRoot(), publicGoodTrustedRoot());
  });
});
