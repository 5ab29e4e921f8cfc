// Unit tests of the head checkpoint as a file format: its MAC (a known answer computed here with
// node:crypto over the documented form: a fixed prefix line, then the sorted-key JSON), every
// reason the parser gives for an unusable checkpoint, the atomic write, and the keeper that
// rewrites it beside the log. Real files in a temp folder.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import {
  createCheckpointKeeper,
  makeAuditCheckpoint,
  parseAuditCheckpoint,
  readAuditCheckpoint,
  writeAuditCheckpoint,
  type AuditCheckpoint,
} from '../../src/audit/audit-checkpoint.js';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-checkpoint-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

const key = Buffer.from('c'.repeat(32));
const head = {
  log: '/var/lib/bastion/audit.log',
  file: '/var/lib/bastion/audit.log',
  offset: 1234,
  seq: 7,
  hash: 'ab'.repeat(32),
};
const at = new Date('2026-03-04T05:06:07.089Z');
/** The MAC input, written out: prefix line, then the fields in sorted order without whitespace. */
const macInput = `bastion audit checkpoint v1\n{"file":"audit.log","hash":"${'ab'.repeat(32)}","log":"/var/lib/bastion/audit.log","offset":1234,"seq":7,"ts":"2026-03-04T05:06:07.089Z","v":1}`;

void describe('makeAuditCheckpoint', () => {
  void it('stamps the head, keeps only the file name, and keys it (known answer)', () => {
    const keyed = makeAuditCheckpoint(head, key, at);
    assert.deepEqual(keyed, {
      v: 1,
      log: head.log,
      file: 'audit.log',
      offset: 1234,
      seq: 7,
      hash: head.hash,
      ts: '2026-03-04T05:06:07.089Z',
      mac: createHmac('sha256', key).update(macInput, 'utf8').digest('hex'),
    });
    const plain = makeAuditCheckpoint(head, undefined, at);
    assert.equal(plain.mac, createHash('sha256').update(macInput, 'utf8').digest('hex'));
  });
});

void describe('parseAuditCheckpoint', () => {
  const good = makeAuditCheckpoint(head, key, at);
  const text = (value: unknown) => JSON.stringify(value);

  void it('accepts the file form and a witness log line carrying it as auditHead', () => {
    assert.deepEqual(parseAuditCheckpoint(text(good), key), good);
    const witness = text({ level: 30, msg: 'audit head', auditHead: good });
    assert.deepEqual(parseAuditCheckpoint(witness, key), good);
    const first = makeAuditCheckpoint({ ...head, seq: 0, offset: 0 }, undefined, at);
    assert.deepEqual(parseAuditCheckpoint(text(first), undefined), first);
  });

  const wrongType = 'has a field of the wrong type';
  const cases: [string, string, string][] = [
    ['text that is not JSON', '{', 'is not valid JSON'],
    ['a number', '5', 'is not a JSON object'],
    ['null', 'null', 'is not a JSON object'],
    ['a witness line whose auditHead is null', text({ auditHead: null }), 'is not a JSON object'],
    ['an array', '[]', 'is not a Bastion audit checkpoint (v1)'],
    ['another version', text({ ...good, v: 2 }), 'is not a Bastion audit checkpoint (v1)'],
    ['an extra field', text({ ...good, extra: 1 }), 'is not a Bastion audit checkpoint (v1)'],
    [
      'a missing field',
      text({ ...good, mac: undefined }),
      'is not a Bastion audit checkpoint (v1)',
    ],
    ['a numeric log', text({ ...good, log: 1 }), wrongType],
    ['a file name with a folder', text({ ...good, file: 'x/audit.log' }), wrongType],
    ['a numeric file', text({ ...good, file: 1 }), wrongType],
    ['a numeric ts', text({ ...good, ts: 1 }), wrongType],
    ['a negative offset', text({ ...good, offset: -1 }), wrongType],
    ['a fractional offset', text({ ...good, offset: 1.5 }), wrongType],
    ['a string offset', text({ ...good, offset: '1' }), wrongType],
    ['a negative seq', text({ ...good, seq: -1 }), wrongType],
    ['a fractional seq', text({ ...good, seq: 7.5 }), wrongType],
    ['an unsafe seq', text({ ...good, seq: 2 ** 53 }), wrongType],
    ['a string seq', text({ ...good, seq: '7' }), wrongType],
    ['an uppercase hash', text({ ...good, hash: 'AB'.repeat(32) }), wrongType],
    ['a hash with a prefix', text({ ...good, hash: `z${'ab'.repeat(32)}` }), wrongType],
    ['a hash with a suffix', text({ ...good, hash: `${'ab'.repeat(32)}z` }), wrongType],
    ['a short hash', text({ ...good, hash: 'ab'.repeat(31) }), wrongType],
    ['a numeric hash', text({ ...good, hash: 1 }), wrongType],
    ['a numeric mac', text({ ...good, mac: 1 }), wrongType],
    [
      'an edited seq',
      text({ ...good, seq: 8 }),
      'does not verify with the audit key: it was modified, or written with another key',
    ],
    [
      'an edited time',
      text({ ...good, ts: '2026-03-04T05:06:08.089Z' }),
      'does not verify with the audit key: it was modified, or written with another key',
    ],
  ];
  for (const [name, input, reason] of cases) {
    void it(`refuses ${name}: ${reason}`, () => {
      assert.equal(parseAuditCheckpoint(input, key), reason);
    });
  }

  void it('refuses a checkpoint keyed with another key, or with none', () => {
    const reason =
      'does not verify with the audit key: it was modified, or written with another key';
    assert.equal(parseAuditCheckpoint(text(good), Buffer.from('d'.repeat(32))), reason);
    assert.equal(parseAuditCheckpoint(text(good), undefined), reason);
    assert.equal(parseAuditCheckpoint(text(makeAuditCheckpoint(head, undefined, at)), key), reason);
  });
});

void describe('checkpoint files', () => {
  const checkpoint: AuditCheckpoint = makeAuditCheckpoint(head, key, at);

  void it('writes one JSON line, mode 0600, creating its folder 0700, with no temp file left', async (t) => {
    const d = await dir(t);
    const folder = join(d, 'state', 'audit');
    const path = join(folder, 'checkpoint.json');
    for (const durable of [false, true]) {
      await writeAuditCheckpoint(path, checkpoint, durable);
      assert.equal(await readFile(path, 'utf8'), `${JSON.stringify(checkpoint)}\n`);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal((await stat(folder)).mode & 0o777, 0o700);
      assert.deepEqual(await readdir(folder), ['checkpoint.json']);
    }
    assert.deepEqual(await readAuditCheckpoint(path, key), checkpoint);
  });

  void it('durable writes close every file they open', async (t) => {
    const d = await dir(t);
    const path = join(d, 'checkpoint.json');
    const openFiles = async () => (await readdir('/proc/self/fd')).length;
    await writeAuditCheckpoint(path, checkpoint, true);
    const before = await openFiles();
    for (let i = 0; i < 30; i++) await writeAuditCheckpoint(path, checkpoint, true);
    // A leak would leave 30 more descriptors; allow for the runner's own coming and going.
    const grown = (await openFiles()) - before;
    assert.ok(grown < 10, `${grown} more open files after 30 durable writes`);
  });

  void it('reading: undefined when absent, the reason when unusable, the error otherwise', async (t) => {
    const d = await dir(t);
    assert.equal(await readAuditCheckpoint(join(d, 'none.json'), key), undefined);
    await writeFile(join(d, 'bad.json'), 'not json');
    assert.equal(await readAuditCheckpoint(join(d, 'bad.json'), key), 'is not valid JSON');
    await assert.rejects(readAuditCheckpoint(d, key), { code: 'EISDIR' });
  });

  void it('a failed write leaves no temp file and the old checkpoint in place', async (t) => {
    const d = await dir(t);
    const path = join(d, 'checkpoint.json');
    await writeAuditCheckpoint(path, checkpoint, false);
    // A folder where the checkpoint should go: the rename over it fails.
    const blocked = join(d, 'blocked');
    await mkdir(join(blocked, 'inside'), { recursive: true });
    await assert.rejects(writeAuditCheckpoint(blocked, checkpoint, false));
    assert.deepEqual((await readdir(d)).sort(), ['blocked', 'checkpoint.json']);
  });
});

void describe('createCheckpointKeeper', () => {
  const clock = () => at;

  void it('writes the latest head beside the log, and durably at close', async (t) => {
    const d = await dir(t);
    const path = join(d, 'checkpoint.json');
    const errors: Error[] = [];
    const keeper = createCheckpointKeeper(path, key, clock, (e) => errors.push(e));
    assert.equal(keeper.current(), undefined);
    keeper.update({ ...head, seq: 1 });
    keeper.update({ ...head, seq: 2 });
    keeper.update({ ...head, seq: 3 });
    assert.deepEqual(keeper.current(), makeAuditCheckpoint({ ...head, seq: 3 }, key, at));
    await keeper.close();
    assert.deepEqual(
      await readAuditCheckpoint(path, key),
      makeAuditCheckpoint({ ...head, seq: 3 }, key, at),
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(await readdir(d), ['checkpoint.json']);
  });

  void it('close stamps the last head with the time of closing', async (t) => {
    const d = await dir(t);
    const path = join(d, 'checkpoint.json');
    let ms = Date.parse('2026-03-04T00:00:00.000Z');
    const keeper = createCheckpointKeeper(
      path,
      key,
      () => new Date((ms += 1000)),
      () => undefined,
    );
    keeper.update(head);
    await keeper.close();
    const cp = await readAuditCheckpoint(path, key);
    assert.ok(typeof cp === 'object', `unusable checkpoint: ${JSON.stringify(cp)}`);
    assert.equal(cp.ts, new Date(ms).toISOString(), 'written at close, not only when updated');
  });

  void it('close without any head writes nothing', async (t) => {
    const d = await dir(t);
    const keeper = createCheckpointKeeper(join(d, 'checkpoint.json'), key, clock, () => undefined);
    await keeper.close();
    assert.deepEqual(await readdir(d), []);
  });

  void it('without a path it still gives the current checkpoint, and writes nothing', async (t) => {
    const d = await dir(t);
    const keeper = createCheckpointKeeper(undefined, undefined, clock, () => undefined);
    keeper.update(head);
    assert.deepEqual(keeper.current(), makeAuditCheckpoint(head, undefined, at));
    await keeper.close();
    assert.deepEqual(await readdir(d), []);
  });

  void it('reports a failed write and retries with the next head', async (t) => {
    const d = await dir(t);
    const path = join(d, 'checkpoint.json');
    await mkdir(join(path, 'inside'), { recursive: true });
    const errors: Error[] = [];
    const keeper = createCheckpointKeeper(path, key, clock, (e) => errors.push(e));
    keeper.update({ ...head, seq: 1 });
    await new Promise<void>((resolve) => {
      const poll = (): void => {
        if (errors.length > 0) resolve();
        else setImmediate(poll);
      };
      poll();
    });
    assert.ok(errors[0] instanceof Error, 'errors[0] instanceof Error');
    await rm(path, { recursive: true });
    keeper.update({ ...head, seq: 2 });
    await keeper.close();
    assert.deepEqual(
      await readAuditCheckpoint(path, key),
      makeAuditCheckpoint({ ...head, seq: 2 }, key, at),
    );
  });
});
