/**
 * deploy/docker/prune-onnxruntime.mjs, which the Dockerfile runs to drop other platforms' ONNX
 * Runtime binaries, over a hard-linked copy of the installed onnxruntime-node (no bytes copied,
 * the installed package untouched): it keeps only this platform's binding, the pruned package
 * still runs a model, a second run changes nothing, and a platform it has no binding for fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../helpers/gateway.js';
import { repoRoot } from './manifests.js';

const script = join(repoRoot, 'deploy/docker/prune-onnxruntime.mjs');
const installed = join(repoRoot, 'node_modules');

function prune(pkg: string, ...extra: string[]) {
  return spawnSync(process.execPath, [script, pkg, ...extra], { encoding: 'utf8' });
}

/** Total bytes of the files under `dir`. */
function bytesUnder(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .reduce((sum, e) => sum + statSync(join(e.parentPath, e.name)).size, 0);
}

/** The `napi-*\/platform/arch` folders holding a binding under `pkg`/bin. */
function bindings(pkg: string): string[] {
  const bin = join(pkg, 'bin');
  return readdirSync(bin, { recursive: true, encoding: 'utf8' })
    .filter((p) => p.endsWith('onnxruntime_binding.node'))
    .map((p) => p.split(/[\\/]/).slice(0, 3).join('/'))
    .sort();
}

test('prune-onnxruntime keeps this platform only, and the pruned package still runs a model', async (t) => {
  const dir = await tempDir(t, 'bastion-prune-');
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  for (const name of ['onnxruntime-node', 'onnxruntime-common']) {
    const copy = spawnSync('cp', ['-al', join(installed, name), join(modules, name)]);
    assert.equal(copy.status, 0, String(copy.stderr));
  }
  const pkg = join(modules, 'onnxruntime-node');
  const here = `${process.platform}/${process.arch}`;
  const before = bindings(pkg);
  assert.ok(before.length > 1, `the installed package ships several platforms: ${before.join()}`);
  const sizeBefore = bytesUnder(join(pkg, 'bin'));

  const first = prune(pkg);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`kept ${here}; removed `));
  const after = bindings(pkg);
  assert.ok(after.length >= 1 && after.every((b) => b.endsWith(`/${here}`)), after.join());
  const sizeAfter = bytesUnder(join(pkg, 'bin'));
  t.diagnostic(
    `bin/: ${(sizeBefore / 2 ** 20).toFixed(0)} MiB -> ${(sizeAfter / 2 ** 20).toFixed(0)} MiB`,
  );
  assert.ok(sizeAfter < sizeBefore / 2, 'most of the bytes were other platforms');
  assert.ok(existsSync(join(installed, 'onnxruntime-node/bin')), 'the installed package untouched');
  assert.ok(bindings(join(installed, 'onnxruntime-node')).length === before.length);

  const second = prune(pkg);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /removed nothing/);

  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const ort = await import(${JSON.stringify(join(pkg, 'dist/index.js'))});
       const s = await ort.InferenceSession.create(${JSON.stringify(join(repoRoot, 'models/iris/1/model.onnx'))});
       console.log(JSON.stringify(s.inputNames));`,
    ],
    { encoding: 'utf8', cwd: dir },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout.trim()), ['features']);

  const elsewhere = prune(pkg, '--platform', 'plan9', '--arch', 'x64');
  assert.equal(elsewhere.status, 1);
  assert.match(elsewhere.stderr, /no binding for plan9\/x64/);
});
