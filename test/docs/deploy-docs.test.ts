/**
 * Keeps the security and deployment docs honest: every test that docs/threat-model.md names as
 * proof exists with that name, every STRIDE component has its table, every repository path that
 * docs/deploy.md and SECURITY.md mention exists, and the Secrets docs/deploy.md creates are the
 * ones (names and keys) the Kubernetes manifests mount.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { kubernetesDir, podSpecOf, readDocuments, repoRoot } from '../deploy/manifests.js';
import { renderPodConfig } from '../deploy/pod-config.js';
import { tempDir } from '../helpers/gateway.js';
import { copyDemoModels } from '../helpers/observe.js';
import { missingBinary } from '../helpers/system-tools.js';

const read = (file: string): string => readFileSync(join(repoRoot, file), 'utf8');
const threatModel = read('docs/threat-model.md');

/** `test/….test.ts` › "name" pairs, and bare test paths, in a Markdown text. */
function proofs(text: string): { file: string; name?: string }[] {
  return [...text.matchAll(/`(test\/[\w/.-]+\.test\.ts)`(?: › "([^"]+)")?/g)].map((m) => ({
    file: m[1] ?? '',
    ...(m[2] === undefined ? {} : { name: m[2] }),
  }));
}

test('every proof in the threat model is a real test with that name', () => {
  const all = proofs(threatModel);
  assert.ok(all.length >= 40, `${all.length} proofs`);
  for (const { file, name } of all) {
    assert.ok(existsSync(join(repoRoot, file)), `${file} does not exist`);
    if (name === undefined) continue;
    const source = read(file).replace(/\s*\n\s*/g, ' ');
    assert.ok(source.includes(name), `${file} has no test named "${name}"`);
  }
});

test('the threat model covers every component with STRIDE rows that name a proof', () => {
  const components = [
    'HTTP edge',
    'Authentication and authorization',
    'Model repository and loader',
    'Worker pool',
    'Audit log',
    'Metrics',
    'Repository API',
  ];
  const sections = threatModel.split(/^### /m).slice(1);
  for (const component of components) {
    const section = sections.find((s) => s.startsWith(component));
    assert.ok(section, `no section for ${component}`);
    const rows = section.split('\n').filter((l) => /^\| [STRIDE] +\|/.test(l));
    assert.ok(rows.length >= 3, `${component}: ${rows.length} rows`);
    for (const row of rows) {
      const named = proofs(row).filter((p) => p.name !== undefined);
      assert.equal(named.length, 1, `${component}: a row without a named test: ${row}`);
    }
  }
  for (const heading of [
    '## Assets',
    '## Trust boundaries',
    '## What Bastion does not protect against',
  ]) {
    assert.ok(threatModel.includes(`\n${heading}\n`), heading);
  }
});

test('every repository path the deploy docs and SECURITY.md mention exists', () => {
  for (const file of ['docs/deploy.md', 'SECURITY.md', 'docs/threat-model.md']) {
    const text = read(file);
    const paths = [
      ...text.matchAll(/(?<![\w/.-])((?:deploy|config|docs|test|src|bin)\/[\w./-]*[\w-])/g),
    ].map((m) => m[1] ?? '');
    assert.ok(paths.length > 0, `${file} names no path`);
    for (const path of new Set(paths)) {
      assert.ok(existsSync(join(repoRoot, path)), `${file}: ${path} does not exist`);
    }
  }
  assert.match(read('README.md'), /docs\/deploy\.md/, 'README links docs/deploy.md');
  assert.match(read('README.md'), /SECURITY\.md/, 'README links SECURITY.md');
});

test('docs/deploy.md creates exactly the Secrets, with the keys, that the pods read', () => {
  const deploy = read('docs/deploy.md');
  const created = new Map<string, Set<string>>();
  for (const m of deploy.matchAll(
    /kubectl -n \S+ create secret (?:generic|tls) (\S+)((?:\s+\\?\s*--[\w-]+(?:=\S+)?(?: \S+)?)+)/g,
  )) {
    const keys = new Set<string>();
    for (const key of (m[2] ?? '').matchAll(/--from-(?:file|literal)=([\w.-]+)=/g)) {
      keys.add(key[1] ?? '');
    }
    if (/ tls /.test(m[0])) for (const k of ['tls.crt', 'tls.key']) keys.add(k);
    created.set(m[1] ?? '', keys);
  }
  const statefulSet = readDocuments(join(kubernetesDir, 'base/statefulset.yaml'));
  const pod = podSpecOf(statefulSet[0]!)!;
  const gateway = pod.containers.find((c) => c.name === 'bastion')!;
  const { config } = renderPodConfig(
    [
      ...statefulSet,
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'bastion-config' },
        data: { 'bastion.yaml': read('deploy/kubernetes/base/bastion.yaml') },
      },
    ],
    'bastion-0',
  );
  const needed = new Map<string, Set<string>>();
  const files = [
    config.auth.jwksFile,
    ...config.models.trustedKeys.map((k) => (typeof k === 'string' ? k : k.file)),
    config.server.tls?.certFile,
    config.server.tls?.keyFile,
    config.audit.hmacKeyFile,
    config.metrics.bearerTokenFile,
  ];
  for (const file of files) {
    assert.ok(file !== undefined);
    const mount = (gateway.volumeMounts ?? []).find((m) => file.startsWith(`${m.mountPath}/`));
    const secret = pod.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName;
    assert.ok(mount !== undefined && secret !== undefined, `${file} comes from no Secret`);
    const keys = needed.get(secret) ?? new Set<string>();
    keys.add(file.slice(mount.mountPath.length + 1));
    needed.set(secret, keys);
  }
  assert.deepEqual(
    [...created].map(([name, keys]) => [name, [...keys].sort()]).sort(),
    [...needed].map(([name, keys]) => [name, [...keys].sort()]).sort(),
  );
});

/** The indented code block that follows `marker` in a Markdown text, one command a line. */
function commandsAfter(text: string, marker: string): string[] {
  const lines = text.slice(text.indexOf(marker)).split('\n').slice(1);
  const start = lines.findIndex((l) => /^ {7}\S/.test(l));
  const end = lines.findIndex((l, i) => i > start && l.trim() !== '' && !/^ {7}\S/.test(l));
  return lines
    .slice(start, end)
    .map((l) => l.replace(/\s+# .*$/, '').trim())
    .filter((l) => l !== '');
}

test(
  'the key commands of docs/deploy.md run as written: a signed model, an audit key, a token without a newline',
  { skip: missingBinary('openssl') ?? false, timeout: 60_000 },
  async (t) => {
    const deploy = read('docs/deploy.md');
    const commands = [
      ...commandsAfter(deploy, '2. **Model publisher public keys**'),
      ...commandsAfter(deploy, '3. **An audit HMAC key**'),
    ];
    assert.ok(commands.length >= 6, commands.join('\n'));
    const dir = await tempDir(t, 'bastion-deploy-docs-');
    await copyDemoModels(join(dir, 'models'), ['iris']);
    const bastion = `${JSON.stringify(process.execPath)} ${JSON.stringify(join(repoRoot, 'bin/bastion.js'))}`;
    const script = ['set -eu', ...commands.map((c) => c.replaceAll('npx bastion', bastion))];
    const run = spawnSync('sh', ['-c', script.join('\n')], {
      cwd: dir,
      env: { ...process.env, HOME: join(dir, 'home') },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, `${script.join('\n')}\n${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /verified models\/iris\/1/);
    assert.equal(statSync(join(dir, 'home/keys/ml-platform.priv.pem')).mode & 0o777, 0o600);
    const token = readFileSync(join(dir, 'metrics-token'), 'utf8');
    assert.match(token, /^[0-9a-f]{64}$/, 'a bearer token Prometheus can send as it is');
    assert.equal(statSync(join(dir, 'metrics-token')).mode & 0o077, 0, 'token readable by owner');
    const hmac = readFileSync(join(dir, 'audit-hmac.key'), 'utf8').trim();
    assert.ok(hmac.length >= 64 && statSync(join(dir, 'audit-hmac.key')).mode % 0o100 === 0);
  },
);
