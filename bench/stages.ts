/**
 * Where a server's main-thread CPU goes, by stage of a request, from a V8 `.cpuprofile` alone
 * (no instrumentation in the hot path). Each non-idle sample is attributed by walking its stack
 * from the leaf towards the root to the first frame that one of {@link stageRules} names; frames
 * no rule names (Node's generic internals: events, timers, promises, fs, crypto, and native
 * builtins such as `JSON.parse` or a binding's `writeBuffer`) are transparent, so a native write
 * under `src/audit/` is audit and a `JSON.stringify` under pino is logging. A sample whose stack
 * no rule names is `other` (event-loop machinery, the gateway's own wiring).
 *
 * This file is the one mapping table: when the gateway grows a file, name it here.
 */

/** The stages of a request, in the order the tables show them. */
export const stages = [
  'http',
  'auth',
  'parse',
  'handoff',
  'inference',
  'encode',
  'audit',
  'metrics',
  'logging',
  'gc',
  'other',
] as const;

/** One stage. */
export type Stage = (typeof stages)[number];

/** Where a sample goes: a stage, or the bench harness (the profiler itself, IPC), not counted. */
export type Attribution = Stage | 'harness';

/** Row labels of the tables. */
export const stageLabels: Readonly<Record<Stage, string>> = {
  http: 'HTTP (receive, route, hooks)',
  auth: 'auth (+ rate limit)',
  parse: 'parse + validate',
  handoff: 'hand-off (queue, worker)',
  inference: 'inference (inline)',
  encode: 'encode + write',
  audit: 'audit',
  metrics: 'metrics',
  logging: 'logging',
  gc: 'GC',
  other: 'other',
};

/** A frame of a V8 CPU profile. */
export interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber?: number;
}

/** One rule: a frame whose `url` and `fn` (function name) both match belongs to `stage`. */
export interface StageRule {
  readonly stage: Attribution;
  readonly url?: RegExp;
  readonly fn?: RegExp;
}

const src = (path: string): RegExp => new RegExp(`/src/${path}`);
const pkg = (names: string): RegExp => new RegExp(`/node_modules/(?:${names})/`);

/**
 * The mapping, first match wins for a frame: function-level rules come before the file or
 * package rule they refine.
 */
export const stageRules: readonly StageRule[] = [
  // The bench harness: the inspector session that profiles, the IPC commands.
  { stage: 'harness', url: /^node:inspector|\/bench\/server-main\.[jt]s$/ },
  { stage: 'harness', url: /^node:internal\/child_process/ },
  { stage: 'gc', fn: /^\(garbage collector\)$/ },

  // Audit: the record, its hash chain and writes; the input digest taken while the body is read.
  { stage: 'audit', url: src('http/json-body\\.'), fn: /^recordInputDigest$/ },
  { stage: 'audit', url: src('(audit/|http/observe-hooks\\.)') },

  // Auth: bearer token, verification and its cache, scopes, rate limits and quotas.
  {
    stage: 'auth',
    url: src('(auth/|http/auth-hooks\\.|http/rate-limit\\.|policy/query-quota\\.)'),
  },
  { stage: 'auth', url: pkg('jose|@fastify/rate-limit') },

  // Encode: the response body (JSON of the output tensors, binary tensors, compression) …
  { stage: 'encode', url: src('inference/(tensor-codec|binary-tensor)\\.'), fn: /^encode/ },
  { stage: 'encode', url: src('serving/inference-service\\.'), fn: /^assertJsonOutputSize$/ },
  {
    stage: 'encode',
    url: src(
      '(serving/infer-response|inference/tensor-json|inference/classification|policy/output-hardening|http/response-compression)\\.',
    ),
  },
  { stage: 'encode', url: pkg('fast-json-stringify|@fastify/compress') },
  { stage: 'encode', url: /\/bench\/naive-server\.[jt]s$/, fn: /^outputsOf$/ },
  // … and writing it: headers, the socket write, its completion.
  {
    stage: 'encode',
    url: /\/node_modules\/fastify\/lib\/reply\.js$/,
    fn: /^(serialize|onSendEnd|writePayload|safeWriteHead)$/,
  },
  { stage: 'encode', url: /^node:(_http_outgoing|internal\/streams\/writable)$/ },
  { stage: 'encode', url: /^node:_http_server$/, fn: /^(writeHead|_writeRaw)$/ },
  { stage: 'encode', url: /^node:net$/, fn: /(_write|_writev|_writeGeneric|_final)$/ },
  {
    stage: 'encode',
    url: /^node:internal\/stream_base_commons$/,
    fn: /^(write|writev|writeGeneric|writevGeneric|createWriteWrap|afterWriteDispatched|onWriteComplete)/,
  },

  // Parse + validate: body bytes to typed tensors, schema checks, model policies on the input.
  {
    stage: 'parse',
    url: src(
      '(http/(json-body|infer-body|binary-body|request-body|json-parse-pool|json-parse-protocol)|inference/(infer-envelope|input-schema|tensor-codec|float16|binary-tensor|datatypes))\\.',
    ),
  },
  { stage: 'parse', url: src('(policy/|serving/policy-setup\\.)') },
  { stage: 'parse', url: pkg('zod|secure-json-parse') },
  { stage: 'parse', url: /\/node_modules\/fastify\/lib\/content-type-parser\.js$/ },
  { stage: 'parse', url: /\/bench\/naive-server\.[jt]s$/, fn: /^feedsOf$/ },

  // Inference on the event loop (inline placement, the naive server): ONNX Runtime's binding.
  { stage: 'inference', url: pkg('onnxruntime-node|onnxruntime-common') },
  { stage: 'inference', url: src('inference/(ort-session|ort-environment|inline-engine)\\.') },

  // Hand-off: queueing, batching, placement, the worker pool's messages and their wake-ups.
  {
    stage: 'handoff',
    url: src(
      '(inference/(worker-[^/]*|batching-engine|tensor-batch|placement|engine|engine-factory|abort-error)|serving/inference-service)\\.',
    ),
  },
  {
    stage: 'handoff',
    url: /^node:(internal\/worker|worker_threads|internal\/per_context\/messageport)/,
  },
  { stage: 'handoff', url: /^$/, fn: /^(postMessage|receiveMessageOnPort|Atomics\..*)$/ },

  // Metrics: prom-client, the gateway's metrics and inference statistics.
  { stage: 'metrics', url: pkg('prom-client|tdigest|bintrees') },
  { stage: 'metrics', url: src('(metrics/|inference/(inference-stats|engine-stats)\\.)') },
  { stage: 'metrics', url: src('server-parts\\.'), fn: /^sampleQueueDepth$/ },

  // Logging: pino and its writers, Fastify's request loggers.
  { stage: 'logging', url: pkg('pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact') },
  { stage: 'logging', url: /\/node_modules\/fastify\/lib\/logger[^/]*\.js$/ },
  { stage: 'logging', url: src('logger\\.') },

  // HTTP: Fastify and its plugins, the router, Node's HTTP parser and sockets, the gateway's
  // own HTTP layer (routes, hooks, headers, error mapping).
  {
    stage: 'http',
    url: pkg('fastify|find-my-way|light-my-request|avvio|@fastify/[^/]+|helmet|fastify-plugin'),
  },
  {
    stage: 'http',
    url: /^node:(_http_[a-z]+|net|stream|internal\/streams\/|internal\/stream_base_commons)/,
  },
  { stage: 'http', url: src('(http/|app\\.)') },
];

/**
 * A frame's URL as a source path: the bench runs the gateway compiled (`.bench-dist/x.js`,
 * see build-dist.ts), and the rules name `src/x.ts`.
 */
export function sourceUrlOf(url: string): string {
  const at = url.indexOf('/.bench-dist/');
  if (at < 0) return url;
  return `${url.slice(0, at)}/src/${url.slice(at + '/.bench-dist/'.length).replace(/\.js$/, '.ts')}`;
}

/** The stage `stageRules` give one frame, or undefined when no rule names it. */
export function stageOfFrame(
  frame: CallFrame,
  rules: readonly StageRule[] = stageRules,
): Attribution | undefined {
  const url = sourceUrlOf(frame.url);
  for (const rule of rules) {
    if (rule.url !== undefined && !rule.url.test(url)) continue;
    if (rule.fn !== undefined && !rule.fn.test(frame.functionName)) continue;
    return rule.stage;
  }
  return undefined;
}

/** The stage of a stack given leaf first: its first frame that a rule names, else `other`. */
export function stageOfStack(
  leafFirst: Iterable<CallFrame>,
  rules: readonly StageRule[] = stageRules,
): Attribution {
  for (const frame of leafFirst) {
    const stage = stageOfFrame(frame, rules);
    if (stage !== undefined) return stage;
  }
  return 'other';
}

/** The parts of a V8 `.cpuprofile` read here. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: CallFrame;
    readonly children?: readonly number[];
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Sampled main-thread time of one profile, by stage, in microseconds. */
export interface StageBreakdown {
  readonly byStage: Readonly<Record<Stage, number>>;
  /** Sum of `byStage`: the sampled busy time the table divides per request. */
  readonly busyUs: number;
  /** `(idle)`: the thread waited for work. */
  readonly idleUs: number;
  /**
   * `(program)`: native work V8 cannot put on a JS stack (libuv polling, native callbacks); not
   * in `busyUs`, shown apart.
   */
  readonly programUs: number;
  /** The bench harness (profiler, IPC); not in `busyUs`. */
  readonly harnessUs: number;
}

/** Attributes every sample of `profile` to a stage. */
export function stageBreakdown(
  profile: CpuProfile,
  rules: readonly StageRule[] = stageRules,
): StageBreakdown {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  // Every sample of a node has the same stack: attribute each node once.
  const memo = new Map<number, Attribution | 'idle' | 'program'>();
  const attribute = (id: number): Attribution | 'idle' | 'program' => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const leaf = byId.get(id)?.callFrame.functionName;
    const frames = function* (): Generator<CallFrame> {
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at)?.callFrame;
        if (frame !== undefined) yield frame;
      }
    };
    const stage =
      leaf === '(idle)' ? 'idle' : leaf === '(program)' ? 'program' : stageOfStack(frames(), rules);
    memo.set(id, stage);
    return stage;
  };
  const byStage = Object.fromEntries(stages.map((s) => [s, 0])) as Record<Stage, number>;
  let idleUs = 0;
  let programUs = 0;
  let harnessUs = 0;
  profile.samples.forEach((id, index) => {
    const dt = profile.timeDeltas[index] ?? 0;
    const stage = attribute(id);
    if (stage === 'idle') idleUs += dt;
    else if (stage === 'program') programUs += dt;
    else if (stage === 'harness') harnessUs += dt;
    else byStage[stage] += dt;
  });
  const busyUs = stages.reduce((sum, s) => sum + byStage[s], 0);
  return { byStage, busyUs, idleUs, programUs, harnessUs };
}
