import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { computeAuditHash } from '../../src/audit/audit-hash.js';
import { AuditLogError } from '../../src/audit/audit-log-error.js';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { genesisHash, type AuditRecord } from '../../src/audit/audit-record.js';
import { listRotatedAuditFiles, rotatedAuditPath } from '../../src/audit/audit-tail.js';
import { verifyAuditFiles } from '../../src/audit/audit-verify.js';
import { readLines, requestEntry, tempDir, writeLog } from './audit-fixtures.js';

const key = new Uint8Array(Buffer.from('k'.repeat(32)));

test('concurrent appends get consecutive seq in call order and a valid chain', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  const log = await createAuditLog({ path });
  const records = await Promise.all(
    Array.from({ length: 300 }, (_, i) => log.append(requestEntry(`u${i}`))),
  );
  await log.close();
  assert.deepEqual(
    records.map((r) => r.seq),
    Array.from({ length: 300 }, (_, i) => i + 1),
  );
  assert.deepEqual(
    records.map((r) => r.sub),
    records.map((_, i) => `u${i}`),
  );
  assert.equal(records[0]?.prevHash, genesisHash);
  assert.equal(log.lastSeq, 300);
  assert.equal(log.lastHash, records[299]?.hash);
  const result = await verifyAuditFiles([path]);
  assert.equal(result.ok, true, result.message);
  assert.equal(result.records, 300);
  assert.equal(result.lastHash, log.lastHash);
});

test('a line is the canonical JSON of the record: sorted keys, no whitespace', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  await writeLog(path, 1);
  const [line] = await readLines(path);
  const parsed = JSON.parse(line!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed), Object.keys(parsed).sort());
  assert.doesNotMatch(line!, /[{,:] /);
  assert.equal(computeAuditHash(parsed as unknown as AuditRecord), parsed['hash']);
  assert.equal(parsed['version'], '1');
  assert.match(parsed['ts'] as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
});

test('seq and chain continue across a restart', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  await writeLog(path, 3);
  const log = await createAuditLog({ path });
  assert.equal(log.lastSeq, 3);
  const record = await log.append(requestEntry('after-restart'));
  await log.close();
  assert.equal(record.seq, 4);
  const result = await verifyAuditFiles([path]);
  assert.equal(result.ok, true, result.message);
  assert.equal(result.records, 4);
});

test('rotation renames by last seq and the chain continues across files', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.log');
  await writeLog(path, 12, { maxBytes: 1500 });
  const rotated = await listRotatedAuditFiles(path);
  assert.ok(rotated.length >= 2, `expected rotations, got ${rotated.join(', ')}`);
  const firstCurrent = JSON.parse((await readLines(path))[0]!) as AuditRecord;
  const lastOfPrevious = JSON.parse((await readLines(rotated.at(-1)!)).at(-1)!) as AuditRecord;
  assert.equal(firstCurrent.prevHash, lastOfPrevious.hash);
  assert.equal(rotated.at(-1), rotatedAuditPath(path, lastOfPrevious.seq));

  const all = await verifyAuditFiles([...rotated, path]);
  assert.equal(all.ok, true, all.message);
  assert.equal(all.records, 12);
  // The current file alone has lost its head: caught unless anchored.
  const alone = await verifyAuditFiles([path]);
  assert.equal(alone.ok, false);
  assert.equal(alone.firstBadSeq, 1);
  const anchored = await verifyAuditFiles([path], { anchorHash: lastOfPrevious.hash });
  assert.equal(anchored.ok, true, anchored.message);

  // A restart after rotation continues the chain too.
  const log = await createAuditLog({ path, maxBytes: 1500 });
  assert.equal((await log.append(requestEntry('x'))).seq, 13);
  await log.close();
  const again = await verifyAuditFiles([...(await listRotatedAuditFiles(path)), path]);
  assert.equal(again.ok, true, again.message);
});

test('a missing current file continues from the newest rotated file', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  await writeLog(path, 2);
  await rename(path, rotatedAuditPath(path, 2));
  const log = await createAuditLog({ path });
  assert.equal((await log.append(requestEntry('x'))).seq, 3);
  await log.close();
  const result = await verifyAuditFiles([rotatedAuditPath(path, 2), path]);
  assert.equal(result.ok, true, result.message);
});

test('HMAC mode: verifies only with the key; a forged re-hashed chain fails', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  await writeLog(path, 3, { hmacKey: key });
  assert.equal((await verifyAuditFiles([path], { hmacKey: key })).ok, true);
  const unkeyed = await verifyAuditFiles([path]);
  assert.equal(unkeyed.ok, false);
  assert.equal(unkeyed.firstBadSeq, 1);

  // The forger edits record 2 and rebuilds the chain with plain SHA-256 (no key).
  let prevHash = genesisHash;
  const forged = (await readLines(path)).map((line) => {
    const { hash: _hash, ...rest } = JSON.parse(line) as AuditRecord;
    const body = { ...rest, prevHash, ...(rest.seq === 2 ? { sub: 'someone-else' } : {}) };
    const record = { ...body, hash: computeAuditHash(body) };
    prevHash = record.hash;
    return JSON.stringify(record);
  });
  await writeFile(path, `${forged.join('\n')}\n`);
  assert.equal((await verifyAuditFiles([path])).ok, true, 'without a key the forgery passes');
  const keyed = await verifyAuditFiles([path], { hmacKey: key });
  assert.equal(keyed.ok, false);
  assert.equal(keyed.firstBadSeq, 1);
});

test('opening with the wrong HMAC key is refused as a broken tail', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  await writeLog(path, 2, { hmacKey: key });
  await assert.rejects(createAuditLog({ path }), { code: 'AUDIT_BROKEN_TAIL' });
});

test('a broken tail refuses to open; acceptBrokenTail starts a new segment', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.log');
  await writeLog(path, 3);
  await appendFile(path, '{"seq":4,"ts":"2024-');
  await assert.rejects(createAuditLog({ path }), (error: unknown) => {
    assert.ok(error instanceof AuditLogError);
    assert.equal(error.code, 'AUDIT_BROKEN_TAIL');
    assert.match(error.message, /last line is incomplete/);
    assert.match(error.message, /acceptBrokenTail/);
    return true;
  });

  const log = await createAuditLog({ path, acceptBrokenTail: true });
  const next = await log.append(requestEntry('after'));
  await log.close();
  const names = await readdir(dir);
  assert.equal(names.filter((n) => n.startsWith('audit.log.broken-')).length, 1);
  const [segmentLine] = await readLines(path);
  const segment = JSON.parse(segmentLine!) as AuditRecord;
  assert.equal(segment.event, 'audit.segment');
  assert.equal(segment.seq, 4);
  assert.equal(segment.prevHash, genesisHash);
  assert.match(segment.reason ?? '', /broken tail in audit\.log \(moved to audit\.log\.broken-/);
  assert.equal(next.seq, 5);
  const result = await verifyAuditFiles([path]);
  assert.equal(result.ok, true, result.message);
  assert.deepEqual(
    result.segments.map((s) => s.seq),
    [4],
  );
});

test('an edited last record is a broken tail', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  await writeLog(path, 2);
  const lines = await readLines(path);
  lines[1] = lines[1]!.replace('"user2"', '"mallory"');
  await writeFile(path, `${lines.join('\n')}\n`);
  await assert.rejects(createAuditLog({ path }), /seq 2\) does not match its hash/);
});

test('a write failure rejects append, counts and reports it', async (t) => {
  // /dev/full accepts open() and fails every write with ENOSPC, as a full disk does.
  const dir = await tempDir(t);
  const path = join(dir, 'audit.log');
  await symlink('/dev/full', path);
  const errors: number[] = [];
  const log = await createAuditLog({ path, onError: (_e, n) => errors.push(n) });
  assert.equal(log.healthy, true);
  const results = await Promise.allSettled([
    log.append(requestEntry('a')),
    log.append(requestEntry('b')),
  ]);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal((r.reason as AuditLogError).code, 'AUDIT_WRITE_FAILED');
  }
  assert.equal(log.healthy, false);
  assert.equal(log.writeFailures, 2);
  assert.equal(
    errors.reduce((a, b) => a + b, 0),
    2,
  );
  assert.equal(log.lastSeq, 0);
  await log.close();
});

test('after a failed rotation, the next write recovers with the chain intact', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  const log = await createAuditLog({ path, maxBytes: 800 });
  await log.append(requestEntry('1'));
  await log.append(requestEntry('2'));
  // A folder where the rotated file must go makes the rename fail.
  const blocker = rotatedAuditPath(path, 2);
  await mkdir(blocker);
  await writeFile(join(blocker, 'x'), 'x');
  await assert.rejects(log.append(requestEntry('3')), { code: 'AUDIT_WRITE_FAILED' });
  assert.equal(log.healthy, false);
  assert.equal(log.writeFailures, 1);
  await rm(blocker, { recursive: true });
  const record = await log.append(requestEntry('3 again'));
  assert.equal(record.seq, 3);
  assert.equal(log.healthy, true);
  await log.close();
  const result = await verifyAuditFiles([...(await listRotatedAuditFiles(path)), path]);
  assert.equal(result.records, 3);
  assert.equal(result.ok, true, result.message);
});

test('a path under a regular file fails to open', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'file'), 'x');
  await assert.rejects(createAuditLog({ path: join(dir, 'file', 'audit.log') }), (e: unknown) =>
    ['ENOTDIR', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? ''),
  );
});

test('no field beyond the allowed ones can be written', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  const log = await createAuditLog({ path });
  // @ts-expect-error the entry type has no room for a token
  const withToken = log.append({ event: 'request', outcome: 'allowed', token: 'eyJhbGciOi' });
  await assert.rejects(withToken, { name: 'TypeError', message: /"token" is not allowed/ });
  const bad = [
    { event: 'request', outcome: 'allowed', body: '{"inputs":[]}' },
    { event: 'nope', outcome: 'allowed' },
    { event: 'request', outcome: 'maybe' },
    { event: 'request', outcome: 'allowed', sub: 42 },
    { event: 'request', outcome: 'allowed', inputSha256: 'raw input' },
    { event: 'request', outcome: 'allowed', durationMs: Number.NaN },
    { event: 'request', outcome: 'allowed', status: 200.5 },
  ];
  for (const entry of bad) {
    await assert.rejects(log.append(entry as never), TypeError, JSON.stringify(entry));
  }
  const ok = await log.append({
    event: 'request',
    outcome: 'denied',
    path: '/v2/models/iris/infer?access_token=secret',
    reason: 'x'.repeat(5000),
  });
  await log.close();
  assert.equal(ok.path, '/v2/models/iris/infer');
  assert.equal(ok.reason?.length, 1024);
  const lines = await readLines(path);
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0]!, /secret|eyJhbGciOi|inputs/);
});

test('close flushes every queued record; append after close rejects', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  const log = await createAuditLog({ path, fsync: { intervalMs: 50 } });
  const pending = Array.from({ length: 100 }, (_, i) => log.append(requestEntry(`u${i}`)));
  await log.close();
  await Promise.all(pending);
  await log.close();
  await assert.rejects(log.append(requestEntry('late')), { code: 'AUDIT_CLOSED' });
  assert.equal((await readLines(path)).length, 100);
  assert.equal((await verifyAuditFiles([path])).ok, true);
});

test('interval policy: append resolves after the write, flush fsyncs', async (t) => {
  const path = join(await tempDir(t), 'audit.log');
  const log = await createAuditLog({ path, fsync: { intervalMs: 60_000 } });
  await log.append(requestEntry('a'));
  // Written to the kernel already, long before the 60 s sync.
  assert.equal((await readLines(path)).length, 1);
  await log.flush();
  await log.close();
  await assert.rejects(createAuditLog({ path, fsync: { intervalMs: 0 } }), RangeError);
});
