import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCleanup, startGateway, type TestGateway } from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';

const deep = (depth: number): string =>
  `{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":${'['.repeat(depth)}1${']'.repeat(depth)}}]}`;

/** Bodies an attacker might send; each must get a 4xx and leave the process serving. */
const hostile: { name: string; body: string; status?: number }[] = [
  { name: 'nesting 100 000 deep', body: deep(100_000) },
  { name: 'nesting 33 deep', body: deep(33) },
  { name: 'deeply nested object', body: `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}` },
  {
    name: 'a huge array for a one-row shape',
    body: JSON.stringify({
      inputs: [
        { name: 'features', shape: [1, 4], datatype: 'FP32', data: new Array(200_000).fill(0) },
      ],
    }),
  },
  {
    name: 'a huge declared shape with little data',
    body: JSON.stringify({
      inputs: [{ name: 'features', shape: [2147483648, 2147483648], datatype: 'FP32', data: [1] }],
    }),
  },
  {
    name: 'rank 17',
    body: JSON.stringify({
      inputs: [{ name: 'features', shape: new Array(17).fill(1), datatype: 'FP32', data: [1] }],
    }),
  },
  { name: '__proto__ at the top', body: '{"__proto__":{"polluted":true},"inputs":[]}' },
  {
    name: '__proto__ inside an input',
    body: '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[1,2,3,4],"__proto__":{"isAdmin":true}}]}',
  },
  {
    name: 'constructor.prototype',
    body: '{"constructor":{"prototype":{"polluted":true}},"inputs":[]}',
  },
  {
    name: 'an input named __proto__',
    body: '{"inputs":[{"name":"__proto__","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}',
  },
  {
    name: 'an output named constructor',
    body: '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}],"outputs":[{"name":"constructor"}]}',
  },
  { name: 'inputs is a string', body: '{"inputs":"features"}' },
  { name: 'inputs holds numbers', body: '{"inputs":[1,2,3]}' },
  {
    name: 'shape holds strings',
    body: '{"inputs":[{"name":"features","shape":["1","4"],"datatype":"FP32","data":[1,2,3,4]}]}',
  },
  {
    name: 'datatype is an object',
    body: '{"inputs":[{"name":"features","shape":[1,4],"datatype":{},"data":[1,2,3,4]}]}',
  },
  {
    name: 'data is a string',
    body: '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":"1,2,3,4"}]}',
  },
  {
    name: 'data holds objects',
    body: '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[{},{},{},{}]}]}',
  },
  {
    name: 'a 100 kB input name',
    body: JSON.stringify({
      inputs: [{ name: 'x'.repeat(100_000), shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
    }),
  },
  {
    name: 'id is a number',
    body: '{"id":5,"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}',
  },
  { name: 'parameters hold an object', body: '{"parameters":{"a":{"b":1}},"inputs":[]}' },
  {
    name: 'a lone surrogate and NUL in strings',
    body: '{"id":"\\ud800\\u0000","inputs":[{"name":"\\u0000","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}',
  },
  {
    name: 'invalid UTF-8 bytes',
    body: '{"inputs":[{"name":"\u00ff\u00fe","shape":[1],"datatype":"FP32","data":[1]}]}',
  },
  {
    name: 'a number with 10 000 digits',
    body: `{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[${'9'.repeat(10_000)},1,2,3]}]}`,
  },
  { name: 'null', body: 'null' },
  { name: 'a bare string', body: '"hello"' },
  { name: 'trailing garbage', body: '{"inputs":[]} xyz' },
];

void describe('hostile bodies never crash or 500 the gateway', () => {
  const cleanup = createCleanup();
  let gw: TestGateway;
  after(() => cleanup.run());
  before(async () => {
    gw = await startGateway(cleanup, demoModels);
  });

  for (const { name, body } of hostile) {
    void it(name, async () => {
      const res = await gw.post(`/v2/models/iris/infer`, body);
      assert.ok(
        res.status >= 400 && res.status < 500,
        `status ${res.status}: ${JSON.stringify(res.body)}`,
      );
      const { error, code } = res.body as { error: string; code: string };
      assert.equal(typeof code, 'string');
      assert.ok(error.length < 2000, 'the error does not echo huge input back');
      const live = await fetch(`${gw.url}/v2/health/live`);
      assert.equal(live.status, 200);
    });
  }

  void it('nothing was polluted and the gateway still infers correctly', async () => {
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
    const res = await gw.post(`/v2/models/iris/infer`, {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }],
      outputs: [{ name: 'label' }],
    });
    assert.equal(res.status, 200);
    assert.deepEqual((res.body as { outputs: { data: number[] }[] }).outputs[0]?.data, [2]);
    assert.equal(
      gw.log.filter((l) => l.level === 50).length,
      0,
      'no error-level log lines (no 500s)',
    );
  });
});
