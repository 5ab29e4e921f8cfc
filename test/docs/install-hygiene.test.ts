import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

void describe('install hygiene: npm prints no warning for this project', () => {
  void it('`npx bastion --version` says nothing on stderr (every .npmrc key is one npm knows)', async () => {
    const { stdout, stderr } = await run('npx', ['--no-install', 'bastion', '--version'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      timeout: 60_000,
    });
    assert.match(stdout, /^bastion \d+\.\d+\.\d+/);
    assert.equal(stderr, '');
  });

  void it("no dependency install script runs (onnxruntime-node's would download CUDA libraries)", async () => {
    const npmrc = await readFile(resolve(root, '.npmrc'), 'utf8');
    assert.match(npmrc, /^ignore-scripts=true$/m);
    const { stdout } = await run('npm', ['config', 'get', 'ignore-scripts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      timeout: 60_000,
    });
    assert.equal(stdout.trim(), 'true');
    const pkg = JSON.parse(await readFile(resolve(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const unused of ['piscina', 'fastify-plugin'])
      assert.equal(pkg.dependencies[unused], undefined);
  });
});
