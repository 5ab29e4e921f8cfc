/**
 * The streaming binary body reader against the one-shot way it replaced (concatenate the body,
 * hash it, split it at the header length), on random bodies cut into random chunks.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { receiveBinaryBody } from '../../src/http/binary-receive.js';
import { BastionError } from '../../src/errors.js';
// A seeded PRNG, so that a failure can be replayed from its seed.
import { mulberry32 } from '../../scripts/onnx/prng.js';

/** `body` as a stream that delivers it in random chunks (with an inflated stream's counter). */
function streamOf(body: Buffer, random: () => number, encoded = false): PassThrough {
  const stream = new PassThrough() as PassThrough & { receivedEncodedLength?: number };
  if (encoded) stream.receivedEncodedLength = 0;
  void (async () => {
    let at = 0;
    while (at < body.length) {
      const size = 1 + Math.floor(random() * Math.min(body.length - at, 70_000));
      stream.write(body.subarray(at, at + size));
      at += size;
      if (random() < 0.3) await new Promise((r) => setImmediate(r));
    }
    stream.end();
  })();
  return stream;
}

const isCode = (code: string) => (error: unknown) =>
  error instanceof BastionError && error.code === code;

void describe('receiveBinaryBody', () => {
  void it('equals concatenate, hash and split, on random bodies and chunkings', async () => {
    const seed = Number(process.env.BASTION_SEED ?? Date.now() % 1e9);
    const random = mulberry32(seed);
    for (let round = 0; round < 60; round++) {
      const size = Math.floor(random() * (round % 3 === 0 ? 300_000 : 3000));
      const body = randomBytes(size);
      const headerLength = Math.floor(random() * (size + 1));
      const known = random() < 0.5;
      const received = await receiveBinaryBody(streamOf(body, random, !known), {
        headerLength,
        declaredLength: known ? size : undefined,
        limit: size + Math.floor(random() * 10),
      });
      const why = `seed ${seed}, round ${round}: ${size} bytes, header ${headerLength}`;
      assert.ok(received.header.equals(body.subarray(0, headerLength)), why);
      assert.ok(Buffer.from(received.binary).equals(body.subarray(headerLength)), why);
      assert.equal(received.sha256, createHash('sha256').update(body).digest('hex'), why);
      // Its own buffer from offset 0: aligned for any element size, transferable as a whole.
      assert.equal(received.binary.byteOffset, 0, why);
      assert.equal(received.binary.buffer.byteLength, size - headerLength, why);
    }
  });

  void it('refuses a declared length over the limit before reading anything', async () => {
    const stream = new PassThrough();
    await assert.rejects(
      receiveBinaryBody(stream, { headerLength: 4, declaredLength: 101, limit: 100 }),
      isCode('BODY_TOO_LARGE'),
    );
    assert.equal(stream.listenerCount('data'), 0, 'nothing read');
  });

  void it('stops reading past the limit when the length is not known', async () => {
    const stream = streamOf(randomBytes(5000), mulberry32(1));
    await assert.rejects(
      receiveBinaryBody(stream, { headerLength: 4, declaredLength: undefined, limit: 4096 }),
      isCode('BODY_TOO_LARGE'),
    );
    assert.equal(stream.listenerCount('data'), 0, 'no longer listening');
  });

  void it('refuses a body shorter than its header, declared or found', async () => {
    await assert.rejects(
      receiveBinaryBody(new PassThrough(), { headerLength: 10, declaredLength: 9, limit: 100 }),
      (e: unknown) => isCode('INVALID_BINARY_DATA')(e) && /only 9 bytes/.test(String(e)),
    );
    await assert.rejects(
      receiveBinaryBody(streamOf(Buffer.alloc(9), mulberry32(2)), {
        headerLength: 10,
        declaredLength: undefined,
        limit: 100,
      }),
      (e: unknown) => isCode('INVALID_BINARY_DATA')(e) && /only 9 bytes/.test(String(e)),
    );
  });

  void it('refuses a body that does not match its declared length', async () => {
    for (const actual of [99, 101]) {
      await assert.rejects(
        receiveBinaryBody(streamOf(Buffer.alloc(actual), mulberry32(actual)), {
          headerLength: 10,
          declaredLength: 100,
          limit: 1000,
        }),
        isCode('BAD_REQUEST'),
      );
    }
  });

  void it('a stream that fails or closes early is a client error, not a crash', async () => {
    const failing = new PassThrough();
    const pending = receiveBinaryBody(failing, {
      headerLength: 1,
      declaredLength: 10,
      limit: 100,
    });
    failing.write(Buffer.alloc(3));
    failing.destroy(new Error('aborted'));
    await assert.rejects(pending, isCode('BAD_REQUEST'));
    const closing = new PassThrough();
    const early = receiveBinaryBody(closing, { headerLength: 1, declaredLength: 10, limit: 100 });
    closing.destroy();
    await assert.rejects(early, isCode('BAD_REQUEST'));
  });
});
