// Unit tests of the model walk: which files are read, in what order and under which names, the
// whole-file and per-shard digests (computed here with node:crypto over the same bytes), and the
// refusals. Real folders, symlinks and sockets in a temp folder; a sparse file stands in for a
// model too large to hold in one Buffer.
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { walkModel } from '../../../src/models/oms/model-walk.js';
import { createPathExclusion } from '../../../src/models/oms/path-exclusion.js';
import { refusal } from './oms-refusal.js';

async function dir(t: TestContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bastion-walk-'));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const none = createPathExclusion([]);

async function tree(t: TestContext, files: Record<string, string | Buffer>): Promise<string> {
  const root = join(await dir(t), 'model');
  await mkdir(root);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), content);
  }
  return root;
}

void describe('walkModel', () => {
  void it('reads every file once, in sorted order, by POSIX path, keeping bytes when asked', async (t) => {
    const root = await tree(t, {
      'b.txt': 'bee',
      'a/z.bin': 'zed',
      'a/c/d.onnx': 'dee',
      'A.md': 'upper',
    });
    const walked = await walkModel(root, { exclusion: none, keepBytes: true });
    assert.deepEqual(
      walked.map((f) => [f.name, f.digest, f.bytes?.toString(), f.shards]),
      [
        ['A.md', sha('upper'), 'upper', undefined],
        ['a/c/d.onnx', sha('dee'), 'dee', undefined],
        ['a/z.bin', sha('zed'), 'zed', undefined],
        ['b.txt', sha('bee'), 'bee', undefined],
      ],
    );
    const streamed = await walkModel(root, { exclusion: none, keepBytes: false });
    assert.deepEqual(
      streamed.map((f) => [f.name, f.digest, f.bytes]),
      walked.map((f) => [f.name, f.digest, undefined]),
    );
  });

  void it('leaves out excluded files and whole excluded folders; an empty folder adds nothing', async (t) => {
    const root = await tree(t, {
      'keep.txt': 'k',
      'skip/a.txt': 'a',
      'skip/deep/b.txt': 'b',
      'x/skip': 's',
    });
    await mkdir(join(root, 'empty'));
    const walked = await walkModel(root, {
      exclusion: createPathExclusion(['skip', 'x/skip']),
      keepBytes: false,
    });
    assert.deepEqual(
      walked.map((f) => f.name),
      ['keep.txt'],
    );
  });

  void it('a single file is named by its basename', async (t) => {
    const root = await tree(t, { 'w.onnx': 'weights' });
    const walked = await walkModel(join(root, 'w.onnx'), { exclusion: none, keepBytes: true });
    assert.deepEqual(
      walked.map((f) => [f.name, f.digest, f.bytes?.toString()]),
      [['w.onnx', sha('weights'), 'weights']],
    );
  });

  void it('hashes shards of shardSize bytes, the last one shorter, keyed path:start:end', async (t) => {
    const root = await tree(t, {
      'w.bin': 'abcdefghij',
      'even.bin': 'abcdefgh',
      'one.bin': 'a',
      'empty.bin': '',
    });
    for (const keepBytes of [true, false]) {
      const walked = await walkModel(root, { exclusion: none, keepBytes, shardSize: 4 });
      const shards = Object.fromEntries(
        walked.map((f) => [f.name, f.shards === undefined ? undefined : [...f.shards]]),
      );
      assert.deepEqual(shards, {
        'empty.bin': [],
        'even.bin': [
          ['even.bin:0:4', sha('abcd')],
          ['even.bin:4:8', sha('efgh')],
        ],
        'one.bin': [['one.bin:0:1', sha('a')]],
        'w.bin': [
          ['w.bin:0:4', sha('abcd')],
          ['w.bin:4:8', sha('efgh')],
          ['w.bin:8:10', sha('ij')],
        ],
      });
      assert.equal(walked.find((f) => f.name === 'w.bin')?.digest, sha('abcdefghij'));
    }
  });

  void it('shards span the 1 MiB read chunks correctly', async (t) => {
    // Three read chunks, and shard boundaries that fall inside the second and third: a shard
    // begun in one chunk must end at shardSize bytes in the next.
    const size = 2 * 1024 * 1024 + 300;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7) % 251;
    const root = await tree(t, { 'big.bin': data });
    const shardSize = 700_000;
    const expected: [string, string][] = [];
    for (let start = 0; start < size; start += shardSize) {
      const end = Math.min(start + shardSize, size);
      expected.push([`big.bin:${start}:${end}`, sha(data.subarray(start, end))]);
    }
    assert.equal(expected.length, 3);
    for (const keepBytes of [true, false]) {
      const [file] = await walkModel(root, { exclusion: none, keepBytes, shardSize });
      assert.deepEqual(file?.shards === undefined ? undefined : [...file.shards], expected);
      assert.equal(file?.digest, sha(data));
      assert.equal(file.bytes?.length, keepBytes ? size : undefined);
    }
  });

  void it('closes every file it opens, kept or streamed', async (t) => {
    const root = await tree(t, { 'a.bin': 'a', 'b.bin': 'b', 'c/d.bin': 'd' });
    const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
    const before = await fds();
    for (const keepBytes of [true, false]) {
      await walkModel(root, { exclusion: none, keepBytes, shardSize: keepBytes ? 1 : undefined });
    }
    assert.equal(await fds(), before);
  });

  void it('refuses a symlink, in the folder or as the model itself', async (t) => {
    const root = await tree(t, { 'a.txt': 'a' });
    await symlink(join(root, 'a.txt'), join(root, 'link.txt'));
    await assert.rejects(
      walkModel(root, { exclusion: none, keepBytes: false }),
      refusal('symlink', 'model file "link.txt" is a symlink'),
    );
    await assert.rejects(
      walkModel(join(root, 'link.txt'), { exclusion: none, keepBytes: false }),
      refusal('symlink', 'model file "link.txt" is a symlink'),
    );
    // An excluded symlink is never looked at.
    const walked = await walkModel(root, {
      exclusion: createPathExclusion(['link.txt']),
      keepBytes: false,
    });
    assert.deepEqual(
      walked.map((f) => f.name),
      ['a.txt'],
    );
  });

  void it('refuses a special file', async (t) => {
    const root = await tree(t, { 'a.txt': 'a' });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
    t.after(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
    );
    await assert.rejects(
      walkModel(root, { exclusion: none, keepBytes: false }),
      refusal('special-file', 'model entry "sock" is not a regular file or folder'),
    );
  });

  void it('refuses a file too large for one Buffer when the bytes are kept', async (t) => {
    const root = await tree(t, {});
    const path = join(root, 'huge.bin');
    const handle = await open(path, 'w');
    // Sparse: no disk is used for the hole.
    await handle.truncate(bufferConstants.MAX_LENGTH + 1);
    await handle.close();
    await assert.rejects(
      walkModel(root, { exclusion: none, keepBytes: true }),
      refusal('unsupported', 'model file "huge.bin" is too large'),
    );
  });
});
