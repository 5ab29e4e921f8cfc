/**
 * No private key is ever committed: every file git tracks (plus new files git does not ignore,
 * so a key is caught before its commit) is scanned for PEM private-key markers. The only
 * exception is a test fixture under `test/` that says it is a test key, by its name or its text.
 * Snippets that merely look like a PEM header (a truncated placeholder used to test a parser)
 * are not keys: a block counts when it parses as a private key, or is long enough to be one.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const projectRoot = resolve(import.meta.dirname, '../..');
// Spelled in two parts so this file does not match its own scan.
const marker = 'PRIVATE KEY' + '-----';
const blockPattern = new RegExp(
  `-----BEGIN ([A-Z0-9 ]*)${marker}([\\s\\S]*?)-----END \\1${marker}`,
  'g',
);
/** Base64 characters in the smallest real private key PEM (Ed25519 PKCS#8: 48 bytes). */
const smallestKeyBase64 = 64;

/** True when `pem` (one block) holds, or may hold, a real private key. */
function isRealKey(pem: string, body: string): boolean {
  try {
    createPrivateKey(pem);
    return true;
  } catch (error) {
    // An encrypted key parses only with its passphrase: still a key.
    if (/passphrase|decrypt|bad decrypt/i.test(String(error))) return true;
  }
  // A format node cannot read (OpenSSH, PuTTY, …): judge by size.
  return body.replace(/[^A-Za-z0-9+/=]/g, '').length >= smallestKeyBase64;
}

/** Under `test/` and marked as a test key by its file name or by its text. */
function isMarkedTestKey(path: string, text: string): boolean {
  if (!path.startsWith('test/')) return false;
  const name = path.slice(path.lastIndexOf('/') + 1);
  return (
    /test[-_.]?key|fixture/i.test(name) ||
    /\b(test|dummy|fake)[ -](only )?(private )?key\b|not a secret|never used in production/i.test(
      text,
    )
  );
}

/**
 * Why `path` may not be committed, or undefined when it may.
 *
 * @param path repository-relative POSIX path
 * @param bytes the file's content
 */
function privateKeyFinding(path: string, bytes: Buffer): string | undefined {
  if (!bytes.includes(marker, 0, 'latin1')) return undefined;
  const text = bytes.toString('latin1');
  const blocks = [...text.matchAll(blockPattern)];
  const real = blocks.filter((m) => isRealKey(m[0], m[2] ?? ''));
  // A marker outside any complete block (a PEM cut short, a header alone) is judged as a key
  // unless every occurrence sits in a block that is clearly not one.
  const occurrences = text.split(marker).length - 1;
  const inBlocks = blocks.length * 2;
  if (real.length === 0 && occurrences <= inBlocks) return undefined;
  if (isMarkedTestKey(path, text)) return undefined;
  const kind = real[0]?.[1] ?? '';
  return real.length > 0
    ? `${path}: holds a ${kind}private key (${real.length} block(s))`
    : `${path}: holds a private-key PEM marker outside a complete block`;
}

function trackedFiles(): string[] | undefined {
  try {
    const out = execFileSync(
      'git',
      ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
      { cwd: projectRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: 'pipe' },
    );
    return [...new Set(out.split('\0').filter((p) => p !== ''))];
  } catch {
    return undefined;
  }
}

const files = trackedFiles();

void describe('no private keys in the repository', () => {
  void it(
    'no tracked file holds a private key (test fixtures marked as test keys excepted)',
    { skip: files === undefined ? 'not a git checkout (or git is not installed)' : false },
    async () => {
      assert.ok(files !== undefined && files.length > 0, 'git lists the files');
      const findings: string[] = [];
      for (const path of files) {
        let bytes: Buffer;
        try {
          bytes = await readFile(join(projectRoot, path));
        } catch {
          continue; // deleted in the working tree, or a submodule folder
        }
        const finding = privateKeyFinding(path, bytes);
        if (finding !== undefined) findings.push(finding);
      }
      assert.deepEqual(findings, [], `private keys must not be committed:\n${findings.join('\n')}`);
    },
  );

  const generated = (type: 'ec' | 'ed25519', passphrase?: string) => {
    const { privateKey } =
      type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        : generateKeyPairSync('ed25519');
    return Buffer.from(
      privateKey.export(
        passphrase === undefined
          ? { type: 'pkcs8', format: 'pem' }
          : { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase },
      ) as string,
    );
  };
  const sec1 = Buffer.from(
    generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
      type: 'sec1',
      format: 'pem',
    }) as string,
  );

  const table: { name: string; path: string; bytes: Buffer; flagged: boolean }[] = [
    {
      name: 'a P-256 key in config/',
      path: 'config/keys/x.pem',
      bytes: generated('ec'),
      flagged: true,
    },
    {
      name: 'an Ed25519 key in src/',
      path: 'src/k.ts',
      bytes: generated('ed25519'),
      flagged: true,
    },
    { name: 'a SEC1 EC key', path: 'models/iris/key.pem', bytes: sec1, flagged: true },
    {
      name: 'an encrypted key',
      path: 'config/enc.pem',
      bytes: generated('ec', 'correct horse'),
      flagged: true,
    },
    {
      name: 'an unparseable long key (OpenSSH style)',
      path: 'docs/id.txt',
      bytes: Buffer.from(
        `-----BEGIN OPENSSH ${marker}\n${'b3BlbnNzaC1rZXktdjEAAAAA'.repeat(8)}\n-----END OPENSSH ${marker}\n`,
      ),
      flagged: true,
    },
    {
      name: 'a header alone, outside test/',
      path: 'docs/x.md',
      bytes: Buffer.from(`paste your key after -----BEGIN ${marker}`),
      flagged: true,
    },
    {
      name: 'a key in test/ with no test-key marking',
      path: 'test/http/keys.ts',
      bytes: generated('ec'),
      flagged: true,
    },
    {
      name: 'a key outside test/ that calls itself a test key',
      path: 'config/test-key.pem',
      bytes: Buffer.concat([Buffer.from('# test key\n'), generated('ec')]),
      flagged: true,
    },
    {
      name: 'a test fixture named as a test key',
      path: 'test/fixtures/publisher.test-key.pem',
      bytes: generated('ec'),
      flagged: false,
    },
    {
      name: 'a test fixture whose text says so',
      path: 'test/fixtures/signer.pem',
      bytes: Buffer.concat([Buffer.from('Test key: not a secret.\n'), generated('ec')]),
      flagged: false,
    },
    {
      name: 'a truncated placeholder PEM in a parser test',
      path: 'test/models/parse.test.ts',
      bytes: Buffer.from(`['PEM', '-----BEGIN ${marker}\\nMC4CAQAw\\n-----END ${marker}']`),
      flagged: false,
    },
    {
      name: 'a public key',
      path: 'config/k.pub.pem',
      bytes: Buffer.from('-----BEGIN PUBLIC KEY-----'),
      flagged: false,
    },
  ];
  for (const c of table) {
    void it(`the scan ${c.flagged ? 'flags' : 'allows'} ${c.name}`, () => {
      const finding = privateKeyFinding(c.path, c.bytes);
      if (c.flagged) assert.ok(finding?.startsWith(`${c.path}: `), String(finding));
      else assert.equal(finding, undefined);
    });
  }
});
