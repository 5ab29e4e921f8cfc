import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ConfigError,
  defaultConfigFile,
  loadConfig,
  parseConfigText,
} from '../../src/config/load-config.js';
import { tempDir } from '../helpers/gateway.js';
import { jwsAlgorithms } from '../../src/config/jws-algorithms.js';

const file = '/etc/bastion/config.yaml';

function problemsOf(text: string, env: Record<string, string> = {}): readonly string[] {
  try {
    parseConfigText(text, file, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

void describe('config', () => {
  void it('an empty file gives the documented defaults', () => {
    const config = parseConfigText('', file);
    assert.equal(config.mode, 'development');
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.server.port, 8080);
    assert.equal(config.limits.bodyBytes, 16 * 1024 * 1024);
    assert.equal(config.limits.requestsPerMinute, 600);
    assert.equal(config.metrics.host, '127.0.0.1');
    assert.equal(config.metrics.port, 9464);
    assert.deepEqual(config.auth.algorithms, ['ES256', 'EdDSA', 'RS256']);
    assert.equal(config.models.allowUnsigned, false);
    assert.equal(config.audit.failClosed, false);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.server));
  });

  void it('relative paths resolve against the config file folder; absolute ones stay', () => {
    const config = parseConfigText(
      'models:\n  repository: ../models\n  trustedKeys: [keys/a.pem, /abs/b.pem, {file: c.pem, models: ["team-*"]}]\naudit:\n  path: /var/log/audit.log\n',
      file,
    );
    assert.equal(config.models.repository, '/etc/models');
    assert.deepEqual(config.models.trustedKeys, [
      '/etc/bastion/keys/a.pem',
      '/abs/b.pem',
      { file: '/etc/bastion/c.pem', models: ['team-*'] },
    ]);
    assert.equal(config.audit.path, '/var/log/audit.log');
  });

  void it('NODE_ENV=production forces production mode, and failClosed defaults on there', () => {
    const config = parseConfigText('mode: development\n', file, { NODE_ENV: 'production' });
    assert.equal(config.mode, 'production');
    assert.equal(config.audit.failClosed, true);
  });

  const bad: { name: string; yaml: string; says: RegExp }[] = [
    { name: 'unknown top-level key', yaml: 'sever: {}\n', says: /unknown key "sever"/ },
    {
      name: 'unknown nested key',
      yaml: 'server:\n  prot: 80\n',
      says: /^server: unknown key "prot"/,
    },
    { name: 'port out of range', yaml: 'server:\n  port: 70000\n', says: /^server\.port: / },
    { name: 'port as text', yaml: 'server:\n  port: eighty\n', says: /^server\.port: .*number/ },
    { name: 'bad mode', yaml: 'mode: staging\n', says: /^mode: / },
    {
      name: 'bodyBytes too small',
      yaml: 'limits:\n  bodyBytes: 10\n',
      says: /^limits\.bodyBytes: /,
    },
    { name: 'jwksUrl not a URL', yaml: 'auth:\n  jwksUrl: not a url\n', says: /^auth\.jwksUrl: / },
    { name: 'alg none', yaml: 'auth:\n  algorithms: [none]\n', says: /^auth\.algorithms\.0: / },
    {
      name: 'both jwksFile and jwksUrl',
      yaml: 'auth:\n  jwksFile: j.json\n  jwksUrl: https://example.test/jwks\n',
      says: /either jwksFile or jwksUrl/,
    },
    {
      name: 'HS256 without a secret',
      yaml: 'auth:\n  algorithms: [HS256]\n',
      says: /needs auth\.hsSecretFile/,
    },
    {
      name: 'client cert without CA',
      yaml: 'server:\n  tls:\n    certFile: c\n    keyFile: k\n    requireClientCert: true\n',
      says: /clientCaFile/,
    },
    {
      name: 'model tuning out of range',
      yaml: 'models:\n  defaults:\n    poolSize: 1000\n',
      says: /^models\.defaults\.poolSize: /,
    },
    { name: 'not a mapping', yaml: '- a\n- b\n', says: /top level must be a mapping/ },
    { name: 'YAML syntax error', yaml: 'server: [\n', says: /^YAML: / },
    { name: 'duplicate keys', yaml: 'server:\n  port: 1\n  port: 2\n', says: /^YAML: / },
  ];
  for (const { name, yaml, says } of bad) {
    void it(`refuses: ${name}`, () => {
      const problems = problemsOf(yaml);
      assert.ok(
        problems.some((p) => says.test(p)),
        problems.join(' | '),
      );
    });
  }

  void it('reports every problem at once', () => {
    const problems = problemsOf(
      'server:\n  port: -1\n  host: ""\nlimits:\n  requestsPerMinute: 0\nbogus: 1\n',
    );
    assert.equal(problems.length, 4, problems.join(' | '));
    for (const field of ['server.port', 'server.host', 'limits.requestsPerMinute', 'bogus']) {
      assert.ok(
        problems.some((p) => p.includes(field)),
        field,
      );
    }
  });

  void it('loads a file named by argument, by BASTION_CONFIG, or the default', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'c.yaml');
    await writeFile(path, 'server:\n  port: 1234\n');
    assert.equal(loadConfig({ file: path }).config.server.port, 1234);
    assert.equal(
      loadConfig({ env: { BASTION_CONFIG: 'c.yaml' }, cwd: dir }).config.server.port,
      1234,
    );
    const fallback = loadConfig({ env: {} });
    assert.equal(fallback.file, defaultConfigFile);
    assert.equal(fallback.config.server.host, '127.0.0.1');
  });

  void it('an unresolved YAML alias is a ConfigError, not a crash (found by fuzzing)', () => {
    for (const text of ['*a', 'server: *missing', '[*a]']) {
      const problems = problemsOf(text);
      assert.match(problems.join('\n'), /YAML: Unresolved alias/);
    }
  });

  void it('a missing file is a ConfigError naming it', () => {
    assert.throws(
      () => loadConfig({ file: '/nonexistent/bastion.yaml' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /\/nonexistent\/bastion\.yaml/);
        assert.match(error.message, /no such file/);
        return true;
      },
    );
  });

  void it('the shipped config files are valid', async () => {
    const root = join(import.meta.dirname, '../../config');
    const dev = loadConfig({ file: join(root, 'default.yaml'), env: {} }).config;
    assert.equal(dev.mode, 'development');
    assert.equal(dev.server.host, '127.0.0.1');
    const { readdir } = await import('node:fs/promises');
    for (const name of await readdir(root)) {
      if (name.endsWith('.yaml')) loadConfig({ file: join(root, name), env: {} });
    }
  });

  // Regression: the schema had its own copy of the list and refused Ed25519, which the verifier
  // accepts (RFC 9864's name for EdDSA over Ed25519).
  void it('auth.algorithms accepts every algorithm the verifier knows, and only those', () => {
    for (const alg of jwsAlgorithms) {
      const secret = alg.startsWith('HS') ? '  hsSecretFile: secret.key\n' : '';
      const config = parseConfigText(`auth:\n  algorithms: [${alg}]\n${secret}`, file);
      assert.deepEqual(config.auth.algorithms, [alg]);
    }
    assert.match(problemsOf('auth:\n  algorithms: [ES257]\n')[0] ?? '', /^auth\.algorithms\.0: /);
  });
});
