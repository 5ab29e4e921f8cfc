import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { commandHelp, wantsHelp } from '../../src/cli/help.js';
import { bastionVersion } from '../../src/version.js';

const bin = resolve(import.meta.dirname, '../../bin/bastion.js');
const run = promisify(execFile);

/** Runs `bastion ARGS` as a user would; never rejects. */
async function bastion(
  args: readonly string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '' },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Each command and options its help must name (CONTRACT "CLI"). */
const commands: Record<string, readonly string[]> = {
  serve: ['--config'],
  token: ['--sub', '--scope', '--ttl', '--state-dir', '--config', '--init'],
  keygen: ['--out'],
  sign: ['--key', '--signature', '--ignore-paths'],
  verify: [
    '--key',
    '--certificate-chain',
    '--signature',
    '--ignore-paths',
    '--identity',
    '--identity-provider',
    '--trusted-root',
  ],
  encrypt: ['--key-file', '--key-env', '--out', '--force', '--generate-key'],
  decrypt: ['--key-file', '--key-env', '--out', '--force'],
  audit: ['verify', 'tail', '--hmac-key-file', '--checkpoint', '--anchor', '-n'],
  policy: ['fit', 'check', '--data', '--input', '--columns', '--action', '--bounds'],
  doctor: ['--config', '--fail-on', '--json'],
};

void describe('bastion CLI: --help and --version', () => {
  void it('every command has a help text naming its options', () => {
    for (const [name, options] of Object.entries(commands)) {
      const text = commandHelp(name);
      assert.ok(text !== undefined, name);
      assert.match(text, new RegExp(`^usage: bastion ${name} `), name);
      for (const option of options)
        assert.ok(text.includes(option), `${name} --help names ${option}`);
      assert.match(text, /-h, --help/);
    }
    assert.equal(wantsHelp(['x', '-h']), true);
    assert.equal(wantsHelp(['--', '--help']), false);
    assert.equal(wantsHelp(['--sub', 'a']), false);
  });

  void it('the real binary: --help exits 0 on stdout and does nothing else; --version', async (t) => {
    const cwd = await mkdtemp(join(tmpdir(), 'bastion-help-'));
    t.after(() => rm(cwd, { recursive: true, force: true }));
    // Each run starts Node and tsx: four runs, side by side.
    const [version, help, token, serve] = await Promise.all([
      bastion(['--version'], cwd),
      bastion(['--help'], cwd),
      bastion(['token', '--sub', 'x', '--help'], cwd),
      bastion(['serve', '-h'], cwd),
    ]);
    assert.deepEqual([version.code, version.stdout], [0, `bastion ${bastionVersion}\n`]);
    assert.equal(help.code, 0);
    for (const name of Object.keys(commands))
      assert.match(help.stdout, new RegExp(`\\n  ${name} `));
    assert.match(help.stdout, /--version/);
    for (const [res, name] of [
      [token, 'token'],
      [serve, 'serve'],
    ] as const) {
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stderr, '');
      assert.equal(res.stdout, `${commandHelp(name) ?? ''}\n`);
    }
    // `serve --help` started no gateway and `token --help` created no issuer.
    assert.deepEqual(await readdir(cwd), []);
  });
});
