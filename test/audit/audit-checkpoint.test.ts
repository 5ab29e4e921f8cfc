// The head checkpoint against a stopped attacker who can write the log's folder but does not hold
// the key: real files, real reopen, real verify.
import assert from 'node:assert/strict';
import { copyFile, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  createCheckpointKeeper,
  parseAuditCheckpoint,
  readAuditCheckpoint,
} from '../../src/audit/audit-checkpoint.js';
import { setTimeout as delay } from 'node:timers/promises';
import { canonicalJson, computeAuditHash, readHmacKeyFile } from '../../src/audit/audit-hash.js';
import { AuditLogError } from '../../src/audit/audit-log-error.js';
import { createAuditLog, type AuditLogOptions } from '../../src/audit/audit-log.js';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { listRotatedAuditFiles } from '../../src/audit/audit-tail.js';
import { verifyAuditFiles } from '../../src/audit/audit-verify.js';
import { readLines, requestEntry, tempDir } from './audit-fixtures.js';

const key = new Uint8Array(Buffer.from('0123456789abcdef0123456789abcdef'));

async function setup(
  t: Parameters<typeof tempDir>[0],
  count = 6,
  extra: Partial<AuditLogOptions> = {},
) {
  const dir = await tempDir(t);
  const path = join(dir, 'log', 'audit.log');
  const checkpointPath = join(dir, 'state', 'audit-head.json');
  const options: AuditLogOptions = { path, hmacKey: key, checkpointPath, ...extra };
  const log = await createAuditLog(options);
  for (let i = 1; i <= count; i++) await log.append(requestEntry(`user${i}`));
  await log.close();
  return { dir, path, checkpointPath, options };
}

async function refused(
  options: AuditLogOptions,
  code: string | readonly string[],
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(createAuditLog(options), (error: unknown) => {
    assert.ok(error instanceof AuditLogError, String(error));
    assert.ok((typeof code === 'string' ? [code] : code).includes(error.code), error.code);
    assert.match(error.message, pattern);
    assert.match(error.message, /--recover-audit/, 'names the deliberate recovery flag');
    return true;
  });
}

async function checkpointOf(path: string) {
  const checkpoint = await readAuditCheckpoint(path, key);
  assert.ok(checkpoint !== undefined && typeof checkpoint !== 'string', JSON.stringify(checkpoint));
  return checkpoint;
}

test('the checkpoint records the head: seq, hash, file, offset, time; keyed', async (t) => {
  const { path, checkpointPath } = await setup(t);
  const checkpoint = await checkpointOf(checkpointPath);
  const lines = await readLines(path);
  const last = JSON.parse(lines.at(-1)!) as AuditRecord;
  assert.equal(checkpoint.seq, 6);
  assert.equal(checkpoint.hash, last.hash);
  assert.equal(checkpoint.file, 'audit.log');
  assert.equal(checkpoint.offset, (await readFile(path)).length);
  assert.equal(checkpoint.log, path);
  // Another key, or an edited field, does not verify.
  const text = await readFile(checkpointPath, 'utf8');
  assert.match(JSON.stringify(parseAuditCheckpoint(text, new Uint8Array(32))), /does not verify/);
  const edited = text.replace('"seq":6', '"seq":3');
  assert.match(JSON.stringify(parseAuditCheckpoint(edited, key)), /does not verify/);
  // Reopening an untouched log continues the chain.
  const reopened = await createAuditLog({ path, hmacKey: key, checkpointPath });
  assert.equal(reopened.lastSeq, 6);
  await reopened.close();
});

test('rewrite-and-rehash without the key: refused at start and by verify', async (t) => {
  const { path, checkpointPath, options } = await setup(t);
  // The attacker changes a subject and rebuilds the whole chain with plain SHA-256.
  let prevHash = '0'.repeat(64);
  const forged = (await readLines(path)).map((line) => {
    const { hash: _hash, ...record } = JSON.parse(line) as AuditRecord;
    const body = { ...record, sub: record.sub === 'user2' ? 'mallory' : record.sub, prevHash };
    prevHash = computeAuditHash(body);
    return canonicalJson({ ...body, hash: prevHash });
  });
  await writeFile(path, `${forged.join('\n')}\n`);
  assert.equal((await verifyAuditFiles([path])).ok, true, 'self-consistent without a key');
  await refused(
    options,
    ['AUDIT_BROKEN_TAIL', 'AUDIT_CHECKPOINT_MISMATCH'],
    /does not match its hash/,
  );
  const verdict = await verifyAuditFiles([path], {
    hmacKey: key,
    checkpoint: await checkpointOf(checkpointPath),
  });
  assert.equal(verdict.ok, false);
  assert.equal(verdict.firstBadSeq, 1);
  // Rewriting the checkpoint too does not help: its MAC needs the key.
  const cp = JSON.parse(await readFile(checkpointPath, 'utf8')) as Record<string, unknown>;
  await writeFile(checkpointPath, JSON.stringify({ ...cp, hash: prevHash }));
  await refused(options, 'AUDIT_CHECKPOINT_MISMATCH', /does not verify with the audit key/);
  await refused({ ...options, acceptBrokenTail: true }, 'AUDIT_CHECKPOINT_MISMATCH', /checkpoint/);
});

test('whole records cut from the tail while stopped: refused, and verify reports truncation', async (t) => {
  const { path, checkpointPath, options } = await setup(t);
  const lines = await readLines(path);
  await writeFile(path, `${lines.slice(0, 4).join('\n')}\n`);
  // Every remaining record still verifies on its own...
  assert.equal((await verifyAuditFiles([path], { hmacKey: key })).ok, true);
  // ...but not against the checkpoint.
  await refused(options, 'AUDIT_CHECKPOINT_MISMATCH', /shorter than the checkpoint.*seq 6/);
  const verdict = await verifyAuditFiles([path], {
    hmacKey: key,
    checkpoint: await checkpointOf(checkpointPath),
  });
  assert.equal(verdict.ok, false);
  assert.equal(verdict.firstBadSeq, 5);
  assert.match(verdict.message, /TRUNCATED.*ends at seq 4.*seq 6.*2 record\(s\) cut/);
});

test('the log deleted (or emptied) while stopped: refused', async (t) => {
  const { path, options } = await setup(t);
  await rm(path);
  await refused(options, 'AUDIT_CHECKPOINT_MISMATCH', /audit\.log is missing.*seq 6/);
  await writeFile(path, '');
  await refused(options, 'AUDIT_CHECKPOINT_MISMATCH', /shorter than the checkpoint/);
});

test('a different head at the checkpoint offset: refused', async (t) => {
  const { path, options } = await setup(t);
  // A key holder (or a second gateway on the same file) replaced the last record.
  const lines = await readLines(path);
  await writeFile(path, `${lines.slice(0, 5).join('\n')}\n`);
  const other = await createAuditLog({ path, hmacKey: key });
  await other.append(requestEntry('someone-else-entirely'));
  await other.close();
  await refused(options, 'AUDIT_CHECKPOINT_MISMATCH', /head of .* differs from the checkpoint/);
});

test('records but no checkpoint, or a checkpoint edited: refused', async (t) => {
  const { checkpointPath, options } = await setup(t);
  const text = await readFile(checkpointPath, 'utf8');
  await writeFile(checkpointPath, text.replace(/"offset":\d+/, '"offset":1'));
  await refused(options, 'AUDIT_CHECKPOINT_MISMATCH', /does not verify with the audit key/);
  await rm(checkpointPath);
  await refused(options, 'AUDIT_CHECKPOINT_MISMATCH', /no head checkpoint/);
});

test('recovery starts a new segment whose first record says what was found', async (t) => {
  const { path, checkpointPath, options } = await setup(t);
  const lines = await readLines(path);
  await writeFile(path, `${lines.slice(0, 4).join('\n')}\n`);
  const log = await createAuditLog({ ...options, recover: true });
  await log.append(requestEntry('after-recovery'));
  await log.close();
  const records = (await readLines(path)).map((l) => JSON.parse(l) as AuditRecord);
  const segment = records[4];
  assert.equal(segment?.event, 'audit.segment');
  assert.equal(segment.seq, 7, 'seq continues after the checkpoint, never reused');
  assert.equal(segment.prevHash, '0'.repeat(64));
  assert.match(segment.reason ?? '', /recovery requested: .*shorter than the checkpoint.*seq 6/);
  assert.equal(records[5]?.sub, 'after-recovery');
  const checkpoint = await checkpointOf(checkpointPath);
  assert.equal(checkpoint.seq, 8);
  const verdict = await verifyAuditFiles([path], { hmacKey: key, checkpoint });
  assert.equal(verdict.ok, true, verdict.message);
  assert.deepEqual(
    verdict.segments.map((s) => s.seq),
    [7],
  );
  // A start after the recovery is a normal start again.
  const again = await createAuditLog(options);
  assert.equal(again.lastSeq, 8);
  await again.close();
  // Recovery over a deleted log works the same way.
  await rm(path);
  const fresh = await createAuditLog({ ...options, recover: true });
  await fresh.close();
  const [first] = (await readLines(path)).map((l) => JSON.parse(l) as AuditRecord);
  assert.equal(first?.seq, 9);
  assert.match(first.reason ?? '', /is missing/);
});

test('a crash leaves the checkpoint behind the log: the start accepts it when the chain from it verifies', async (t) => {
  const { path, checkpointPath, options } = await setup(t, 3, { maxBytes: 4096 });
  const stale = `${checkpointPath}.stale`;
  await copyFile(checkpointPath, stale);
  const log = await createAuditLog(options);
  for (let i = 0; i < 40; i++) await log.append(requestEntry(`more${i}`));
  await log.close();
  assert.ok((await listRotatedAuditFiles(path)).length >= 2, 'rotated since the stale checkpoint');
  await copyFile(stale, checkpointPath);
  const reopened = await createAuditLog(options);
  assert.equal(reopened.lastSeq, 43);
  await reopened.close();
  // A record changed after a stale checkpoint (without the key) is still found, although the
  // last records of the live file are intact.
  await copyFile(stale, checkpointPath);
  const [firstRotated] = await listRotatedAuditFiles(path);
  const lines = await readLines(firstRotated!);
  const { hash: _h, ...victim } = JSON.parse(lines[5]!) as AuditRecord;
  assert.ok(victim.seq > 3, 'a record after the stale checkpoint');
  const forged = { ...victim, sub: 'mallory' };
  lines[5] = canonicalJson({ ...forged, hash: computeAuditHash(forged) });
  await writeFile(firstRotated!, `${lines.join('\n')}\n`);
  await refused(options, 'AUDIT_CHECKPOINT_MISMATCH', /after the checkpoint do not verify/);
});

test('a torn tail with acceptBrokenTail opens only when the checkpointed head is intact', async (t) => {
  const { path, options } = await setup(t);
  const size = (await readFile(path)).length;
  // A crash mid-write: bytes of an unacknowledged batch after the checkpointed head.
  await writeFile(path, '{"seq":7,"ts":"2026', { flag: 'a' });
  const log = await createAuditLog({ ...options, acceptBrokenTail: true });
  await log.close();
  assert.match((await readLines(path)).at(0) ?? '', /audit\.segment/, 'a new segment starts');
  // The same torn tail after records were cut is not a crash: refused.
  const { path: path2, options: options2 } = await setup(t);
  await truncate(path2, size - 50);
  await refused(
    { ...options2, acceptBrokenTail: true },
    'AUDIT_CHECKPOINT_MISMATCH',
    /shorter|differs/,
  );
});

test('an HMAC key shorter than 32 bytes is refused; surrounding whitespace is not key', async (t) => {
  const dir = await tempDir(t);
  const short = join(dir, 'short.key');
  await writeFile(short, `${'x'.repeat(31)}\n`);
  await assert.rejects(readHmacKeyFile(short), /holds 31 bytes; at least 32/);
  const padded = join(dir, 'padded.key');
  await writeFile(padded, `  ${'x'.repeat(31)}  \n\n`);
  await assert.rejects(readHmacKeyFile(padded), /holds 31 bytes/);
  const ok = join(dir, 'ok.key');
  await writeFile(ok, `${'x'.repeat(32)}\n`);
  assert.equal((await readHmacKeyFile(ok)).length, 32);
});

test('the keeper writes the first head at once, then at most one head per interval: the latest', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state', 'audit-head.json');
  const errors: Error[] = [];
  const intervalMs = 2000;
  const keeper = createCheckpointKeeper(
    path,
    key,
    () => new Date(),
    (e) => errors.push(e),
    intervalMs,
  );
  const head = (seq: number) => ({
    log: 'audit.log',
    file: 'audit.log',
    offset: seq * 10,
    seq,
    hash: String(seq).padStart(64, '0'),
  });
  const started = performance.now();
  keeper.update(head(1));
  while ((await readAuditCheckpoint(path, key)) === undefined) await delay(5);
  for (let seq = 2; seq <= 100; seq++) keeper.update(head(seq));
  await delay(50);
  const early = await checkpointOf(path);
  // Only meaningful while the interval has not passed (a preempted test host may be late).
  if (performance.now() - started < intervalMs - 200)
    assert.equal(early.seq, 1, 'no second write inside the interval');
  while ((await checkpointOf(path)).seq !== 100) {
    assert.ok(
      performance.now() - started < intervalMs * 3,
      'the latest head is written after the interval',
    );
    await delay(20);
  }
  assert.equal(keeper.current()?.seq, 100);
  keeper.update(head(101));
  await keeper.close(); // the final head, durably, without waiting for the interval
  assert.equal((await checkpointOf(path)).seq, 101);
  assert.ok(performance.now() - started < intervalMs * 3);
  assert.deepEqual(errors, []);
});
