// Unit tests of the names a signature may carry and the paths it may leave out: resource names,
// shard names, ignore paths and the manifest comparison. These decide which files a signature
// covers, so every refusal is checked by its exact message and every accepted edge is pinned.
import assert from 'node:assert/strict';
import { sep } from 'node:path';
import { describe, it } from 'node:test';
import { assertSameDigests } from '../../../src/models/oms/manifest-compare.js';
import {
  createPathExclusion,
  defaultIgnorePaths,
  isInside,
  normalizeIgnorePath,
} from '../../../src/models/oms/path-exclusion.js';
import { assertResourceName, parseShardName } from '../../../src/models/oms/resource-name.js';
import { refusal } from './oms-refusal.js';

const unsafe = (name: string, why: string) =>
  refusal(
    'resource-name',
    `signature lists an unsafe resource name ${JSON.stringify(name)}: ${why}`,
  );

void describe('assertResourceName', () => {
  void it('accepts plain relative paths, "." alone, and names that merely start with dots', () => {
    for (const name of ['.', 'a', 'a/b/c.onnx', '.hidden', 'a/..b', 'a/b..', '...', 'a.']) {
      assert.doesNotThrow(() => {
        assertResourceName(name);
      }, name);
    }
  });
  const refused: [string, string][] = [
    ['', 'it is empty'],
    ['a\0b', 'it contains NUL'],
    ['a\\b', 'it contains a backslash'],
    ['\\a', 'it contains a backslash'],
    ['/etc/passwd', 'it is absolute'],
    ['/', 'it is absolute'],
    ['..', 'it contains ".."'],
    ['../a', 'it contains ".."'],
    ['a/..', 'it contains ".."'],
    ['a/../b', 'it contains ".."'],
    ['a//b', 'it has an empty or "." segment'],
    ['a/', 'it has an empty or "." segment'],
    ['./a', 'it has an empty or "." segment'],
    ['a/.', 'it has an empty or "." segment'],
    ['a/./b', 'it has an empty or "." segment'],
  ];
  for (const [name, why] of refused) {
    void it(`refuses ${JSON.stringify(name)}: ${why}`, () => {
      assert.throws(
        () => {
          assertResourceName(name);
        },
        unsafe(name, why),
      );
    });
  }
});

void describe('parseShardName', () => {
  void it('splits path:start:end, the path itself possibly holding colons', () => {
    assert.deepEqual(parseShardName('w.bin:0:4'), { path: 'w.bin', start: 0, end: 4 });
    assert.deepEqual(parseShardName('a/b:c.bin:10:20'), { path: 'a/b:c.bin', start: 10, end: 20 });
    assert.deepEqual(parseShardName('.:4:8'), { path: '.', start: 4, end: 8 });
    assert.deepEqual(parseShardName(`x:0:${Number.MAX_SAFE_INTEGER}`), {
      path: 'x',
      start: 0,
      end: Number.MAX_SAFE_INTEGER,
    });
  });
  const notForm = 'it is not path:start:end';
  const badRange = 'its byte range is empty or too large';
  const refused: [string, string][] = [
    ['w.bin', notForm],
    ['w.bin:4', notForm],
    ['w.bin:a:4', notForm],
    ['w.bin:01:4', notForm],
    ['w.bin:0:04', notForm],
    ['w.bin:0:0', notForm],
    ['w.bin:-1:4', notForm],
    ['w.bin:0:4x', notForm],
    ['x:w.bin:0:4\n', notForm],
    // A line break before the name: the whole name must be path:start:end, not its last line
    // (which would make this a shard of "w.bin").
    ['evil\nw.bin:0:4', notForm],
    ['w.bin:4:4', badRange],
    ['w.bin:5:4', badRange],
    [`w.bin:0:${2 ** 53}`, badRange],
  ];
  for (const [name, why] of refused) {
    void it(`refuses ${JSON.stringify(name)}: ${why}`, () => {
      assert.throws(() => parseShardName(name), unsafe(name, why));
    });
  }
  void it('checks the path part as a resource name', () => {
    assert.throws(() => parseShardName('../w.bin:0:4'), unsafe('../w.bin', 'it contains ".."'));
    assert.throws(() => parseShardName(':0:4'), unsafe('', 'it is empty'));
  });
});

void describe('ignore paths', () => {
  void it('the defaults are the reference tool’s', () => {
    assert.deepEqual([...defaultIgnorePaths], ['.git', '.gitattributes', '.github', '.gitignore']);
  });

  void it('normalizes to a relative POSIX path, or undefined when it can never match', () => {
    const cases: [string, string | undefined][] = [
      ['a', 'a'],
      ['a/b', 'a/b'],
      ['./a', 'a'],
      ['././a/', 'a'],
      ['a//', 'a'],
      ['a\\b', 'a/b'],
      ['.\\a\\', 'a'],
      ['a//b///c', 'a/b/c'],
      ['.a', '.a'],
      ['a/..b', 'a/..b'],
      ['', undefined],
      ['.', undefined],
      ['./', undefined],
      ['/', undefined],
      ['/abs', undefined],
      ['\\abs', undefined],
      ['..', undefined],
      ['../a', undefined],
      ['a/../b', undefined],
      ['a/..', undefined],
    ];
    for (const [input, expected] of cases)
      assert.equal(normalizeIgnorePath(input), expected, input);
  });

  void it('excludes a path or anything inside it, never by basename or name prefix', () => {
    const excluded = createPathExclusion(['a/b', './c/', '/abs', '..', 'd\\e']);
    const cases: [string, boolean][] = [
      ['a/b', true],
      ['a/b/x', true],
      ['a/b/x/y', true],
      ['c', true],
      ['c/z', true],
      ['d/e', true],
      ['d/e/f', true],
      ['a', false],
      ['a/bc', false],
      ['a/bc/x', false],
      ['x/a/b', false],
      ['b', false],
      ['cc', false],
      ['abs', false],
      ['d', false],
      ['', false],
    ];
    for (const [path, expected] of cases) assert.equal(excluded(path), expected, path);
    assert.equal(createPathExclusion([])('anything'), false);
    assert.equal(createPathExclusion(new Set(['x']))('x/y'), true);
  });

  void it('isInside: strictly inside the root, as path.relative writes it', () => {
    const cases: [string, boolean][] = [
      ['a', true],
      [`a${sep}b`, true],
      ['..a', true],
      [`..a${sep}b`, true],
      ['', false],
      ['..', false],
      [`..${sep}a`, false],
      [`${sep}abs`, false],
    ];
    for (const [path, expected] of cases) assert.equal(isInside(path), expected, path);
  });
});

void describe('assertSameDigests', () => {
  const map = (entries: Record<string, string>) => new Map(Object.entries(entries));

  void it('passes when names and digests match, whatever the order', () => {
    assert.doesNotThrow(() => {
      assertSameDigests(map({ a: '1', b: '2' }), map({ b: '2', a: '1' }));
    });
    assert.doesNotThrow(() => {
      assertSameDigests(new Map(), new Map());
    });
  });

  void it('reports missing first, then extra, then changed', () => {
    assert.throws(
      () => {
        assertSameDigests(map({ a: '1', b: '2' }), map({ b: '3', c: '4' }));
      },
      refusal('file-missing', 'signed file missing from the model: "a"'),
    );
    assert.throws(
      () => {
        assertSameDigests(map({ a: '1' }), map({ a: '2', c: '4' }));
      },
      refusal('file-extra', 'model has unsigned files: "c"'),
    );
    assert.throws(
      () => {
        assertSameDigests(map({ a: '1', b: '2', c: '3' }), map({ a: '1', b: '0', c: '0' }));
      },
      refusal('digest-mismatch', 'model file content differs from the signature: "b", "c"'),
    );
  });

  void it('says shard for shards', () => {
    assert.throws(
      () => {
        assertSameDigests(map({ 'a:0:1': '1' }), map({}), 'shard');
      },
      refusal('file-missing', 'signed shard missing from the model: "a:0:1"'),
    );
    assert.throws(
      () => {
        assertSameDigests(map({}), map({ 'a:0:1': '1' }), 'shard');
      },
      refusal('file-extra', 'model has unsigned shards: "a:0:1"'),
    );
    assert.throws(
      () => {
        assertSameDigests(map({ 'a:0:1': '1' }), map({ 'a:0:1': '2' }), 'shard');
      },
      refusal('digest-mismatch', 'model shard content differs from the signature: "a:0:1"'),
    );
  });

  void it('lists three names, then says how many more', () => {
    const signed = map({ a: '1', b: '2', c: '3', d: '4', e: '5' });
    assert.throws(
      () => {
        assertSameDigests(signed, map({}));
      },
      refusal('file-missing', 'signed file missing from the model: "a", "b", "c" and 2 more'),
    );
    assert.throws(
      () => {
        assertSameDigests(map({ a: '1', b: '2', c: '3' }), map({}));
      },
      refusal('file-missing', 'signed file missing from the model: "a", "b", "c"'),
    );
    assert.throws(
      () => {
        assertSameDigests(map({ a: '1', b: '2', c: '3', d: '4' }), map({}));
      },
      refusal('file-missing', 'signed file missing from the model: "a", "b", "c" and 1 more'),
    );
  });
});
