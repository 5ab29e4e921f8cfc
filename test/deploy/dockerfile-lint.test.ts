/**
 * A static lint of the Dockerfile and its build context (no Docker engine runs here): the base is
 * pinned by digest, the image runs as a fixed non-root user, nothing is ADDed from a URL, no key
 * or secret can enter the build context, the HEALTHCHECK probes the management listener on
 * loopback and really tells 200 from anything else, and ports and paths agree with
 * config/production.example.yaml and the README.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import type { Ignore } from '@balena/dockerignore';
import type { Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { freeLoopbackPort } from '../helpers/system-tools.js';
import { dockerfile, dockerfileText, jsonForm, production, runHealthcheck } from './dockerfile.js';
import { repoRoot } from './manifests.js';

const instructions = dockerfile.getInstructions();

function args(instruction: Instruction): string[] {
  return instruction.getArguments().map((a) => a.getValue());
}

/** The instructions of the last (runtime) stage. */
function runtimeStage(): Instruction[] {
  const froms = dockerfile.getFROMs();
  const last = froms.at(-1);
  assert.ok(last);
  return instructions.filter((i) => i.getRange().start.line >= last.getRange().start.line);
}

test('dockerfile-utils finds no problem in the Dockerfile', () => {
  assert.deepEqual(
    validate(dockerfileText).map(
      (d) =>
        `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`,
    ),
    [],
  );
});

test('every FROM names an image by tag and sha256 digest, the same in every stage', () => {
  const froms = dockerfile.getFROMs();
  assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
  const external = froms.filter(
    (f) => !froms.some((stage) => stage.getBuildStage() === f.getImageName()),
  );
  for (const from of external) {
    const where = `line ${from.getRange().start.line + 1}`;
    assert.match(from.getImageDigest() ?? '', /^sha256:[0-9a-f]{64}$/, `${where}: digest`);
    assert.match(from.getImageTag() ?? '', /^20\.\d+\.\d+-bookworm-slim$/, `${where}: tag`);
    assert.doesNotMatch(from.getImage() ?? '', /\$/, `${where}: no build-arg in FROM`);
  }
  assert.equal(new Set(external.map((f) => f.getImage())).size, 1, 'one base image');
  assert.ok(dockerfile.getARGs().length === 0, 'no ARG can swap the base at build time');
});

test('the runtime stage runs as a fixed numeric non-root user', () => {
  const users = runtimeStage().filter((i) => i.getKeyword() === 'USER');
  assert.equal(users.length, 1);
  const [user, group] = (args(users[0]!)[0] ?? '').split(':');
  assert.match(user ?? '', /^\d+$/, 'numeric uid (runAsNonRoot can check it)');
  assert.notEqual(Number(user), 0);
  assert.ok(group === undefined || (/^\d+$/.test(group) && Number(group) !== 0));
  const lastUser = users[0]!.getRange().start.line;
  const runAfter = runtimeStage().filter(
    (i) => i.getKeyword() === 'RUN' && i.getRange().start.line > lastUser,
  );
  assert.deepEqual(runAfter, [], 'nothing runs as root after USER');
});

test('no ADD, no URL fetched at build time, no secret in ENV or ARG', () => {
  assert.deepEqual(
    instructions.filter((i) => i.getKeyword() === 'ADD').map((i) => i.toString()),
    [],
    'COPY only: ADD fetches URLs and unpacks archives',
  );
  for (const run of instructions.filter((i) => i.getKeyword() === 'RUN')) {
    assert.doesNotMatch(run.getArgumentsContent() ?? '', /\b(curl|wget)\b|https?:\/\//, 'RUN');
  }
  for (const env of [...dockerfile.getENVs(), ...dockerfile.getARGs()]) {
    assert.doesNotMatch(env.toString(), /secret|password|token|private|_KEY\b/i, env.toString());
  }
});

test('COPY sources are the package files, sources, bin, config and the prune script only', () => {
  const sources = dockerfile
    .getCOPYs()
    .filter((c) => c.getFromFlag() === null)
    .flatMap((c) => args(c).slice(0, -1));
  assert.deepEqual([...new Set(sources)].sort(), [
    '.npmrc',
    'bin',
    'config',
    'deploy/docker/prune-onnxruntime.mjs',
    'package-lock.json',
    'package.json',
    'src',
    'tsconfig.build.json',
    'tsconfig.json',
  ]);
  for (const source of sources) assert.ok(existsSync(join(repoRoot, source)), source);
});

// A CommonJS module whose typings declare an ES default export: loaded the CommonJS way.
const dockerignoreFactory = createRequire(import.meta.url)('@balena/dockerignore') as () => Ignore;
const dockerignore = dockerignoreFactory().add(
  readFileSync(join(repoRoot, '.dockerignore'), 'utf8'),
);

test('.dockerignore keeps keys, secrets, state, models and tests out of the context', () => {
  for (const path of [
    'var/dev-issuer/private.jwk',
    'var/audit/audit.log',
    'models/iris/1/model.onnx',
    'config/keys/publisher.priv.pem',
    'config/tls/server.key',
    'config/jwks.json',
    'config/metrics-token',
    'config/audit-hmac.key',
    'config/.env',
    'src/deep/inside/leak.pem',
    'test/auth/token-verifier.test.ts',
    'deploy/kubernetes/base/secrets.yaml',
    'node_modules/tsx/package.json',
  ]) {
    assert.ok(dockerignore.ignores(path), `${path} would enter the build context`);
  }
  for (const path of [
    'config/keys/demo-publisher.pub.pem',
    // The Sigstore public-good root that keyless verification uses when none is configured.
    'config/sigstore/trusted_root.json',
    'src/auth/shared-secret-key-source.ts',
    'src/cli/token-command.ts',
    'deploy/docker/prune-onnxruntime.mjs',
    'bin/bastion.js',
  ]) {
    assert.ok(!dockerignore.ignores(path), `${path} is needed in the build context`);
  }
});

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

// Built from parts so that this file itself carries no PEM marker (test/security scans for it).
const privateKeyMarker = new RegExp(['PRIVATE', 'KEY-----'].join(' '));

test('no file that reaches the build context holds a private key', () => {
  const copied = dockerfile
    .getCOPYs()
    .filter((c) => c.getFromFlag() === null)
    .flatMap((c) => args(c).slice(0, -1));
  let checked = 0;
  for (const source of new Set(copied)) {
    const path = join(repoRoot, source);
    const files = statSync(path).isDirectory() ? [...walk(path)] : [path];
    for (const file of files) {
      const rel = relative(repoRoot, file);
      if (dockerignore.ignores(rel)) continue;
      checked += 1;
      assert.doesNotMatch(readFileSync(file, 'latin1'), privateKeyMarker, rel);
    }
  }
  assert.ok(checked > 50, `checked ${checked} files`);
});

test('EXPOSE matches the listeners of config/production.example.yaml', () => {
  const exposed = instructions
    .filter((i) => i.getKeyword() === 'EXPOSE')
    .flatMap(args)
    .map((p) => Number(p.replace(/\/tcp$/, '')));
  const loopback = /^(127\.|localhost$|::1$)/.test(production.metrics.host);
  const expected = [production.server.port, ...(loopback ? [] : [production.metrics.port])];
  assert.deepEqual(exposed.sort(), expected.sort());
});

test('paths agree with config/production.example.yaml and the README', () => {
  const volumes = instructions
    .filter((i) => i.getKeyword() === 'VOLUME')
    .flatMap((i) => jsonForm(i));
  assert.deepEqual(volumes, [production.stateDir], 'state (and the audit log) on the volume');
  assert.ok(production.audit.path.startsWith(`${production.stateDir}/`), 'audit under stateDir');
  const env = dockerfile.getENVs().flatMap((e) => e.getProperties());
  const value = (name: string): string | undefined =>
    env.find((p) => p.getName() === name)?.getValue() ?? undefined;
  assert.equal(value('BASTION_CONFIG'), '/etc/bastion/bastion.yaml');
  assert.equal(value('NODE_ENV'), 'production');
  assert.equal(value('ORT_DISABLE_TELEMETRY'), '1');
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  for (const mount of [
    '/etc/bastion:/etc/bastion:ro',
    `:${production.models.repository}:ro`,
    `:${production.stateDir}`,
  ]) {
    assert.ok(dockerfileText.includes(mount), `Dockerfile shows ${mount}`);
    assert.ok(readme.includes(mount), `README shows ${mount}`);
  }
});

test('the image runs dist/ with no TypeScript runtime and no package manager', () => {
  const entrypoint = jsonForm(dockerfile.getENTRYPOINTs()[0]!);
  assert.deepEqual(entrypoint, ['node', 'bin/bastion.js']);
  const runtime = runtimeStage().map((i) => i.toString());
  assert.ok(runtime.some((l) => l.includes('COPY --from=build /app/dist ./dist')));
  assert.ok(!runtime.some((l) => /COPY .*\bsrc\b/.test(l)), 'no sources in the runtime stage');
  assert.ok(
    runtime.some((l) => l.includes('/usr/local/lib/node_modules/npm')),
    'npm removed',
  );
  const build = instructions.map((i) => i.toString()).join('\n');
  assert.match(build, /npm prune --omit=dev/);
  assert.match(build, /prune-onnxruntime\.mjs node_modules\/onnxruntime-node/);
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const name of ['tsx', 'esbuild', 'typescript', 'ts-node']) {
    assert.ok(!(name in pkg.dependencies), `${name} is a production dependency`);
  }
});

test('the HEALTHCHECK exits 0 on a 200 from the management listener, 1 otherwise', async (t) => {
  let status = 200;
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
  });
  const port = await freeLoopbackPort();
  await new Promise<void>((resolvePromise) => server.listen(port, '127.0.0.1', resolvePromise));
  t.after(() => server.close());
  assert.equal(await runHealthcheck(port), 0);
  status = 503;
  assert.equal(await runHealthcheck(port), 1);
  status = 401;
  assert.equal(await runHealthcheck(port), 1, 'a health path behind the token is a failure');
  assert.deepEqual(paths, ['/v2/health/live', '/v2/health/live', '/v2/health/live']);
  await new Promise((resolvePromise) => server.close(resolvePromise));
  assert.equal(await runHealthcheck(port), 1, 'nothing listening');
});
