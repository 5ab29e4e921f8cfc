/**
 * `runDoctor`, one finding at a time over real files: a configuration that triggers it, and the
 * clean one (or a close variant) that does not.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFile, chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Config } from '../../src/config/config-schema.js';
import { runDoctor } from '../../src/doctor/run-doctor.js';
import { assessSecret } from '../../src/doctor/secret-strength.js';
import { createDoctorFixture, type DoctorFixture } from './doctor-fixture.js';

async function ids(config: Readonly<Config>): Promise<string[]> {
  return (await runDoctor(config, { verifyModels: true })).map((f) => `${f.severity}:${f.id}`);
}

interface Case {
  readonly id: string;
  /** A configuration (and files) that trigger the finding. */
  readonly bad: (f: DoctorFixture) => Promise<Readonly<Config>>;
  /** A close variant that does not. */
  readonly good: (f: DoctorFixture) => Promise<Readonly<Config>>;
}

const ok = (f: DoctorFixture) => Promise.resolve(f.config());
const randomSecret = () => randomBytes(48).toString('base64');
/**
 * `length` random bytes that a secret file keeps whole: the gateway trims surrounding white space
 * from a secret file, so a raw key starting or ending with such a byte (about 5 % of draws) would
 * lose it and be too short.
 */
function randomKeyBytes(length: number): Buffer {
  for (;;) {
    const bytes = randomBytes(length);
    if (bytes.toString('latin1').trim().length === length) return bytes;
  }
}
const hs = async (f: DoctorFixture, secret: string | Uint8Array) =>
  f.config({
    auth: `auth:\n  issuer: https://issuer.test/\n  audience: bastion\n  algorithms: [HS256]\n  hsSecretFile: ${JSON.stringify(await f.secret('hs.key', secret))}`,
  });

/** The fixture's config once `path` (under its folder; made empty when `create`) has `mode`. */
function withMode(path: string, mode: number, create = false) {
  return async (f: DoctorFixture): Promise<Readonly<Config>> => {
    const file = join(f.dir, path);
    if (create) await writeFile(file, '');
    await chmod(file, mode);
    return f.config();
  };
}

/** The trusted key moved into a folder of `mode`. */
async function keyInFolder(f: DoctorFixture, mode: number): Promise<Readonly<Config>> {
  const folder = join(f.dir, 'shared-keys');
  await mkdir(folder);
  await chmod(folder, mode);
  const key = join(folder, 'publisher.pub.pem');
  await copyFile(join(f.dir, 'publisher.pub.pem'), key);
  await chmod(key, 0o644);
  return f.config({
    models: `models:\n  repository: ${JSON.stringify(f.repo)}\n  trustedKeys: [${JSON.stringify(key)}]`,
  });
}

const cases: Case[] = [
  {
    id: 'high:tls-missing',
    bad: (f) => Promise.resolve(f.config({ server: 'server:\n  host: 0.0.0.0\n  port: 0' })),
    good: async (f) =>
      f.config({
        server: `server:\n  host: 0.0.0.0\n  port: 0\n  tls:\n    certFile: ${JSON.stringify(await f.secret('tls.crt', 'cert'))}\n    keyFile: ${JSON.stringify(await f.secret('tls.key', 'key'))}`,
      }),
  },
  {
    id: 'high:metrics-open',
    bad: (f) => Promise.resolve(f.config({ metrics: 'metrics:\n  host: 0.0.0.0\n  port: 0' })),
    good: async (f) =>
      f.config({
        metrics: `metrics:\n  host: 0.0.0.0\n  port: 0\n  bearerTokenFile: ${JSON.stringify(await f.secret('metrics.token', randomSecret()))}`,
      }),
  },
  { id: 'medium:hs-algorithm', bad: (f) => hs(f, randomSecret()), good: ok },
  {
    id: 'high:hs-secret-weak',
    bad: (f) => hs(f, 'a'.repeat(32)),
    good: (f) => hs(f, randomSecret()),
  },
  {
    id: 'high:hs-secret-weak',
    bad: (f) => hs(f, 'ab'.repeat(24)),
    good: (f) => hs(f, randomKeyBytes(32)),
  },
  {
    id: 'high:hs-secret-weak',
    bad: (f) => hs(f, Buffer.from(Array.from({ length: 48 }, (_v, i) => 33 + i))),
    good: (f) => hs(f, randomBytes(32).toString('hex')),
  },
  { id: 'high:hs-secret-weak', bad: (f) => hs(f, 'Zx9!qR2#'), good: (f) => hs(f, randomSecret()) },
  {
    id: 'high:dev-issuer',
    bad: (f) =>
      Promise.resolve(f.config({ mode: 'mode: development', auth: 'auth:\n  devIssuer: true' })),
    good: (f) => Promise.resolve(f.config({ mode: 'mode: development' })),
  },
  {
    id: 'high:no-trusted-keys',
    bad: (f) =>
      Promise.resolve(f.config({ models: `models:\n  repository: ${JSON.stringify(f.repo)}` })),
    good: ok,
  },
  {
    id: 'high:unsigned-allowed',
    bad: (f) =>
      Promise.resolve(
        f.config({
          mode: 'mode: development',
          models: `models:\n  repository: ${JSON.stringify(f.repo)}\n  allowUnsigned: true\n  trustedKeys: [${JSON.stringify(join(f.dir, 'publisher.pub.pem'))}]`,
        }),
      ),
    good: ok,
  },
  {
    id: 'high:file-writable-by-others',
    bad: withMode('publisher.pub.pem', 0o666),
    good: ok,
  },
  {
    id: 'high:file-writable-by-others',
    bad: withMode('audit/audit.log', 0o666, true),
    good: withMode('audit/audit.log', 0o600, true),
  },
  {
    id: 'high:file-writable-by-others',
    bad: withMode('audit', 0o777),
    good: ok,
  },
  {
    // A key in a folder everyone may write to can be replaced; a sticky folder (like /tmp) is safe.
    id: 'high:file-writable-by-others',
    bad: (f) => keyInFolder(f, 0o777),
    good: (f) => keyInFolder(f, 0o1777),
  },
  {
    id: 'medium:file-writable-by-group',
    bad: withMode('jwks.json', 0o664),
    good: ok,
  },
  {
    id: 'high:file-unreadable',
    bad: (f) => {
      // A FIFO where the audit key should be: reading it would block the start for ever.
      const fifo = join(f.dir, 'audit-fifo');
      assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
      return Promise.resolve(
        f.config({
          audit: `audit:\n  path: ${JSON.stringify(join(f.dir, 'audit/a.log'))}\n  hmacKeyFile: ${JSON.stringify(fifo)}\n  failClosed: true`,
        }),
      );
    },
    good: ok,
  },
  {
    id: 'high:file-unreadable',
    bad: (f) =>
      Promise.resolve(
        f.config({
          metrics: `metrics:\n  host: 127.0.0.1\n  bearerTokenFile: ${JSON.stringify(join(f.dir, 'missing-token'))}`,
        }),
      ),
    good: ok,
  },
  {
    id: 'medium:secret-readable-by-others',
    bad: withMode('audit-hmac.key', 0o644),
    good: ok,
  },
  {
    id: 'high:private-key-in-repository',
    bad: async (f) => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await writeFile(
        join(f.repo, 'signing.pem'),
        privateKey.export({ type: 'pkcs8', format: 'pem' }),
      );
      return f.config();
    },
    good: async (f) => {
      await writeFile(join(f.repo, 'README.md'), 'public keys live in config/keys\n');
      return f.config();
    },
  },
  {
    id: 'high:audit-not-keyed',
    bad: (f) =>
      Promise.resolve(
        f.config({ audit: `audit:\n  path: ${JSON.stringify(join(f.dir, 'audit/a.log'))}` }),
      ),
    good: ok,
  },
  {
    id: 'high:audit-disabled',
    bad: (f) => Promise.resolve(f.config({ audit: 'audit:\n  enabled: false' })),
    good: ok,
  },
  {
    id: 'high:audit-fail-open',
    bad: (f) =>
      Promise.resolve(
        f.config({
          audit: `audit:\n  path: ${JSON.stringify(join(f.dir, 'audit/a.log'))}\n  hmacKeyFile: ${JSON.stringify(join(f.dir, 'audit-hmac.key'))}\n  failClosed: false`,
        }),
      ),
    good: ok,
  },
  {
    id: 'medium:rate-limit-off',
    bad: (f) => Promise.resolve(f.config({ limits: 'limits:\n  requestsPerMinute: 5000000' })),
    good: (f) => Promise.resolve(f.config({ limits: 'limits:\n  requestsPerMinute: 100000' })),
  },
  {
    id: 'medium:model-verification',
    bad: async (f) => {
      await appendFile(join(f.repo, 'iris/1/model.onnx'), Buffer.from([0]));
      return f.config();
    },
    good: ok,
  },
  {
    id: 'high:no-servable-model',
    bad: async (f) => {
      await appendFile(join(f.repo, 'iris/1/model.onnx'), Buffer.from([0]));
      return f.config();
    },
    good: ok,
  },
  {
    id: 'low:external-data-allowed',
    bad: async (f) => {
      await writeFile(join(f.repo, 'iris/config.yaml'), 'allowExternalData: true\n');
      return f.config();
    },
    good: async (f) => {
      await writeFile(join(f.repo, 'iris/config.yaml'), 'allowExternalData: false\n');
      return f.config();
    },
  },
];

void describe('bastion doctor: one finding at a time', () => {
  void it('the clean fixture has no finding at all', async (t) => {
    assert.deepEqual(await ids((await createDoctorFixture(t)).config()), []);
  });
  for (const [index, c] of cases.entries()) {
    void it(`${c.id} (#${index}): found when it applies, not otherwise`, async (t: TestContext) => {
      const bad = await ids(await c.bad(await createDoctorFixture(t)));
      assert.ok(bad.includes(c.id), `found: ${bad.join(', ')}`);
      const good = await ids(await c.good(await createDoctorFixture(t)));
      assert.ok(!good.includes(c.id), `not found: ${good.join(', ')}`);
    });
  }
});

void describe('secret strength rule', () => {
  const weak: [string, string | Uint8Array][] = [
    ['32 × "a"', 'a'.repeat(32)],
    ['"abab…"', 'ab'.repeat(16)],
    ['a byte counter', Uint8Array.from({ length: 32 }, (_v, i) => i)],
    ['a character counter', 'abcdefghijklmnopqrstuvwxyz0123456789'],
    ['a repeated random block', randomBytes(8).toString('hex').repeat(4)],
    ['short', randomBytes(16)],
  ];
  for (const [name, secret] of weak) {
    void it(`refuses ${name}`, () => {
      const s = assessSecret(secret);
      assert.ok(s.short || s.lowEntropy, JSON.stringify(s));
    });
  }
  void it('accepts every real random secret (1000 each of raw, hex and base64 of 32 bytes)', () => {
    for (let i = 0; i < 1000; i++) {
      const bytes = randomBytes(32);
      for (const secret of [bytes, bytes.toString('hex'), bytes.toString('base64')]) {
        const s = assessSecret(secret);
        assert.ok(!s.short && !s.lowEntropy, JSON.stringify(s));
      }
    }
  });
});
