import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  sendRequest,
  startEdgeGateway,
  type ClientTls,
  type EdgeGateway,
  type RawResponse,
} from '../helpers/edge-gateway.js';
import { missingBinary } from '../helpers/system-tools.js';
import { createCleanup, tempDir } from '../helpers/gateway.js';
import { createTestCa, type IssuedCert, type TestCa } from '../helpers/openssl-pki.js';

const noOpenssl = missingBinary('openssl');

/** The PKI every TLS test uses, made once with the openssl CLI. */
interface Pki {
  readonly ca: TestCa;
  readonly server: IssuedCert;
  readonly alice: IssuedCert;
  readonly bob: IssuedCert;
  /** Signed by another CA, CN=alice. */
  readonly impostor: IssuedCert;
}

async function createPki(dir: string): Promise<Pki> {
  const ca = await createTestCa(dir, 'bastion-test-ca');
  const other = await createTestCa(dir, 'other-ca');
  const [server, alice, bob, impostor] = await Promise.all([
    ca.issue('server', 'server', '127.0.0.1'),
    ca.issue('alice', 'client'),
    ca.issue('bob', 'client'),
    other.issue('impostor', 'client', 'alice'),
  ]);
  return { ca, server, alice, bob, impostor };
}

function clientTls(pki: Pki, client?: IssuedCert): ClientTls {
  return client === undefined
    ? { ca: pki.ca.cert }
    : { ca: pki.ca.cert, cert: client.cert, key: client.key };
}

async function getV2(gw: EdgeGateway, tls: ClientTls, token?: string): Promise<RawResponse> {
  return sendRequest(`${gw.origin}/v2`, {
    headers: { authorization: `Bearer ${token ?? (await gw.token(['infer:*']))}` },
    tls,
  });
}

/** Asserts that the connection was refused (handshake alert or reset), not answered. */
async function assertRefused(attempt: Promise<RawResponse>, what: string): Promise<void> {
  await assert.rejects(
    attempt,
    (error: NodeJS.ErrnoException) => {
      assert.match(
        error.code ?? error.message,
        /^(ERR_SSL_|ECONNRESET|EPIPE|HPE_|UNABLE_TO_VERIFY|DEPTH_ZERO|SELF_SIGNED)|socket hang up/,
        `${what}: ${error.message}`,
      );
      return true;
    },
    what,
  );
}

void describe(
  'TLS and mutual TLS with certificates made by openssl',
  { skip: noOpenssl ?? false },
  () => {
    const cleanup = createCleanup();
    let pki: Pki;
    after(() => cleanup.run());
    before(async () => {
      pki = await createPki(await tempDir(cleanup, 'bastion-pki-'));
    });

    void it('server.tls: answers over https, refuses plain http', async () => {
      const gw = await startEdgeGateway(cleanup, {
        repo: await tempDir(cleanup),
        config: { server: { tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile } } },
      });
      assert.match(gw.origin, /^https:/);
      const health = await sendRequest(`${gw.origin}/v2/health/live`, { tls: clientTls(pki) });
      assert.equal(health.status, 200);
      const v2 = await getV2(gw, clientTls(pki));
      assert.equal(v2.status, 200);
      assert.equal((v2.body as { name: string }).name, 'bastion');
      // Over TLS the gateway pins clients to https, and keeps the rest of the edge headers.
      assert.match(String(v2.headers['strict-transport-security']), /max-age=\d+/);
      assert.equal(v2.headers['x-content-type-options'], 'nosniff');
      assert.equal(v2.headers['x-powered-by'], undefined);

      await assertRefused(
        sendRequest(`http://127.0.0.1:${gw.port}/v2/health/live`),
        'plain http to the TLS port',
      );
      // The client checks the server too: without the test CA the certificate is not trusted.
      await assertRefused(sendRequest(`${gw.origin}/v2/health/live`), 'a client without the CA');
    });

    void it('requireClientCert: no certificate or a foreign CA is refused at the handshake', async () => {
      const gw = await startEdgeGateway(cleanup, {
        repo: await tempDir(cleanup),
        config: {
          server: {
            tls: {
              certFile: pki.server.certFile,
              keyFile: pki.server.keyFile,
              clientCaFile: pki.ca.certFile,
              requireClientCert: true,
            },
          },
        },
      });
      await assertRefused(getV2(gw, clientTls(pki)), 'no client certificate');
      await assertRefused(
        sendRequest(`${gw.origin}/v2/health/live`, { tls: clientTls(pki) }),
        'no client certificate, health route',
      );
      await assertRefused(getV2(gw, clientTls(pki, pki.impostor)), 'a certificate from another CA');

      const ok = await getV2(gw, clientTls(pki, pki.alice));
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      // A client certificate does not replace the token.
      const noToken = await sendRequest(`${gw.origin}/v2`, { tls: clientTls(pki, pki.alice) });
      assert.equal(noToken.status, 401);
      assert.equal((noToken.body as { code: string }).code, 'UNAUTHENTICATED');
    });

    void it('allowedClientSubjects: CN=alice is served, CN=bob gets 403', async () => {
      const gw = await startEdgeGateway(cleanup, {
        repo: await tempDir(cleanup),
        config: {
          server: {
            tls: {
              certFile: pki.server.certFile,
              keyFile: pki.server.keyFile,
              clientCaFile: pki.ca.certFile,
              requireClientCert: true,
              allowedClientSubjects: ['alice'],
            },
          },
        },
      });
      const alice = await getV2(gw, clientTls(pki, pki.alice));
      assert.equal(alice.status, 200, JSON.stringify(alice.body));

      const bob = await getV2(gw, clientTls(pki, pki.bob));
      assert.equal(bob.status, 403, JSON.stringify(bob.body));
      assert.deepEqual(Object.keys(bob.body as object).sort(), ['code', 'error']);
      assert.equal((bob.body as { code: string }).code, 'FORBIDDEN');
      const infer = await sendRequest(`${gw.origin}/v2/models/iris/infer`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${await gw.token(['infer:*'])}`,
          'content-type': 'application/json',
        },
        body: '{}',
        tls: clientTls(pki, pki.bob),
      });
      assert.equal(infer.status, 403);
      // Health stays public to any client the handshake let in.
      const health = await sendRequest(`${gw.origin}/v2/health/live`, {
        tls: clientTls(pki, pki.bob),
      });
      assert.equal(health.status, 200);
    });
  },
);
