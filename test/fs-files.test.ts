import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exists, isNotFound, unlessMissing, writeFileAtomic } from '../src/fs-files.js';
import { tempDir } from './helpers/gateway.js';

void describe('fs-files', () => {
  void it('unlessMissing: undefined for ENOENT only; any other failure is thrown', async (t) => {
    const dir = await tempDir(t);
    assert.equal(await unlessMissing(readFile(join(dir, 'absent'), 'utf8')), undefined);
    await assert.rejects(unlessMissing(readFile(dir, 'utf8')), { code: 'EISDIR' });
    assert.equal(isNotFound(Object.assign(new Error('x'), { code: 'EACCES' })), false);
    assert.equal(isNotFound(undefined), false);
    assert.equal(await exists(join(dir, 'absent')), false);
    assert.equal(await exists(dir), true);
  });

  void it('writeFileAtomic replaces, or refuses to (EEXIST), leaving no temporary file', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'key');
    await writeFileAtomic(path, 'one', { mode: 0o600, overwrite: false, durable: true });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await assert.rejects(writeFileAtomic(path, 'two', { mode: 0o600, overwrite: false }), {
      code: 'EEXIST',
    });
    assert.equal(await readFile(path, 'utf8'), 'one');
    await writeFileAtomic(path, 'three', { mode: 0o600, overwrite: true });
    assert.equal(await readFile(path, 'utf8'), 'three');
    assert.deepEqual(await readdir(dir), ['key']);
  });
});
