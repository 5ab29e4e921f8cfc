/**
 * SIGHUP over a real `bastion serve` process (issue 15 item 2): it reloads a rotated JWKS file,
 * a rotated model publisher key and a new model version signed with it, logs what it did, and the process keeps serving (before this change
 * SIGHUP killed it with no shutdown record).
 */
import assert from 'node:assert/strict';
import { copyFile, cp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { tempDir } from '../helpers/gateway.js';
import { copyDemoModels, readAudit, root, runCli } from '../helpers/observe.js';
import { probe, startServe } from '../helpers/serve-process.js';

const issuer = 'https://issuer.sighup.test';
const audience = 'bastion';

async function signer(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const mint = () =>
    new SignJWT({ scope: 'infer:iris' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('sighup-test')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  return { jwk, mint };
}

void it(
  'SIGHUP reloads a rotated JWKS file and a new model version; the process survives and still serves',
  { timeout: 90_000 },
  async (t) => {
    const dir = await tempDir(t);
    const repo = await copyDemoModels(join(dir, 'models'), ['iris']);
    const jwksFile = join(dir, 'jwks.json');
    const oldKey = await signer('old');
    const newKey = await signer('new');
    await writeFile(jwksFile, JSON.stringify({ keys: [oldKey.jwk] }));
    // The trusted key file the operator will rotate: the demo publisher's key at first.
    const trustedKey = join(dir, 'trusted.pub.pem');
    await copyFile(join(root, 'config/keys/demo-publisher.pub.pem'), trustedKey);
    const config = join(dir, 'bastion.yaml');
    await writeFile(
      config,
      [
        'stateDir: ./var',
        'server:\n  port: 0',
        `auth:\n  issuer: ${issuer}\n  audience: ${audience}\n  algorithms: [ES256]\n  jwksFile: ${JSON.stringify(jwksFile)}`,
        `models:\n  repository: ${JSON.stringify(repo)}\n  trustedKeys: [${JSON.stringify(trustedKey)}]`,
        'metrics:\n  port: 0',
        'audit:\n  path: ./var/audit.log',
      ].join('\n'),
    );
    const serve = startServe(t, config);
    const up = await serve.waitFor((l) => l.msg === 'bastion listening');
    const api = `http://127.0.0.1:${String(up.port)}`;
    const bearer = async (key: { mint: () => Promise<string> }) => ({
      authorization: `Bearer ${await key.mint()}`,
    });
    const oldToken = await bearer(oldKey);
    assert.deepEqual(await probe(`${api}/v2/models/iris/ready`, oldToken), {
      status: 200,
      body: { name: 'iris', ready: true },
    });
    assert.deepEqual(await probe(`${api}/v2/models/iris/versions/2/ready`, oldToken), {
      status: 404,
      body: { error: 'model "iris" has no version 2', code: 'VERSION_NOT_FOUND' },
    });

    // The operator rotates the JWKS (old key out) and the model publisher key (version 2 is
    // signed with a new key that replaces the trusted one), then sends SIGHUP. Version 2 can
    // only load if the trusted keys were re-read.
    await writeFile(jwksFile, JSON.stringify({ keys: [newKey.jwk] }));
    await cp(join(repo, 'iris/1'), join(repo, 'iris/2'), { recursive: true });
    await rm(join(repo, 'iris/2/model.sig'));
    const publisher = join(dir, 'publisher');
    for (const args of [
      ['keygen', '--out', publisher],
      ['sign', join(repo, 'iris/2'), '--key', `${publisher}.priv.pem`],
    ]) {
      const run = await runCli(args);
      assert.equal(run.code, 0, run.stderr);
    }
    await copyFile(`${publisher}.pub.pem`, trustedKey);
    serve.child.kill('SIGHUP');
    const report = await serve.waitFor((l) => l.msg === 'reload done');
    assert.equal(report.jwks, 'reloaded: 1 keys');
    assert.match(String(report.trustedKeys), /^reloaded: 1 anchors$/);
    assert.deepEqual(report.models, ['iris/2: ready']);

    assert.equal(serve.child.exitCode, null, 'still running');
    assert.equal(serve.child.signalCode, null, 'not killed by SIGHUP');
    assert.deepEqual(await probe(`${api}/v2/models/iris/versions/2/ready`, await bearer(newKey)), {
      status: 200,
      body: { name: 'iris', ready: true },
    });
    const refused = await probe(`${api}/v2/models/iris/ready`, oldToken);
    assert.ok('status' in refused && refused.status === 401, 'the removed key no longer verifies');
    assert.deepEqual(await probe(`${api}/v2/health/ready`), { status: 200, body: { ready: true } });

    // A second SIGHUP with nothing new does nothing, and a broken JWKS keeps the last good keys.
    await writeFile(jwksFile, '{ not json');
    serve.child.kill('SIGHUP');
    await serve.waitFor((l) => l.msg === 'reload done' && l !== report);
    const second = serve.lines.filter((l) => l.msg === 'reload done').at(-1);
    assert.match(String(second?.jwks), /^kept the previous keys/);
    assert.deepEqual(second?.models, []);
    const still = await probe(`${api}/v2/models/iris/ready`, await bearer(newKey));
    assert.deepEqual(still, { status: 200, body: { name: 'iris', ready: true } });

    serve.child.kill('SIGTERM');
    assert.equal(await serve.exited, 0);
    const records = await readAudit(join(dir, 'var/audit.log'));
    assert.ok(records.some((r) => r.event === 'model.load' && String(r.version) === '2'));
    assert.equal(records.at(-1)?.event, 'server.stop');
  },
);
