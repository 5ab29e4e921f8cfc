/**
 * Only absence is "unsigned" or "not found". A `model.sig` that cannot be looked up for another
 * reason (EACCES, ENOTDIR…) refuses the version, even with allowUnsigned; an unreadable model
 * folder is a server fault (INTERNAL), not MODEL_NOT_FOUND.
 *
 * Permission errors need a process that permissions stop: tests often run as root (CI), where
 * chmod 000 does not stop reads, so the checks run in a child process that drops to the
 * `nobody` user (uid/gid 65534) when this one is root.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildIdentityModel } from '../../scripts/onnx/onnx-builder.js';
import { ModelContentError } from '../../src/models/external-data.js';
import { hasSignatureFile } from '../../src/models/signed-version-reader.js';
import { tempDir } from '../helpers/gateway.js';

const src = (file: string) =>
  JSON.stringify(pathToFileURL(resolve(import.meta.dirname, '../../src', file)).href);

/** What the child reports for one check. */
interface Outcome {
  readonly reason?: string;
  readonly code?: string;
  readonly message: string;
}

const childScript = `
const { createSignedVersionReader } = await import(${src('models/signed-version-reader.ts')});
const { createModelRegistry } = await import(${src('models/model-registry.ts')});
const { builtInTuning } = await import(${src('config/tuning-defaults.ts')});
const [repo, versionDir] = process.argv.slice(-2);
const trust = { anchors: [], empty: true, forModel: () => ({ keys: [], roots: [], names: [], keyName: () => undefined, rootName: () => undefined }) };
const out = {};
for (const allowUnsigned of [false, true]) {
  const read = createSignedVersionReader({ trust, allowUnsigned, ignorePaths: [] });
  out[String(allowUnsigned)] = await read(versionDir, 'm').then(
    (v) => ({ message: 'loaded ' + [...v.files.keys()].join(',') }),
    (e) => ({ reason: e.reason, message: e.message }),
  );
}
const registry = createModelRegistry({ repository: repo, defaults: builtInTuning, readVersion: async () => { throw new Error('unused'); }, preparer: { prepare: async () => { throw new Error('unused'); } } });
out.folder = await registry.load('locked').then(() => ({ message: 'loaded' }), (e) => ({ code: e.code, message: e.message }));
console.log(JSON.stringify(out));
`;

void describe('unreadable files are never "unsigned" or "not found"', () => {
  void it('a model.sig lookup failing with ENOTDIR refuses (unreadable), it does not mean unsigned', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'not-a-folder'), 'x');
    await assert.rejects(hasSignatureFile(join(dir, 'not-a-folder')), (error: unknown) => {
      assert.ok(error instanceof ModelContentError);
      assert.equal(error.reason, 'unreadable');
      assert.match(error.message, /ENOTDIR/);
      return true;
    });
    assert.equal(await hasSignatureFile(dir), false);
  });

  void it('EACCES on model.sig refuses the version with and without allowUnsigned; EACCES on a model folder is INTERNAL', async (t) => {
    const base = await tempDir(t);
    await chmod(base, 0o755);
    const version = join(base, 'm', '1');
    await mkdir(version, { recursive: true });
    await writeFile(join(version, 'model.onnx'), buildIdentityModel('float32', [2]));
    await mkdir(join(base, 'locked', '1'), { recursive: true });
    // The version folder can be listed but nothing in it looked up; the model folder not even listed.
    await chmod(version, 0o644);
    await chmod(join(base, 'locked'), 0o000);
    const root = process.getuid?.() === 0;
    const restore = () => chmod(version, 0o755).then(() => chmod(join(base, 'locked'), 0o755));
    const runChild = () =>
      promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', childScript, '--', base, version],
        {
          cwd: resolve(import.meta.dirname, '../..'),
          ...(root ? { uid: 65534, gid: 65534 } : {}),
          env: { ...process.env, HOME: base },
        },
      );
    const { stdout } = await runChild().finally(restore);
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<
      'false' | 'true' | 'folder',
      Outcome
    >;
    for (const allowUnsigned of ['false', 'true'] as const) {
      assert.equal(
        out[allowUnsigned].reason,
        'unreadable',
        `allowUnsigned ${allowUnsigned}: ${JSON.stringify(out[allowUnsigned])}`,
      );
      assert.match(out[allowUnsigned].message, /model\.sig cannot be looked up \(EACCES\)/);
    }
    assert.equal(out.folder.code, 'INTERNAL', JSON.stringify(out.folder));
    assert.match(out.folder.message, /cannot be read \(EACCES\)/);
  });
});
