import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createKeyedLock } from '../../src/models/keyed-lock.js';

/** A promise and the function that resolves it. */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

void describe('keyed lock', () => {
  void it('runs the work of one key one piece at a time, in call order', async () => {
    const lock = createKeyedLock();
    const log: string[] = [];
    const first = gate();
    const a1 = lock.run('a', async () => {
      log.push('a1 start');
      await first.opened;
      log.push('a1 end');
      return 1;
    });
    const a2 = lock.run('a', () => {
      log.push('a2');
      return Promise.resolve(2);
    });
    // Let every queued microtask run: a2 must still wait for a1.
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(log, ['a1 start']);
    assert.equal(lock.size, 1);
    first.open();
    assert.deepEqual(await Promise.all([a1, a2]), [1, 2]);
    assert.deepEqual(log, ['a1 start', 'a1 end', 'a2']);
  });

  void it('does not hold one key up behind another', async () => {
    const lock = createKeyedLock();
    const blocked = gate();
    const a = lock.run('a', () => blocked.opened.then(() => 'a'));
    assert.equal(await lock.run('b', () => Promise.resolve('b')), 'b');
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(lock.size, 1, 'only "a" still has work');
    blocked.open();
    assert.equal(await a, 'a');
  });

  void it('a failure reaches its caller and does not block the next piece', async () => {
    const lock = createKeyedLock();
    const failed = lock.run('a', () => Promise.reject(new Error('boom')));
    const next = lock.run('a', () => Promise.resolve('after'));
    await assert.rejects(failed, /boom/);
    assert.equal(await next, 'after');
    // Work that throws before returning a promise is a rejection too.
    await assert.rejects(
      lock.run('a', () => {
        throw new Error('sync');
      }),
      /sync/,
    );
  });

  void it('forgets a key once its work has settled', async () => {
    const lock = createKeyedLock();
    await Promise.all([
      lock.run('a', () => Promise.resolve()),
      lock.run('b', () => Promise.reject(new Error('x'))).catch(() => undefined),
    ]);
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(lock.size, 0);
  });
});
