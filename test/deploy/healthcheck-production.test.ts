/**
 * The image's HEALTHCHECK against a real gateway in the documented production setup: the
 * configuration is config/production.example.yaml itself (its paths moved into a temp folder, its
 * listeners onto loopback port 0, the example Redis dropped), so the API listener serves HTTPS
 * with client certificates required and the management listener binds loopback with a metrics
 * token. The HEALTHCHECK command of the Dockerfile, run as Docker runs it, must pass there
 * (the issue: the old one probed the API over plain HTTP, which such a setup can never answer)
 * and fail once the gateway is gone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parseConfigText } from '../../src/config/load-config.js';
import { createLogger } from '../../src/logger.js';
import { createGateway } from '../../src/server.js';
import { demoPublisherKey, memoryLog, tempDir } from '../helpers/gateway.js';
import { copyDemoModels } from '../helpers/observe.js';
import { createTestCa } from '../helpers/openssl-pki.js';
import { missingBinary } from '../helpers/system-tools.js';
import { runHealthcheck } from './dockerfile.js';
import { repoRoot } from './manifests.js';

const opensslMissing = missingBinary('openssl') ?? false;

/** Writes a file readable by its owner only, in a folder closed to others. */
async function secret(path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o750 });
  await writeFile(path, content, { mode: 0o600 });
}

/** config/production.example.yaml with its files created under `dir`. */
async function productionExample(dir: string): Promise<string> {
  const text = (await readFile(join(repoRoot, 'config/production.example.yaml'), 'utf8'))
    .replaceAll('/etc/bastion/', `${dir}/etc/bastion/`)
    .replaceAll('/var/lib/bastion', `${dir}/var/lib/bastion`)
    .replaceAll('/srv/bastion/models', `${dir}/srv/models`)
    .replace(/^ {2}host: 0\.0\.0\.0/m, '  host: 127.0.0.1')
    .replace(/^ {2}port: (8080|9464)/gm, '  port: 0')
    .replace(/^ {2}redisUrl: .*$/m, '');
  assert.match(text, /^ {4}requireClientCert: true/m, 'the example requires client certificates');
  const etc = join(dir, 'etc/bastion');
  await mkdir(join(etc, 'tls'), { recursive: true, mode: 0o750 });
  const ca = await createTestCa(join(etc, 'tls'), 'clients-ca');
  const server = await ca.issue('server', 'server');
  await secret(join(etc, 'tls/server.crt'), server.cert);
  await secret(join(etc, 'tls/server.key'), server.key);
  await secret(join(etc, 'tls/clients-ca.crt'), ca.cert);
  await secret(join(etc, 'model-key'), randomBytes(32).toString('hex'));
  await secret(join(etc, 'audit-hmac.key'), randomBytes(32).toString('hex'));
  await secret(join(etc, 'metrics-token'), randomBytes(32).toString('hex'));
  await mkdir(join(etc, 'keys'), { recursive: true, mode: 0o750 });
  for (const name of ['ml-platform.pub.pem', 'team-fraud.pub.pem']) {
    await copyFile(demoPublisherKey, join(etc, 'keys', name));
  }
  await mkdir(join(dir, 'var/lib/bastion/audit'), { recursive: true, mode: 0o750 });
  await copyDemoModels(join(dir, 'srv/models'), ['iris']);
  return text;
}

test(
  'the HEALTHCHECK passes against the production example (TLS API, loopback management listener)',
  { skip: opensslMissing, timeout: 60_000 },
  async (t) => {
    const dir = await tempDir(t, 'bastion-healthcheck-');
    const text = await productionExample(dir);
    const config = parseConfigText(text, join(dir, 'etc/bastion/bastion.yaml'), {
      NODE_ENV: 'production',
    });
    assert.equal(config.mode, 'production');
    assert.ok(config.server.tls?.requireClientCert);
    assert.equal(config.metrics.host, '127.0.0.1');
    assert.ok(config.metrics.bearerTokenFile !== undefined);

    // createGateway runs the production refusals (the doctor's high findings) first.
    const log = memoryLog();
    const gateway = await createGateway(config, { logger: createLogger('info', log.stream) });
    let closed = false;
    t.after(() => (closed ? undefined : gateway.close()));
    const { port, metricsPort } = await gateway.listen();
    assert.ok(metricsPort !== undefined, 'the management listener is up');

    assert.equal(await runHealthcheck(metricsPort), 0, 'healthy in the production setup');
    await assert.rejects(
      fetch(`http://127.0.0.1:${String(port)}/v2/health/live`),
      'plain HTTP to the API listener gets no answer: a probe there could never pass',
    );

    await gateway.close();
    closed = true;
    assert.equal(await runHealthcheck(metricsPort), 1, 'unhealthy once the gateway is gone');
  },
);
