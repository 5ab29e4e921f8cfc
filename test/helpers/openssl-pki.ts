/**
 * A throw-away PKI made at run time with the `openssl` CLI (no key is ever committed): a CA, a
 * server certificate for 127.0.0.1, and client certificates, all ECDSA P-256, valid one day.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM files of one certificate. */
export interface IssuedCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A CA that can issue certificates. */
export interface TestCa extends IssuedCert {
  /** Issues a server (`serverAuth`, SAN IP:127.0.0.1) or client (`clientAuth`) certificate. */
  issue(name: string, kind: 'server' | 'client', cn?: string): Promise<IssuedCert>;
}

const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function read(certFile: string, keyFile: string): Promise<IssuedCert> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { certFile, keyFile, cert, key };
}

/** Creates a self-signed CA in `dir` named `name`. */
export async function createTestCa(dir: string, name: string): Promise<TestCa> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    ...newKey,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const ca = await read(certFile, keyFile);
  return {
    ...ca,
    async issue(certName, kind, cn = certName) {
      const leafKey = join(dir, `${certName}.key`);
      const csr = join(dir, `${certName}.csr`);
      const leafCert = join(dir, `${certName}.pem`);
      const ext = join(dir, `${certName}.ext`);
      await writeFile(
        ext,
        [
          'basicConstraints=critical,CA:FALSE',
          'keyUsage=critical,digitalSignature',
          kind === 'server'
            ? 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1'
            : 'extendedKeyUsage=clientAuth',
          '',
        ].join('\n'),
      );
      await run('openssl', [
        'req',
        ...newKey,
        '-keyout',
        leafKey,
        '-out',
        csr,
        '-subj',
        `/CN=${cn}`,
      ]);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        certFile,
        '-CAkey',
        keyFile,
        '-set_serial',
        `0x${randomBytes(8).toString('hex')}`,
        '-days',
        '1',
        '-extfile',
        ext,
        '-out',
        leafCert,
      ]);
      return read(leafCert, leafKey);
    },
  };
}
