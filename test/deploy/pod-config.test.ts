/**
 * The configuration a Bastion pod really runs with (deploy/kubernetes/base/bastion.yaml through
 * the render-config init container): Bastion accepts it in production mode, every file it names
 * is mounted from the right volume, each replica's audit file carries its pod name, and a real
 * gateway started from it (its paths moved into a temp folder, its listeners onto loopback)
 * serves TLS, verifies tokens against the JWKS, and guards metrics with the token.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createLogger } from '../../src/logger.js';
import { createGateway } from '../../src/server.js';
import { demoPublisherKey, memoryLog, tempDir } from '../helpers/gateway.js';
import { createTestCa } from '../helpers/openssl-pki.js';
import { missingBinary } from '../helpers/system-tools.js';
import { type K8sObject, kubernetesDir, podSpecOf, readDocuments, repoRoot } from './manifests.js';
import { parseProduction, renderPodConfig } from './pod-config.js';

/** The base's StatefulSet and its ConfigMap, assembled as kustomize would (without a suffix). */
function baseDocs(): K8sObject[] {
  const docs = readDocuments(join(kubernetesDir, 'base/statefulset.yaml'));
  const template = readDocuments(join(kubernetesDir, 'base/bastion.yaml'))[0];
  assert.ok(template);
  const configMap: K8sObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'bastion-config' },
    data: { 'bastion.yaml': readFileSync(join(kubernetesDir, 'base/bastion.yaml'), 'utf8') },
  };
  return [...docs, configMap];
}

test('each replica writes its own audit file, named after the pod', () => {
  const zero = renderPodConfig(baseDocs(), 'bastion-0');
  const one = renderPodConfig(baseDocs(), 'bastion-1');
  assert.equal(zero.config.audit.path, '/var/lib/bastion/audit/bastion-0.audit.log');
  assert.equal(one.config.audit.path, '/var/lib/bastion/audit/bastion-1.audit.log');
  assert.doesNotMatch(zero.text, /__POD_NAME__/);
  assert.equal(zero.config.mode, 'production');
  assert.equal(zero.config.audit.failClosed, true);
  assert.ok(zero.config.audit.hmacKeyFile !== undefined, 'the audit log is keyed');
  assert.ok(zero.config.metrics.bearerTokenFile !== undefined, 'metrics beyond loopback: token');
  assert.ok(zero.config.server.tls !== undefined, 'the API beyond loopback: TLS');
  assert.ok(zero.config.limits.redisUrl !== undefined, 'limits shared through Redis');
});

test('a configuration Bastion refuses is caught, not waved through', () => {
  assert.throws(
    () => parseProduction('server:\n  prot: 8080\n', '/run/bastion/bastion.yaml'),
    /server: unknown key "prot"/,
  );
  assert.throws(
    () =>
      parseProduction('server:\n  drainDelayMs: 5000\n  port: -1\n', '/run/bastion/bastion.yaml'),
    /server\.port/,
  );
});

test('every file the pod configuration names is mounted, secrets read-only', () => {
  const docs = baseDocs();
  const pod = podSpecOf(docs[0]!)!;
  const gateway = pod.containers.find((c) => c.name === 'bastion')!;
  const { config } = renderPodConfig(docs, 'bastion-0');
  const mounts = gateway.volumeMounts ?? [];
  const templates = (docs[0]!.spec as { volumeClaimTemplates: { metadata: { name: string } }[] })
    .volumeClaimTemplates;
  assert.deepEqual(
    templates.map((v) => v.metadata.name),
    ['state'],
    'one volume claim per replica',
  );
  const volumeOf = (path: string) => {
    const mount = mounts
      .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    assert.ok(mount, `${path} is on no volume of the gateway container`);
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    const claimTemplate = templates.some((v) => v.metadata.name === mount.name);
    assert.ok(volume !== undefined || claimTemplate, `volume ${mount.name}`);
    return { mount, volume, claimTemplate };
  };
  const secretFiles: [string, string][] = [
    [config.auth.jwksFile ?? '', 'bastion-keys'],
    ...config.models.trustedKeys.map((k): [string, string] => [
      typeof k === 'string' ? k : k.file,
      'bastion-keys',
    ]),
    [config.server.tls?.certFile ?? '', 'bastion-tls'],
    [config.server.tls?.keyFile ?? '', 'bastion-tls'],
    [config.audit.hmacKeyFile ?? '', 'bastion-audit-hmac'],
    [config.metrics.bearerTokenFile ?? '', 'bastion-metrics-token'],
  ];
  for (const [file, secret] of secretFiles) {
    const { mount, volume } = volumeOf(file);
    assert.equal(volume?.secret?.secretName, secret, file);
    assert.equal(mount.readOnly, true, `${file} read-only`);
  }
  const models = volumeOf(config.models.repository);
  assert.equal(models.volume?.persistentVolumeClaim?.claimName, 'bastion-models');
  assert.equal(models.mount.readOnly, true, 'models are read-only in the pod');
  for (const path of [config.stateDir, config.audit.path]) {
    const { mount, claimTemplate } = volumeOf(path);
    assert.ok(claimTemplate, `${path} on the replica's own volume`);
    assert.notEqual(mount.readOnly, true);
  }
  const writable = mounts.filter((m) => m.readOnly !== true).map((m) => m.name);
  assert.deepEqual(writable.sort(), ['state', 'tmp'], 'nothing else is writable');
});

const opensslMissing = missingBinary('openssl') ?? false;

/** GET over HTTPS trusting `ca`; resolves status and body. */
function httpsGet(
  url: string,
  ca: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { ca, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolvePromise({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('a gateway started from the pod configuration serves', { skip: opensslMissing }, async (t) => {
  const dir = await tempDir(t, 'bastion-pod-');
  const ca = await createTestCa(dir, 'ca');
  const server = await ca.issue('server', 'server');
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };

  // The pod's files, at the same paths under `dir`.
  const files: Record<string, string | Buffer> = {
    'etc/bastion/keys/jwks.json': JSON.stringify({ keys: [jwk] }),
    'etc/bastion/tls/tls.crt': server.cert,
    'etc/bastion/tls/tls.key': server.key,
    'etc/bastion/audit/hmac.key': randomBytes(32).toString('hex'),
    'etc/bastion/metrics/token': 'scrape-token-for-tests',
  };
  for (const [file, content] of Object.entries(files)) {
    await mkdir(join(dir, file, '..'), { recursive: true });
    await writeFile(join(dir, file), content, { mode: 0o600 });
  }
  await writeFile(join(dir, 'etc/bastion/keys/publisher.pub.pem'), readFileSync(demoPublisherKey));
  await cp(join(repoRoot, 'models'), join(dir, 'srv/bastion/models'), { recursive: true });
  await mkdir(join(dir, 'var/lib/bastion'), { recursive: true });

  const pod = renderPodConfig(baseDocs(), 'bastion-0');
  const moved = pod.text
    .replace(/(?<=[\s:])\/(etc\/bastion|srv\/bastion|var\/lib\/bastion)/g, `${dir}/$1`)
    .replace(/host: 0\.0\.0\.0/g, 'host: 127.0.0.1')
    .replace(/port: (8080|9464)/g, 'port: 0')
    .replace(/^ {2}redisUrl: .*$/m, '');
  assert.doesNotMatch(moved, /bastion-redis/, 'no lookup of a cluster name from the test');
  const config = parseProduction(moved, join(dir, 'run/bastion/bastion.yaml'));
  assert.equal(config.audit.path, join(dir, 'var/lib/bastion/audit/bastion-0.audit.log'));

  const log = memoryLog();
  const gateway = await createGateway(config, { logger: createLogger('info', log.stream) });
  t.after(() => gateway.close());
  const { port, metricsPort } = await gateway.listen();
  const base = `https://127.0.0.1:${port}`;

  const ready = await httpsGet(`${base}/v2/health/ready`, ca.cert);
  assert.equal(ready.status, 200, ready.body);
  assert.equal((await httpsGet(`${base}/v2`, ca.cert)).status, 401, 'no token');
  const token = await new SignJWT({ scope: 'infer:iris' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(config.auth.issuer ?? '')
    .setAudience(config.auth.audience ?? '')
    .setSubject('pod-config-test')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
  const meta = await httpsGet(`${base}/v2/models/iris`, ca.cert, {
    authorization: `Bearer ${token}`,
  });
  assert.equal(meta.status, 200, meta.body);

  const metricsUrl = `http://127.0.0.1:${metricsPort ?? 0}/metrics`;
  assert.equal((await fetch(metricsUrl)).status, 401, 'metrics need the token');
  const scrape = await fetch(metricsUrl, {
    headers: { authorization: 'Bearer scrape-token-for-tests' },
  });
  assert.equal(scrape.status, 200);
  assert.match(await scrape.text(), /bastion_requests_total/);
});
