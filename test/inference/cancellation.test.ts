// Cancellation: a request's abort recorded in a field, with the AbortSignal (and the HTTP route's
// close listener, through `arm`) made only when an engine asks for it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cancellation } from '../../src/inference/cancellation.js';

void describe('Cancellation', () => {
  void it('records the first reason; later aborts change nothing', () => {
    const c = new Cancellation();
    assert.equal(c.aborted, false);
    c.abort('first');
    c.abort('second');
    assert.equal(c.aborted, true);
    assert.equal(c.reason, 'first');
    assert.equal(c.signal.aborted, true, 'a signal made afterwards is already aborted');
    assert.equal(c.signal.reason, 'first');
  });

  void it('arms once, on the first signal, and disarm undoes it', () => {
    const calls: string[] = [];
    const c = new Cancellation(() => {
      calls.push('arm');
      return () => calls.push('disarm');
    });
    c.disarm();
    assert.deepEqual(calls, [], 'nothing armed before a signal was asked for');
    const signal = c.signal;
    assert.equal(c.signal, signal, 'one signal');
    assert.deepEqual(calls, ['arm']);
    assert.equal(signal.aborted, false);
    c.abort('gone');
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, 'gone');
    c.disarm();
    c.disarm();
    assert.deepEqual(calls, ['arm', 'disarm'], 'disarmed once');
  });

  void it('does not arm a request cancelled before its signal was asked for', () => {
    let armed = 0;
    const c = new Cancellation(() => {
      armed += 1;
      return undefined;
    });
    c.abort(new Error('closed'));
    assert.equal(c.signal.aborted, true);
    assert.equal(armed, 0);
  });

  void it('lets arm cancel at once (the client already went away)', () => {
    const c = new Cancellation((self) => {
      self.abort('already closed');
      return undefined;
    });
    const signal = c.signal;
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, 'already closed');
  });
});
