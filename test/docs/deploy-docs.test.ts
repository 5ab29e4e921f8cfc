/**
 * Keeps the security and deployment docs honest: every test that docs/threat-model.md names as
 * proof exists with that name, every STRIDE component has its table, every repository path that
 * docs/deploy.md and SECURITY.md mention exists, and the Secrets docs/deploy.md creates are the
 * ones (names and keys) the Kubernetes manifests mount.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { kubernetesDir, podSpecOf, readDocuments, repoRoot } from '../deploy/manifests.js';
import { renderPodConfig } from '../deploy/pod-config.js';

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
