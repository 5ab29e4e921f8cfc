/**
 * The bench's stage attribution (bench/stages.ts) over a synthetic `.cpuprofile`: every sample
 * goes to the stage of the first frame, from the leaf up, that the mapping names.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stageTable, type StageProfile } from '../../bench/stage-table.js';
import {
  type CallFrame,
  type CpuProfile,
  stageBreakdown,
  sourceUrlOf,
  stageOfFrame,
  stageOfStack,
  stages,
} from '../../bench/stages.js';

const root = '/srv/bastion';
const own = (path: string, functionName: string): CallFrame => ({
  functionName,
  url: `file://${root}/src/${path}`,
});
const dep = (path: string, functionName: string): CallFrame => ({
  functionName,
  url: `file://${root}/node_modules/${path}`,
});
const node = (module: string, functionName: string): CallFrame => ({
  functionName,
  url: `node:${module}`,
});
const native = (functionName: string): CallFrame => ({ functionName, url: '' });
/** A file outside src/ (the bench's own). */
function file(path: string, functionName: string): CallFrame {
  return { functionName, url: `file://${root}/${path}` };
}

/**
 * Builds a profile from stacks given root first (leaf last), each sampled `us` microseconds in
 * one sample; stacks sharing a prefix share nodes, as V8's do.
 */
function profileOf(stacks: readonly { frames: readonly CallFrame[]; us: number }[]): CpuProfile {
  const nodes: { id: number; callFrame: CallFrame; children: number[] }[] = [
    { id: 1, callFrame: native('(root)'), children: [] },
  ];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  for (const { frames, us } of stacks) {
    let at = nodes[0]!;
    for (const frame of frames) {
      const found = at.children
        .map((id) => nodes.find((n) => n.id === id)!)
        .find(
          (n) => n.callFrame.url === frame.url && n.callFrame.functionName === frame.functionName,
        );
      if (found !== undefined) {
        at = found;
        continue;
      }
      const created = { id: nodes.length + 1, callFrame: frame, children: [] };
      nodes.push(created);
      at.children.push(created.id);
      at = created;
    }
    samples.push(at.id);
    timeDeltas.push(us);
  }
  return { nodes, samples, timeDeltas };
}

const http = [
  node('_http_common', 'parserOnHeadersComplete'),
  node('_http_server', 'parserOnIncoming'),
];
const fastify = [...http, dep('fastify/lib/route.js', 'routeHandler')];

const synthetic = profileOf([
  { frames: [native('(idle)')], us: 5000 },
  { frames: [native('(program)')], us: 700 },
  { frames: [native('(garbage collector)')], us: 300 },
  // HTTP: Node's parser and Fastify's own frames.
  { frames: http, us: 100 },
  { frames: fastify, us: 50 },
  // auth: jose under the token verifier; a native hash under the token cache.
  {
    frames: [
      ...fastify,
      own('auth/token-verifier.ts', 'verify'),
      dep('jose/dist/webapi/jws.js', 'flattenedVerify'),
    ],
    us: 40,
  },
  {
    frames: [
      ...fastify,
      own('auth/verified-token-cache.ts', 'get'),
      node('internal/crypto/hash', 'digest'),
      native('digest'),
    ],
    us: 10,
  },
  // parse: JSON.parse under the body parser; zod under the input schema.
  { frames: [...fastify, own('http/json-body.ts', 'parseJsonBytes'), native('parse')], us: 200 },
  {
    frames: [
      ...fastify,
      own('inference/input-schema.ts', 'bind'),
      dep('zod/v4/core/schemas.js', 'run'),
    ],
    us: 60,
  },
  // the input digest is taken in json-body.ts, but it is the audit's work.
  {
    frames: [
      ...fastify,
      own('http/json-body.ts', 'recordInputDigest'),
      node('internal/crypto/hash', 'update'),
      native('update'),
    ],
    us: 30,
  },
  // hand-off: postMessage to the worker; the message back.
  {
    frames: [
      node('internal/timers', 'processImmediate'),
      own('inference/worker-engine.ts', 'pump'),
      node('internal/worker', 'postMessage'),
      native('postMessage'),
    ],
    us: 400,
  },
  {
    frames: [
      node('internal/per_context/messageport', 'onmessage'),
      own('inference/worker-engine.ts', 'settle'),
    ],
    us: 80,
  },
  // inference inline: the binding's native run under onnxruntime-node.
  {
    frames: [
      own('inference/inline-engine.ts', 'run'),
      dep('onnxruntime-node/dist/backend.js', 'run'),
      native(''),
    ],
    us: 90,
  },
  // encode: the tensor JSON; the socket write of the response (a native under stream internals).
  {
    frames: [...fastify, own('inference/tensor-json.ts', 'tensorJson'), native('stringify')],
    us: 70,
  },
  { frames: [...fastify, own('inference/tensor-codec.ts', 'encodeTensor')], us: 5 },
  {
    frames: [
      dep('fastify/lib/reply.js', 'onSendEnd'),
      node('_http_outgoing', 'end'),
      node('net', 'Socket._writeGeneric'),
      node('internal/stream_base_commons', 'writevGeneric'),
      native('writev'),
    ],
    us: 120,
  },
  // audit: a native file write under fs/promises under the audit writer.
  {
    frames: [
      own('audit/audit-log.ts', 'writeBatch'),
      node('internal/fs/promises', 'write'),
      native('writeBuffer'),
    ],
    us: 150,
  },
  { frames: [own('audit/audit-log.ts', 'writeBatch'), native('fdatasync')], us: 20 },
  // metrics and logging.
  {
    frames: [
      ...fastify,
      own('http/observe-hooks.ts', ''),
      own('metrics/metrics.ts', 'inc'),
      dep('prom-client/lib/counter.js', 'inc'),
    ],
    us: 15,
  },
  { frames: [...fastify, dep('pino/lib/proto.js', 'write'), native('stringify')], us: 25 },
  // other: event-loop machinery with nothing named above it; and the profiler itself.
  {
    frames: [
      node('internal/process/task_queues', 'processTicksAndRejections'),
      native('runMicrotasks'),
    ],
    us: 35,
  },
  {
    frames: [
      file('bench/server-main.ts', 'profileCommand'),
      node('inspector', 'post'),
      native('dispatch'),
    ],
    us: 999,
  },
]);

test('every sample of a synthetic profile lands in its stage', () => {
  const b = stageBreakdown(synthetic);
  assert.deepEqual(b.byStage, {
    http: 150,
    auth: 50,
    parse: 260,
    handoff: 480,
    inference: 90,
    encode: 195,
    audit: 200,
    metrics: 15,
    logging: 25,
    gc: 300,
    other: 35,
  });
  assert.equal(b.idleUs, 5000);
  assert.equal(b.programUs, 700);
  assert.equal(b.harnessUs, 999, 'the profiler and IPC are kept out of the stages');
  assert.equal(
    b.busyUs,
    stages.reduce((sum, s) => sum + b.byStage[s], 0),
  );
  assert.equal(b.busyUs, 1800);
});

test('the stack is walked from the leaf: the first named frame wins, unnamed ones are transparent', () => {
  // The same native write is encode under a socket, audit under the audit writer.
  assert.equal(
    stageOfStack([
      native('writeBuffer'),
      node('internal/stream_base_commons', 'writeGeneric'),
      own('audit/audit-log.ts', 'x'),
    ]),
    'encode',
  );
  assert.equal(
    stageOfStack([
      native('writeBuffer'),
      node('internal/fs/promises', 'write'),
      own('audit/audit-log.ts', 'writeAll'),
    ]),
    'audit',
  );
  // JSON.stringify goes to its caller: pino → logging, tensor-json → encode.
  assert.equal(stageOfStack([native('stringify'), dep('pino/lib/tools.js', 'asJson')]), 'logging');
  assert.equal(
    stageOfStack([native('stringify'), own('inference/tensor-json.ts', 'tensorJson')]),
    'encode',
  );
  // Function-level rules refine their file's rule.
  assert.equal(stageOfFrame(own('inference/tensor-codec.ts', 'decodeElements')), 'parse');
  assert.equal(stageOfFrame(own('inference/tensor-codec.ts', 'encodeElements')), 'encode');
  assert.equal(stageOfFrame(dep('fastify/lib/reply.js', 'serialize')), 'encode');
  assert.equal(stageOfFrame(dep('fastify/lib/reply.js', 'Reply.header')), 'http');
  assert.equal(stageOfFrame(dep('@fastify/rate-limit/index.js', 'applyRateLimit')), 'auth');
  assert.equal(stageOfFrame(dep('@fastify/helmet/index.js', 'onRequest')), 'http');
  // A compiled build (dist/src/…js) maps like the sources.
  assert.equal(
    stageOfFrame({ functionName: 'verify', url: `file://${root}/dist/src/auth/token-verifier.js` }),
    'auth',
  );
  // Nothing named anywhere: other.
  assert.equal(stageOfStack([native('x'), node('events', 'emit')]), 'other');
  assert.equal(stageOfStack([]), 'other');
});

test('the table divides each stage by the requests served while profiled', () => {
  const breakdown = stageBreakdown(synthetic);
  const profile: StageProfile = {
    id: 'x',
    label: 'pool c=32',
    file: '/tmp/x.cpuprofile',
    requests: 10,
    perSec: 5,
    breakdown,
    processCpuPerRequest: 321,
    recordsPerFsync: 7.25,
    summary: {
      file: '/tmp/x.cpuprofile',
      busyMs: 1.8,
      idlePercent: 70,
      selfByFunction: [],
      inclusiveByModule: [],
    },
  };
  const { head, body } = stageTable([
    profile,
    { ...profile, label: 'naive c=32', requests: 0, recordsPerFsync: NaN },
  ]);
  assert.deepEqual(head.slice(1), ['pool c=32', 'naive c=32']);
  const cell = (prefix: string): readonly string[] =>
    body.find((r) => r[0]?.startsWith(prefix))!.slice(1);
  assert.deepEqual(cell('hand-off'), ['48', '–']);
  assert.deepEqual(cell('HTTP'), ['15', '–']);
  assert.deepEqual(cell('auth'), ['5.0', '–']);
  assert.deepEqual(cell('= sampled'), ['180', '–']);
  assert.deepEqual(cell('(program)'), ['70', '–']);
  assert.deepEqual(cell('process CPU'), ['321', '321']);
  assert.deepEqual(cell('audit records'), ['7.3', '–']);
  assert.equal(body.length, stages.length + 5);
});

test('frames of the compiled build the bench runs map to their sources', () => {
  const url = 'file:///repo/.bench-dist/audit/audit-log.js';
  assert.equal(sourceUrlOf(url), 'file:///repo/src/audit/audit-log.ts');
  assert.equal(stageOfFrame({ url, functionName: 'writeBatch', lineNumber: 1 }), 'audit');
  assert.equal(sourceUrlOf('node:net'), 'node:net');
});
