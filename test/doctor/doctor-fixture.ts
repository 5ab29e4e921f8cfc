/**
 * A production configuration over real files that `bastion doctor` finds nothing in, and ways to
 * spoil it one finding at a time.
 */
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.js';
import type { Config } from '../../src/config/config-schema.js';
import { demoPublisherKey, tempDir } from '../helpers/gateway.js';
import { copyDemoModels } from '../helpers/observe.js';

/** The folder of a clean fixture and its config's sections, to be overridden per case. */
export interface DoctorFixture {
  readonly dir: string;
  readonly repo: string;
  /** Writes `name` (mode 0600) with `content` in the fixture folder; returns its path. */
  secret(name: string, content: string | Uint8Array): Promise<string>;
  /** Parses the clean YAML with `sections` (top-level YAML blocks) replacing its own. */
  config(
    sections?: Partial<
      Record<'server' | 'auth' | 'models' | 'audit' | 'metrics' | 'limits' | 'mode', string>
    >,
  ): Readonly<Config>;
  /** The YAML text `config` parses, for CLI runs. */
  yaml(sections?: Parameters<DoctorFixture['config']>[0]): string;
}

/** A clean production fixture: loopback listeners, JWKS, trusted key, keyed audit, iris. */
export async function createDoctorFixture(t: TestContext): Promise<DoctorFixture> {
  const dir = await tempDir(t, 'bastion-doctor-');
  const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
  const key = join(dir, 'publisher.pub.pem');
  await copyFile(demoPublisherKey, key);
  await chmod(key, 0o644);
  const jwks = join(dir, 'jwks.json');
  await writeFile(jwks, JSON.stringify({ keys: [] }), { mode: 0o644 });
  const secret = async (name: string, content: string | Uint8Array): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, content, { mode: 0o600 });
    await chmod(path, 0o600);
    return path;
  };
  const hmac = await secret('audit-hmac.key', randomBytes(32).toString('base64'));
  await mkdir(join(dir, 'audit'), { mode: 0o700 });
  const clean = {
    mode: 'mode: production',
    server: 'server:\n  host: 127.0.0.1\n  port: 0',
    auth: `auth:\n  issuer: https://issuer.test/\n  audience: bastion\n  jwksFile: ${JSON.stringify(jwks)}`,
    models: `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(key)}]`,
    audit: `audit:\n  path: ${JSON.stringify(join(dir, 'audit/audit.log'))}\n  hmacKeyFile: ${JSON.stringify(hmac)}\n  failClosed: true`,
    metrics: 'metrics:\n  host: 127.0.0.1\n  port: 0',
    limits: 'limits:\n  requestsPerMinute: 600',
  };
  const yaml: DoctorFixture['yaml'] = (sections = {}) =>
    `stateDir: ${JSON.stringify(join(dir, 'var'))}\n${Object.values({ ...clean, ...sections }).join('\n')}\n`;
  return {
    dir,
    repo,
    secret,
    yaml,
    config: (sections) => parseConfigText(yaml(sections), join(dir, 'bastion.yaml')),
  };
}
