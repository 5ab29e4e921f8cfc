/**
 * A real `bastion serve` child process writes nothing outside `stateDir`, the audit path and the
 * models folder — in particular nothing under HOME or TMPDIR, where onnxruntime-node's telemetry
 * would put `~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db` and
 * `$TMPDIR/mat-debug-<pid>.log`, and nothing in the working directory, where a model's own
 * `ort_config` could make ONNX Runtime write a profile. The child inherits a hostile environment
 * (`ORT_DISABLE_TELEMETRY=0`, `ORT_LOAD_CONFIG_FROM_MODEL=1`) that Bastion must override.
 *
 * Run from the sources, the child goes through tsx, whose compile cache would land in TMPDIR;
 * `TSX_DISABLE_CACHE=1` keeps that development-only cache in memory (a build runs from dist/).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import {
  buildExternalAddModel,
  buildIdentityModel,
  float32Bytes,
} from '../../scripts/onnx/onnx-builder.js';
import { createDevIssuer } from '../../src/auth/dev-issuer.js';
import { tempDir } from '../helpers/gateway.js';

const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'bin/bastion.js');

/** Every path under `dir`, relative, folders included. */
async function listAll(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map((e) => e.split('\\').join('/')).sort();
}

void describe('bastion serve: file system footprint', () => {
  void it('writes only under stateDir, the audit path and the models folder (pool and inline engines)', async (t) => {
    const base = await tempDir(t, 'bastion-footprint-');
    const dirs = {
      home: join(base, 'home'),
      tmp: join(base, 'tmp'),
      cwd: join(base, 'cwd'),
      state: join(base, 'state'),
      auditDir: join(base, 'audit'),
      models: join(base, 'models'),
    };
    for (const d of Object.values(dirs)) await mkdir(d);
    // A model that asks ONNX Runtime, through its own metadata, to write a profile into the cwd.
    const profiling = {
      metadata: { ort_config: JSON.stringify({ session_options: { enable_profiling: 1 } }) },
    };
    const identity = buildIdentityModel('float32', [2], profiling);
    for (const [name, poolSize] of [
      ['pool', 1],
      ['inline', 0],
    ] as const) {
      await mkdir(join(dirs.models, name, '1'), { recursive: true });
      await writeFile(join(dirs.models, name, '1', 'model.onnx'), identity);
      await writeFile(join(dirs.models, name, 'config.yaml'), `poolSize: ${poolSize}\n`);
    }
    await mkdir(join(dirs.models, 'external', '1'), { recursive: true });
    await writeFile(
      join(dirs.models, 'external', '1', 'model.onnx'),
      buildExternalAddModel({ location: 'weights.bin' }),
    );
    await writeFile(join(dirs.models, 'external', '1', 'weights.bin'), float32Bytes([1, 1, 1, 1]));
    await writeFile(join(dirs.models, 'external', 'config.yaml'), 'allowExternalData: true\n');
    const config = join(base, 'bastion.yaml');
    await writeFile(
      config,
      [
        `stateDir: ${JSON.stringify(dirs.state)}`,
        'server:\n  host: 127.0.0.1\n  port: 0',
        'auth:\n  devIssuer: true',
        `models:\n  repository: ${JSON.stringify(dirs.models)}\n  allowUnsigned: true`,
        'metrics:\n  port: 0',
        `audit:\n  path: ${JSON.stringify(join(dirs.auditDir, 'audit.log'))}`,
      ].join('\n'),
    );
    const before = await listAll(base);

    const child = spawn(process.execPath, [bin, 'serve', '--config', config], {
      cwd: dirs.cwd,
      env: {
        ...process.env,
        NODE_ENV: '',
        HOME: dirs.home,
        TMPDIR: dirs.tmp,
        TSX_DISABLE_CACHE: '1',
        ORT_DISABLE_TELEMETRY: '0',
        ORT_LOAD_CONFIG_FROM_MODEL: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    const exit = new Promise<number | null>((res) => child.once('exit', res));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let port: number | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg === 'bastion listening') {
        port = entry.port as number;
        break;
      }
    }
    assert.ok(port, `listening; stderr: ${stderr}`);
    child.stdout.resume();

    // A token straight from the dev issuer's files under stateDir (the CLI would do the same).
    const issuer = await createDevIssuer({ stateDir: join(dirs.state, 'dev-issuer') });
    const token = await issuer.mint({ sub: 'footprint', scopes: ['infer:*'], ttlSec: 60 });
    const infer = async (model: string, data: number[]) => {
      const res = await fetch(`http://127.0.0.1:${port}/v2/models/${model}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          inputs: [{ name: 'x', shape: [data.length], datatype: 'FP32', data }],
        }),
      });
      const body = (await res.json()) as { outputs?: { data: number[] }[] };
      return { model, status: res.status, data: body.outputs?.[0]?.data ?? body };
    };
    const results = [];
    for (let i = 0; i < 5; i += 1) {
      results.push(await infer('pool', [i, 2]), await infer('inline', [i, 2]));
      results.push(await infer('external', [i, 2, 3, 4]));
    }
    child.kill('SIGTERM');
    assert.equal(await exit, 0, stderr);

    assert.deepEqual(await listAll(dirs.home), [], 'HOME stays empty');
    assert.deepEqual(await listAll(dirs.tmp), [], 'TMPDIR stays empty');
    assert.deepEqual(await listAll(dirs.cwd), [], 'the working directory stays empty');
    const allowed = [dirs.state, dirs.auditDir, dirs.models].map((d) => relative(base, d));
    const added = (await listAll(base)).filter((p) => !before.includes(p));
    const outside = added.filter((p) => !allowed.some((a) => p === a || p.startsWith(`${a}/`)));
    assert.deepEqual(outside, []);
    assert.ok(
      added.some((p) => p.startsWith('audit/')),
      'the audit log was written',
    );
  });
});
