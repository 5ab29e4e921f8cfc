import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAuditLog } from '../../src/audit/audit-log.js';
import type { AuditRecord } from '../../src/audit/audit-record.js';
import { auditCommand, createAuditCommand } from '../../src/cli/audit-command.js';
import { captureIo } from '../helpers/capture-io.js';
import { readLines, requestEntry, tempDir, writeLog } from '../audit/audit-fixtures.js';

test('audit verify: 0 when intact, paths relative to cwd', async (t) => {
  const dir = await tempDir(t);
  await writeLog(join(dir, 'audit.log'), 3);
  const io = captureIo(dir);
  assert.equal(await auditCommand(['verify', 'audit.log'], io), 0);
  assert.equal(io.out.length, 1);
  assert.match(io.out[0]!, /intact: 3 records/);
  assert.deepEqual(io.err, []);
});

test('audit verify: 1 naming the first bad seq in one line', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.log');
  await writeLog(path, 5);
  const lines = await readLines(path);
  lines[3] = lines[3]!.replace('"user4"', '"user0"');
  await writeFile(path, `${lines.join('\n')}\n`);
  const io = captureIo(dir);
  assert.equal(await auditCommand(['verify', path], io), 1);
  assert.equal(io.err.length, 1);
  assert.match(io.err[0]!, /^audit verify: FAILED: seq 4: /);
  assert.deepEqual(io.out, []);
});

test('audit verify: --hmac-key-file and --anchor', async (t) => {
  const dir = await tempDir(t);
  const keyFile = join(dir, 'audit.key');
  const keyText = 'k'.repeat(40);
  await writeFile(keyFile, `${keyText}\n`);
  const path = join(dir, 'audit.log');
  await writeLog(path, 3, { hmacKey: new Uint8Array(Buffer.from(keyText)) });
  assert.equal(await auditCommand(['verify', path], captureIo(dir)), 1);
  assert.equal(
    await auditCommand(['verify', path, '--hmac-key-file', 'audit.key'], captureIo(dir)),
    0,
  );

  const lines = await readLines(path);
  const anchor = (JSON.parse(lines[0]!) as AuditRecord).hash;
  await writeFile(path, `${lines.slice(1).join('\n')}\n`);
  const io = captureIo(dir);
  assert.equal(await auditCommand(['verify', path, '--hmac-key-file=audit.key'], io), 1);
  assert.match(io.err[0]!, /seq 1: chain starts at seq 2/);
  assert.equal(
    await auditCommand(
      ['verify', path, '--hmac-key-file', keyFile, '--anchor', anchor],
      captureIo(dir),
    ),
    0,
  );
});

const usageCases: readonly (readonly string[])[] = [
  [],
  ['nope'],
  ['verify'],
  ['verify', 'a.log', '--anchor', 'xyz'],
  ['verify', 'a.log', '--anchor'],
  ['verify', 'a.log', '--bogus', '1'],
  ['verify', 'a.log', '--hmac-key-file', 'missing.key'],
  ['tail'],
  ['tail', 'a.log', 'b.log'],
  ['tail', 'a.log', '-n', '0'],
  ['tail', 'a.log', '-n', 'ten'],
  ['tail', 'a.log', '--outcome', 'maybe'],
  ['tail', 'a.log', '--since', 'yesterday'],
  ['tail', 'a.log', '--sub', 'a', '--sub', 'b'],
];

for (const argv of usageCases) {
  test(`audit ${argv.join(' ')}: usage error, exit 2, one line`, async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, 'short.key'), 'short');
    const io = captureIo(dir);
    assert.equal(await auditCommand(argv, io), 2);
    assert.equal(io.err.length, 1);
    assert.match(io.err[0]!, /^audit: /);
  });
}

test('audit --help prints usage, exit 0', async () => {
  const io = captureIo('/');
  assert.equal(await auditCommand(['--help'], io), 0);
  assert.match(io.out.join('\n'), /audit verify FILE/);
});

test('audit tail: last N matching records as JSON lines', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'audit.log');
  const log = await createAuditLog({ path });
  for (let i = 0; i < 6; i++) {
    await log.append(
      requestEntry(i % 2 === 0 ? 'alice' : 'bob', { outcome: i < 3 ? 'allowed' : 'denied' }),
    );
  }
  await log.close();

  const io = captureIo(dir);
  assert.equal(await auditCommand(['tail', 'audit.log', '-n', '2', '--sub', 'alice'], io), 0);
  assert.deepEqual(
    io.out.map((line) => (JSON.parse(line) as AuditRecord).seq),
    [3, 5],
  );
  assert.deepEqual(
    io.out,
    (await readLines(path)).filter((_, i) => i === 2 || i === 4),
  );

  const filtered = captureIo(dir);
  const since = new Date(Date.now() - 60_000).toISOString();
  const args = ['tail', path, '--outcome', 'denied', '--model', 'iris', '--since', since];
  assert.equal(await auditCommand([...args, '--until', '2999-01-01T00:00:00Z'], filtered), 0);
  assert.deepEqual(
    filtered.out.map((line) => (JSON.parse(line) as AuditRecord).seq),
    [4, 5, 6],
  );

  const viaDefault = captureIo('/');
  assert.equal(await createAuditCommand({ defaultPath: path })(['tail', '-n', '1'], viaDefault), 0);
  assert.equal(viaDefault.out.length, 1);

  const missing = captureIo(dir);
  assert.equal(await auditCommand(['tail', 'missing.log'], missing), 1);
  assert.match(missing.err[0]!, /cannot read missing\.log: ENOENT/);
});

test('audit verify: --key and --checkpoint report truncation; bad options are usage errors', async (t) => {
  const dir = await tempDir(t);
  const keyText = 'q'.repeat(32);
  await writeFile(join(dir, 'audit.key'), keyText);
  const path = join(dir, 'audit.log');
  const checkpointPath = join(dir, 'head.json');
  await writeLog(path, 5, { hmacKey: new Uint8Array(Buffer.from(keyText)), checkpointPath });
  const ok = captureIo(dir);
  assert.equal(
    await auditCommand(['verify', path, '--key', 'audit.key', '--checkpoint', 'head.json'], ok),
    0,
  );
  assert.match(ok.out[0]!, /checkpoint seq 5 found/);

  const lines = await readLines(path);
  await writeFile(path, `${lines.slice(0, 3).join('\n')}\n`);
  const cut = captureIo(dir);
  assert.equal(
    await auditCommand(['verify', path, '--key', 'audit.key', '--checkpoint', 'head.json'], cut),
    1,
  );
  assert.equal(cut.err.length, 1);
  assert.match(cut.err[0]!, /^audit verify: FAILED: seq 4: TRUNCATED.*2 record\(s\) cut/);
  // Without --checkpoint the shortened chain verifies: only the kept head shows the cut.
  assert.equal(await auditCommand(['verify', path, '--key', 'audit.key'], captureIo(dir)), 0);

  // A checkpoint without the key cannot be authenticated.
  const noKey = captureIo(dir);
  assert.equal(await auditCommand(['verify', path, '--checkpoint', 'head.json'], noKey), 1);
  assert.match(noKey.err[0]!, /does not verify.*give the audit key with --key/);

  const both = captureIo(dir);
  const args = ['verify', path, '--key', 'audit.key', '--hmac-key-file', 'audit.key'];
  assert.equal(await auditCommand(args, both), 2);
  assert.match(both.err[0]!, /not both/);
  const missing = captureIo(dir);
  assert.equal(await auditCommand(['verify', path, '--checkpoint', 'nope.json'], missing), 2);
  assert.match(missing.err[0]!, /cannot read checkpoint nope\.json: ENOENT/);
  await writeFile(join(dir, 'short.key'), 'x'.repeat(31));
  const short = captureIo(dir);
  assert.equal(await auditCommand(['verify', path, '--key', 'short.key'], short), 2);
  assert.match(short.err[0]!, /holds 31 bytes/);
});
