/**
 * deploy/systemd/bastion.service: systemd itself verifies it (`systemd-analyze verify`) and rates
 * its sandbox (`systemd-analyze security --offline`), and its paths, signals and stop timeout
 * agree with config/production.example.yaml.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { missingBinary } from '../helpers/system-tools.js';
import { repoRoot } from './manifests.js';

const unitFile = join(repoRoot, 'deploy/systemd/bastion.service');
const systemdMissing = missingBinary('systemd-analyze', 'systemd') ?? false;

/** The unit's settings: key → every value it is given (systemd keys may repeat). */
function settings(): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of readFileSync(unitFile, 'utf8').split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match === null) continue;
    const [, key = '', value = ''] = match;
    map.set(key, [...(map.get(key) ?? []), value]);
  }
  return map;
}

function one(key: string): string {
  const values = settings().get(key) ?? [];
  assert.equal(values.length, 1, `${key} set once`);
  return values[0] ?? '';
}

test('systemd-analyze verify accepts the unit', { skip: systemdMissing }, () => {
  const result = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr.trim(), '', 'no warning either');
});

test('systemd rates the sandbox at exposure 2.0 or better', { skip: systemdMissing }, () => {
  const result = spawnSync(
    'systemd-analyze',
    ['security', '--offline=yes', '--threshold=20', '--no-pager', unitFile],
    { encoding: 'utf8' },
  );
  const level = /Overall exposure level for bastion\.service: ([\d.]+)/.exec(result.stdout)?.[1];
  assert.ok(level !== undefined, result.stdout + result.stderr);
  assert.equal(result.status, 0, `exposure ${level}`);
  assert.ok(Number(level) <= 2);
});

test('the hardening settings that matter are there', () => {
  const s = settings();
  for (const [key, value] of [
    ['User', 'bastion'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['PrivateDevices', 'yes'],
    ['CapabilityBoundingSet', ''],
    ['RestrictSUIDSGID', 'yes'],
    ['UMask', '0077'],
    ['SystemCallArchitectures', 'native'],
  ] as const) {
    assert.deepEqual(s.get(key), [value], key);
  }
  assert.deepEqual(s.get('SystemCallFilter'), ['@system-service', '~@privileged']);
  // V8 needs writable-executable pages; this must stay off or the gateway cannot start.
  assert.deepEqual(s.get('MemoryDenyWriteExecute'), ['no']);
});

test('paths, signals and the stop timeout agree with the production example', () => {
  const production = parseYaml(
    readFileSync(join(repoRoot, 'config/production.example.yaml'), 'utf8'),
  ) as {
    stateDir: string;
    models: { repository: string };
    audit: { path: string };
    server: { shutdownTimeoutMs: number; drainDelayMs?: number };
  };
  assert.match(
    one('ExecStart'),
    /^\/usr\/bin\/node \/opt\/bastion\/bin\/bastion\.js serve --config \/etc\/bastion\/bastion\.yaml$/,
  );
  assert.equal(`/var/lib/${one('StateDirectory')}`, production.stateDir);
  assert.ok(production.audit.path.startsWith(`${production.stateDir}/`), 'audit log in state');
  assert.equal(`/etc/${one('ConfigurationDirectory')}`, '/etc/bastion');
  assert.equal(one('ReadOnlyPaths'), production.models.repository);
  assert.equal(one('KillSignal'), 'SIGTERM');
  assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.deepEqual(settings().get('Environment')?.sort(), [
    'NODE_ENV=production',
    'ORT_DISABLE_TELEMETRY=1',
  ]);
  const stop = Number(/^(\d+)s$/.exec(one('TimeoutStopSec'))?.[1]);
  const needed =
    (production.server.shutdownTimeoutMs + (production.server.drainDelayMs ?? 0)) / 1000 + 10;
  assert.ok(stop >= needed, `TimeoutStopSec ${stop}s < drain + shutdown + 10 s (${needed}s)`);
});
