// The worker engine's restart policy on its own, with node:test's mock timers: the first restart
// is immediate, a streak of deaths without a finished run backs off exponentially up to 5 s, a
// finished run ends the streak, and closing cancels what is pending.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRestartPolicy, restartDelayMs } from '../../src/inference/restart-policy.js';

void describe('restart policy', () => {
  void it('backs off 0, 100, 200, 400 ms … capped at 5 s', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 20].map(restartDelayMs),
      [0, 100, 200, 400, 800, 1600, 3200, 5000, 5000],
    );
  });

  void it('schedules each start after its delay and counts restarts', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const policy = createRestartPolicy();
    const started: number[] = [];
    policy.schedule(() => started.push(1));
    t.mock.timers.tick(0);
    assert.deepEqual(started, [1], 'the first restart is immediate');
    policy.schedule(() => started.push(2));
    t.mock.timers.tick(99);
    assert.deepEqual(started, [1], 'the second waits 100 ms');
    t.mock.timers.tick(1);
    assert.deepEqual(started, [1, 2]);
    policy.schedule(() => started.push(3));
    t.mock.timers.tick(199);
    assert.deepEqual(started, [1, 2]);
    t.mock.timers.tick(1);
    assert.deepEqual(started, [1, 2, 3]);
    assert.equal(policy.restarts, 3);
  });

  void it('a finished run ends the streak: the next death restarts at once', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const policy = createRestartPolicy();
    let starts = 0;
    for (let i = 0; i < 4; i++) policy.schedule(() => (starts += 1));
    t.mock.timers.tick(10_000);
    assert.equal(starts, 4);
    policy.succeeded();
    policy.schedule(() => (starts += 1));
    t.mock.timers.tick(0);
    assert.equal(starts, 5);
  });

  void it('cancel drops every pending restart', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const policy = createRestartPolicy();
    let starts = 0;
    policy.schedule(() => (starts += 1));
    policy.schedule(() => (starts += 1));
    policy.cancel();
    t.mock.timers.tick(10_000);
    assert.equal(starts, 0);
    assert.equal(policy.restarts, 2, 'they still count as scheduled');
  });
});
