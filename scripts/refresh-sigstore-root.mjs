#!/usr/bin/env node
// Refreshes config/sigstore/trusted_root.json, the Sigstore public-good trusted root Bastion uses
// for keyless model signatures when models.sigstoreTrustedRoot is not set. Bastion never fetches
// it at run time; this script takes the copy that the @sigstore/tuf npm package embeds (its
// seeds.json, written by the Sigstore maintainers from the TUF repository) through the ordinary
// npm client, and prints what changed. Review the diff and commit it.
//
//   node scripts/refresh-sigstore-root.mjs [VERSION]     (default: latest)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const version = process.argv[2] ?? 'latest';
const target = new URL('../config/sigstore/trusted_root.json', import.meta.url);
const work = mkdtempSync(join(tmpdir(), 'bastion-sigstore-root-'));
try {
  const tarball = execFileSync(
    'npm',
    ['pack', `@sigstore/tuf@${version}`, '--pack-destination', work, '--silent'],
    { encoding: 'utf8' },
  ).trim();
  execFileSync('tar', ['xzf', join(work, tarball), '-C', work, 'package/seeds.json']);
  const seeds = JSON.parse(readFileSync(join(work, 'package/seeds.json'), 'utf8'));
  const repo = seeds['https://tuf-repo-cdn.sigstore.dev'];
  const encoded = repo?.targets?.['trusted_root.json'];
  if (typeof encoded !== 'string') throw new Error(`${tarball} embeds no trusted_root.json`);
  const bytes = Buffer.from(encoded, 'base64');
  const root = JSON.parse(bytes.toString('utf8'));
  if (!Array.isArray(root.tlogs) || !Array.isArray(root.certificateAuthorities)) {
    throw new Error('the embedded trusted_root.json has no tlogs or certificateAuthorities');
  }
  const before = createHash('sha256').update(readFileSync(target)).digest('hex');
  writeFileSync(target, bytes);
  const after = createHash('sha256').update(bytes).digest('hex');
  console.log(`${tarball}: trusted_root.json sha256 ${after}`);
  console.log(
    before === after ? 'unchanged' : `changed (was ${before}); update config/sigstore/README.md`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
