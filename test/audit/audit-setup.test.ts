// Unit tests of the gateway's audit set-up without booting a gateway: where the key and the
// checkpoint live, the development key created once (0600, hex, reused), the configured key file,
// the log opened as the config says, and the witness lines, timed by node:test's mock timers.
// A real pino logger writes into an array.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { loadOrCreateAuditKey } from '../../src/audit/audit-key.js';
import { parseAuditCheckpoint } from '../../src/audit/audit-checkpoint.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import {
  auditStatePaths,
  openGatewayAudit,
  startAuditWitness,
} from '../../src/audit/audit-setup.js';
import { parseConfigText } from '../../src/config/load-config.js';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-audit-setup-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** A pino logger whose lines land in `lines`, parsed. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** Lets pino's stream and real I/O catch up. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function config(d: string, audit: string[] = []) {
  const text = `stateDir: ${d}/state\nauth:\n  devIssuer: true\naudit:\n  path: ${d}/logs/audit.log\n${audit.map((l) => `  ${l}\n`).join('')}`;
  return parseConfigText(text, join(d, 'config.yaml'));
}

void describe('auditStatePaths', () => {
  void it('keeps the key and a per-log checkpoint under stateDir, unless a file is named', async (t) => {
    const d = await dir(t);
    const id = createHash('sha256')
      .update(`${d}/logs/audit.log`, 'utf8')
      .digest('hex')
      .slice(0, 12);
    assert.deepEqual(auditStatePaths(config(d)), {
      key: join(d, 'state', 'audit-hmac.key'),
      checkpoint: join(d, 'state', 'audit-checkpoints', `audit.log.${id}.json`),
    });
    assert.equal(
      auditStatePaths(config(d, [`checkpointFile: ${d}/cp.json`])).checkpoint,
      join(d, 'cp.json'),
    );
  });
});

void describe('loadOrCreateAuditKey', () => {
  void it('creates 32 random bytes as 64 hex characters, mode 0600 in a 0700 folder, then reuses them', async (t) => {
    const d = await dir(t);
    const path = join(d, 'state', 'audit-hmac.key');
    const key = await loadOrCreateAuditKey(path);
    const text = await readFile(path, 'utf8');
    assert.match(text, /^[0-9a-f]{64}\n$/);
    assert.deepEqual(Buffer.from(key), Buffer.from(text.trim()));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(d, 'state'))).mode & 0o777, 0o700);
    assert.deepEqual(await loadOrCreateAuditKey(path), key);
    const other = await loadOrCreateAuditKey(join(d, 'other.key'));
    assert.notDeepEqual(other, key);
  });

  void it('tightens a key file others can read, and refuses a short one', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit-hmac.key');
    await writeFile(path, `${'k'.repeat(32)}\n`, { mode: 0o644 });
    await chmod(path, 0o644);
    assert.deepEqual(Buffer.from(await loadOrCreateAuditKey(path)), Buffer.from('k'.repeat(32)));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await writeFile(path, 'short');
    await assert.rejects(loadOrCreateAuditKey(path), {
      message: `audit HMAC key file ${path} holds 5 bytes; at least 32 are required`,
    });
  });

  void it('two starts at once end up with one key, and no temporary file is left', async (t) => {
    const d = await dir(t);
    const path = join(d, 'audit-hmac.key');
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateAuditKey(path)));
    for (const key of keys) assert.deepEqual(key, keys[0]);
    assert.deepEqual(await readdir(d), ['audit-hmac.key']);
  });
});

void describe('openGatewayAudit', () => {
  void it('opens the configured log with the development key and the checkpoint, and says so', async (t) => {
    const d = await dir(t);
    const cfg = config(d);
    const { logger, lines } = capture();
    const log = await openGatewayAudit(cfg, { logger, recover: false });
    t.after(() => log.close());
    assert.equal(log.path, `${d}/logs/audit.log`);
    await log.append({ event: 'server.start', outcome: 'allowed' });
    assert.equal(log.stats().syncs, 1, 'fsync always, by default');
    await log.close();
    const paths = auditStatePaths(cfg);
    // Keyed with the key it created: a log opened with that key continues the chain.
    const key = await loadOrCreateAuditKey(paths.key);
    const again = await createAuditLog({
      path: log.path,
      hmacKey: key,
      checkpointPath: paths.checkpoint,
    });
    assert.equal(again.lastSeq, 1);
    await again.close();
    await turn();
    assert.deepEqual(
      lines
        .filter((l) => l['msg'] === 'audit log open')
        .map((l) => [l['auditPath'], l['checkpointFile']]),
      [[log.path, paths.checkpoint]],
    );
    assert.equal(lines.filter((l) => l['level'] === 40).length, 0, 'no recovery warning');
  });

  void it('uses a configured key file, and refuses a short one naming it', async (t) => {
    const d = await dir(t);
    const keyFile = join(d, 'hmac.key');
    await writeFile(keyFile, 'z'.repeat(40));
    const { logger } = capture();
    const log = await openGatewayAudit(config(d, [`hmacKeyFile: ${keyFile}`]), {
      logger,
      recover: false,
    });
    await log.append({ event: 'server.start', outcome: 'allowed' });
    await log.close();
    const again = await createAuditLog({ path: log.path, hmacKey: Buffer.from('z'.repeat(40)) });
    assert.equal(again.lastSeq, 1);
    await again.close();
    await writeFile(keyFile, 'z'.repeat(31));
    await assert.rejects(
      openGatewayAudit(config(d, [`hmacKeyFile: ${keyFile}`]), { logger, recover: false }),
      {
        message: `audit HMAC key file ${keyFile} holds 31 bytes; at least 32 are required`,
      },
    );
  });

  void it('recovery is logged with the head it starts from', async (t) => {
    const d = await dir(t);
    const { logger, lines } = capture();
    const first = await openGatewayAudit(config(d), { logger, recover: false });
    await first.append({ event: 'server.start', outcome: 'allowed' });
    await first.close();
    const log = await openGatewayAudit(config(d), { logger, recover: true });
    const head = log.checkpoint();
    await log.close();
    await turn();
    const warn = lines.find((l) => l['msg'] === 'audit log opened in recovery (--recover-audit)');
    assert.ok(warn !== undefined, 'no recovery warning');
    assert.equal(warn['level'], 40);
    const logged = warn['auditHead'] as Record<string, unknown> | undefined;
    assert.deepEqual([logged?.['seq'], logged?.['hash']], [head?.seq, head?.hash]);
  });

  void it('reports write failures and checkpoint failures to the log and the caller', async (t) => {
    const d = await dir(t);
    await mkdir(join(d, 'logs'), { recursive: true });
    // /dev/full: every write fails with ENOSPC.
    await symlink('/dev/full', join(d, 'logs', 'audit.log'));
    const { logger, lines } = capture();
    const failures: number[] = [];
    const log = await openGatewayAudit(config(d), {
      logger,
      recover: false,
      onWriteFailure: (n) => failures.push(n),
    });
    await assert.rejects(log.append({ event: 'server.start', outcome: 'allowed' }), {
      code: 'AUDIT_WRITE_FAILED',
    });
    await log.close();
    await turn();
    assert.deepEqual(failures, [1]);
    const failed = lines.find((l) => l['msg'] === 'AUDIT LOG WRITE FAILED');
    assert.deepEqual(failed && [failed['level'], failed['records']], [50, 1]);
    assert.match(String((failed?.['err'] as { message?: string } | undefined)?.message), /ENOSPC/);
    // Without an onWriteFailure listener the failure is still logged.
    const quiet = await openGatewayAudit(config(d), { logger, recover: false });
    await assert.rejects(quiet.append({ event: 'server.start', outcome: 'allowed' }));
    await quiet.close();
    await turn();
    assert.equal(lines.filter((l) => l['msg'] === 'AUDIT LOG WRITE FAILED').length, 2);
  });

  void it('a checkpoint that cannot be written is logged, the log goes on', async (t) => {
    const d = await dir(t);
    const folder = join(d, 'checkpoints');
    await mkdir(folder);
    const { logger, lines } = capture();
    const log = await openGatewayAudit(config(d, [`checkpointFile: ${folder}/cp.json`]), {
      logger,
      recover: false,
    });
    // After the open, a file takes the folder's place: the checkpoint cannot be written.
    await rm(folder, { recursive: true });
    await writeFile(folder, 'x');
    await log.append({ event: 'server.start', outcome: 'allowed' });
    await log.close();
    await turn();
    const failed = lines.find((l) => l['msg'] === 'audit head checkpoint could not be written');
    assert.ok(failed !== undefined, 'no checkpoint failure logged');
    assert.equal(failed['level'], 50);
    assert.ok(failed['err'] !== undefined, 'the error is logged');
  });

  void it('a numeric fsync setting is the interval policy', async (t) => {
    const d = await dir(t);
    const { logger } = capture();
    const log = await openGatewayAudit(config(d, ['fsync: 10000']), { logger, recover: false });
    const before = log.stats().syncs;
    await log.append({ event: 'server.start', outcome: 'allowed' });
    assert.equal(log.stats().syncs, before, 'written, not yet synced');
    await log.close();
  });
});

void describe('startAuditWitness', () => {
  const witnessKey = Buffer.from('w'.repeat(32));
  void it('logs the keyed head every intervalSec, once more when stopped, then the totals', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const d = await dir(t);
    const { logger, lines } = capture();
    const log = await createAuditLog({
      path: join(d, 'audit.log'),
      hmacKey: witnessKey,
    });
    t.after(() => log.close());
    const heads = () => lines.filter((l) => l['msg'] === 'audit head checkpoint');
    const stop = startAuditWitness(log, logger, 30);
    t.mock.timers.tick(30_000);
    await turn();
    assert.equal(heads().length, 0, 'no head before the first record');
    await log.append({ event: 'server.start', outcome: 'allowed' });
    t.mock.timers.tick(29_999);
    await turn();
    assert.equal(heads().length, 0);
    t.mock.timers.tick(1);
    await turn();
    assert.equal(heads().length, 1);
    // checkpoint() stamps the time it is asked: compare the head, and check the logged line's own
    // MAC over its own time with the key.
    const { ts: _ts, mac: _mac, ...head } = log.checkpoint() ?? {};
    const logged = heads()[0]?.['auditHead'] as Record<string, unknown> | undefined;
    assert.deepEqual(
      { ...logged, ts: undefined, mac: undefined },
      { ...head, ts: undefined, mac: undefined },
    );
    const parsed = parseAuditCheckpoint(JSON.stringify(logged), witnessKey);
    assert.equal(typeof parsed, 'object', typeof parsed === 'string' ? parsed : 'no checkpoint');
    t.mock.timers.tick(60_000);
    await turn();
    assert.equal(heads().length, 3);
    await log.append({ event: 'server.start', outcome: 'allowed' });
    stop();
    await turn();
    assert.equal(heads().length, 4, 'once more when stopped');
    t.mock.timers.tick(60_000);
    await turn();
    assert.equal(heads().length, 4, 'and never after');
    const closed = lines.find((l) => l['msg'] === 'audit log closed');
    assert.deepEqual(
      closed && {
        records: closed['records'],
        syncs: closed['syncs'],
        recordsPerSync: closed['recordsPerSync'],
      },
      // Two records, each fdatasync'ed on its own: one record per sync.
      { records: 2, syncs: 2, recordsPerSync: 1 },
    );
  });

  void it('interval 0 never logs on a timer, only when stopped; no syncs means 0 per sync', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const d = await dir(t);
    const { logger, lines } = capture();
    const log = await createAuditLog({ path: join(d, 'audit.log'), fsync: { intervalMs: 1000 } });
    t.after(() => log.close());
    const stop = startAuditWitness(log, logger, 0);
    t.mock.timers.tick(3_600_000);
    stop();
    await turn();
    assert.equal(lines.filter((l) => l['msg'] === 'audit head checkpoint').length, 0);
    const closed = lines.find((l) => l['msg'] === 'audit log closed');
    assert.deepEqual(
      closed && [closed['records'], closed['syncs'], closed['recordsPerSync']],
      [0, 0, 0],
    );
  });
});
