// The per-request logger stand-in: no pino child is made until the request logs, and then one,
// bound to the request id, whose lines are the same as a plain child's.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { LazyChildLogger, lazyChildLoggerFactory } from '../../src/http/lazy-child-logger.js';

function capture(level = 'info') {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  const logger = pino({ level, base: null, timestamp: false }, stream);
  let children = 0;
  // pino's children inherit from their parent, so this counts their children too: `this` is
  // whichever logger the child is made from.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- applied with its `this` below
  const child = logger.child;
  logger.child = function (this: typeof logger, ...args: Parameters<typeof child>) {
    children += 1;
    return child.apply(this, args);
  } as typeof logger.child;
  return { logger, lines, children: () => children };
}

void describe('LazyChildLogger', () => {
  void it('makes no child until the first log call, then exactly one', async () => {
    const { logger, lines, children } = capture();
    const log = lazyChildLoggerFactory(logger, { reqId: 'req-1' }, {});
    assert.ok(log instanceof LazyChildLogger);
    assert.equal(log.level, 'info', 'the parent level, read without a child');
    assert.equal(children(), 0);
    log.debug('below the level'); // still creates the child: the level check is pino's
    log.info({ n: 1 }, 'first');
    log.error('second');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(children(), 1);
    assert.deepEqual(
      lines.map(({ reqId, msg, n, level }) => ({ reqId, msg, n, level })),
      [
        { reqId: 'req-1', msg: 'first', n: 1, level: 30 },
        { reqId: 'req-1', msg: 'second', n: undefined, level: 50 },
      ],
    );
  });

  void it('honours a per-route level and passes child() through', async () => {
    const { logger, lines } = capture();
    const log = lazyChildLoggerFactory(logger, { reqId: 'req-2' }, { level: 'warn' });
    assert.equal(log.level, 'warn');
    log.info('dropped');
    log.child({ part: 'x' }).warn('kept');
    log.level = 'error';
    log.warn('dropped too');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      lines.map(({ reqId, part, msg }) => ({ reqId, part, msg })),
      [{ reqId: 'req-2', part: 'x', msg: 'kept' }],
    );
  });
});
