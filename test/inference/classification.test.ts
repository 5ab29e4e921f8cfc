import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classificationCountOf,
  classify,
  classifyInSlices,
  labelsOf,
  parseLabels,
} from '../../src/inference/classification.js';
import { BastionError } from '../../src/errors.js';

const spec = { name: 'scores', type: 'float32', dims: [-1, 4] } as const;

void describe('classification', () => {
  void it('validates k against the output declaration', () => {
    assert.equal(classificationCountOf(spec, undefined), undefined);
    assert.equal(classificationCountOf(spec, 4), 4);
    for (const bad of [0, 5, -2, 2.5, '2', false, Number.NaN]) {
      assert.throws(
        () => classificationCountOf(spec, bad),
        (error) => error instanceof BastionError && error.code === 'INVALID_REQUEST',
        String(bad),
      );
    }
    assert.throws(
      () => classificationCountOf({ name: 'b', type: 'bool', dims: [3] }, 1),
      /not numeric/,
    );
    assert.throws(
      () => classificationCountOf({ name: 'c', type: 'float32', dims: [1, 2, 3] }, 1),
      /shape \[classes\] or \[batch, classes\]/,
    );
    // A dynamic class dimension is checked against the real output.
    assert.equal(classificationCountOf({ name: 'd', type: 'float32', dims: [-1, -1] }, 9), 9);
  });

  void it('ranks per row, ties by index, NaN last, with labels', () => {
    const tensor = {
      type: 'float32' as const,
      dims: [2, 4],
      data: Float32Array.from([0.1, 0.7, 0.7, Number.NaN, 3, -1, 2, 0.25]),
    };
    const out = classify('scores', tensor, 3, ['a', 'b', '', 'd']);
    assert.deepEqual(out.dims, [2, 3]);
    assert.deepEqual(out.data, ['0.7:1:b', '0.7:2', '0.1:0:a', '3:0:a', '2:2', '0.25:3:d']);
    assert.throws(() => classify('scores', tensor, 5, undefined), /only 4 classes/);
  });

  void it('keeps int64 scores exact and handles an unbatched output', () => {
    const tensor = {
      type: 'int64' as const,
      dims: [3],
      data: BigInt64Array.from([5n, 9007199254740993n, -1n]),
    };
    const out = classify('ints', tensor, 2, undefined);
    assert.deepEqual(out.dims, [2]);
    assert.deepEqual(out.data, ['9007199254740993:1', '5:0']);
  });

  void it('reads labels.txt: LF or CRLF, trailing newline ignored, UTF-8 only', () => {
    assert.deepEqual(parseLabels(Buffer.from('cat\r\ndog\n')), ['cat', 'dog']);
    assert.deepEqual(labelsOf(new Map([['labels.txt', Buffer.from('x\ny')]])), ['x', 'y']);
    assert.equal(labelsOf(new Map()), undefined);
    assert.throws(() => parseLabels(Uint8Array.from([0xff, 0xfe])));
  });

  void it('ranks a large output in slices exactly as at once', async () => {
    const rows = 5000;
    const data = Float32Array.from({ length: rows * 4 }, (_, i) => ((i * 7919) % 997) / 997);
    const tensor = { type: 'float32', dims: [rows, 4], data } as const;
    const labels = ['a', 'b', '', 'd'];
    const sliced = classifyInSlices('scores', tensor, 3, labels);
    assert.ok(sliced instanceof Promise, 'a large output is ranked in slices');
    assert.deepEqual(await sliced, classify('scores', tensor, 3, labels));
    const small = { type: 'float32', dims: [2, 4], data: data.subarray(0, 8) } as const;
    assert.deepEqual(
      classifyInSlices('scores', small, 2, labels),
      classify('scores', small, 2, labels),
    );
    assert.throws(() => classifyInSlices('scores', tensor, 5, labels), /only 4 classes/);
  });
});
