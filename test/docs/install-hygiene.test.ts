import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** The text of every source file under `dir` (recursively). */
async function sourcesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile() && /\.(ts|js|mjs)$/.test(e.name));
  return Promise.all(files.map((e) => readFile(join(e.parentPath, e.name), 'utf8')));
}

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

  void it('every runtime dependency is imported by the gateway itself (none only transitive)', async () => {
    const pkg = JSON.parse(await readFile(resolve(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const sources = [
      ...(await sourcesUnder(resolve(root, 'src'))),
      ...(await sourcesUnder(resolve(root, 'bin'))),
    ];
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const unused = Object.keys(pkg.dependencies).filter((name) => {
      const use = new RegExp(`(from |import\\()'${escape(name)}(/[^']*)?'`);
      return !sources.some((text) => use.test(text));
    });
    assert.deepEqual(unused, []);
  });
});
