/**
 * Adaptive placement (`poolSize: auto`): a model runs inline on the event loop only when it is
 * provably tiny, in a worker pool otherwise.
 *
 * At load the model is run on its declared shapes (each dynamic dimension taken as 1, inputs all
 * zeros) a few times. When the fastest run takes at most a quarter of the inline bound (the
 * fastest, because preemption on a busy host only ever adds time), the model
 * stays inline with an element cap: a request holding more elements than the probe's, scaled by
 * how many probe runs fit in the bound, goes to the pool instead, so no inline run is expected to
 * block the loop past the bound. Run cost that depends on values (a loop count, a shape read from
 * an input) is caught at run time: after {@link demoteAfterSlowRuns} inline runs in a row over
 * the bound the model moves to the pool for good (in a row, so that a run the OS preempted once
 * does not count). The probe itself runs on the event loop, so models over
 * {@link probeMaxModelBytes} skip it and go to the pool; a small model that is still slow on its
 * declared shapes (a convolution over a large fixed image, say) blocks the loop once, at load,
 * for its warm-up run.
 */
import { performance } from 'node:perf_hooks';
import type {
  HostTensor,
  ModelEngine,
  ModelSignature,
  RunOptions,
  SessionSettings,
  TensorData,
  TensorSpec,
} from './engine.js';
import type { EngineHooks, EngineStats, ObservableEngine } from './engine-stats.js';
import { createInlineEngine } from './inline-engine.js';

/** Where a model version runs. */
export type Placement = 'inline' | 'pool';

/** What the placement decision was based on, and where it stands. */
export interface PlacementDetails {
  readonly placement: Placement;
  /** Fastest probe run on the declared shapes, ms (undefined: not measured or failed). */
  readonly probeMs: number | undefined;
  /** Inline only: requests holding more elements than this run in the pool. */
  readonly elementCap: number | undefined;
  /** Whether a worker pool has been started (for oversized requests or after demotion). */
  readonly poolStarted: boolean;
}

/** An engine that says where it runs. */
export interface PlacedEngine extends ObservableEngine {
  /** The current placement; `inline` may become `pool` (never the reverse). */
  placement(): Placement;
  /** The decision's inputs and state; for the log, tests and the bench. */
  placementDetails(): PlacementDetails;
}

/**
 * Models larger than this go to the pool without a probe: the probe runs on the event loop, and
 * weights this size cost more than the bound per row anyway.
 */
export const probeMaxModelBytes = 8 * 1024 * 1024;

/** Inline runs in a row over the bound, after which a model moves to the pool. */
export const demoteAfterSlowRuns = 3;

/** Options for {@link createAutoPlacedEngine}. */
export interface AutoPlacementOptions {
  /** Longest an inline run may block the event loop, in ms. Default 1. */
  readonly inlineBoundMs?: number;
  /** Measured probe runs after one warm-up run. Default 9. */
  readonly probeRuns?: number;
  /** Starts the pool engine (on a heavy probe, an oversized request, or demotion). */
  readonly createPool: () => Promise<ObservableEngine>;
  /** Metrics callbacks of the inline engine. */
  readonly hooks?: EngineHooks;
  readonly log?: (message: string) => void;
}

/** True when `engine` reports a {@link Placement}. */
export function isPlacedEngine(engine: ModelEngine): engine is PlacedEngine {
  return typeof (engine as Partial<PlacedEngine>).placement === 'function';
}

/** Marks an engine with a fixed placement. */
export function withPlacement(engine: ObservableEngine, placement: Placement): PlacedEngine {
  return Object.assign(engine, {
    placement: (): Placement => placement,
    placementDetails: (): PlacementDetails => ({
      placement,
      probeMs: undefined,
      elementCap: undefined,
      poolStarted: placement === 'pool',
    }),
  });
}

function zeros(spec: TensorSpec): HostTensor {
  const dims = spec.dims.map((d) => (d < 0 ? 1 : d));
  const n = dims.reduce((a, b) => a * b, 1);
  let data: TensorData;
  switch (spec.type) {
    case 'string':
      data = new Array<string>(n).fill('');
      break;
    case 'int64':
      data = new BigInt64Array(n);
      break;
    case 'uint64':
      data = new BigUint64Array(n);
      break;
    case 'float64':
      data = new Float64Array(n);
      break;
    case 'float32':
      data = new Float32Array(n);
      break;
    case 'int32':
      data = new Int32Array(n);
      break;
    case 'uint32':
      data = new Uint32Array(n);
      break;
    case 'int16':
      data = new Int16Array(n);
      break;
    case 'uint16':
    case 'float16':
      data = new Uint16Array(n);
      break;
    case 'int8':
      data = new Int8Array(n);
      break;
    case 'bool':
    case 'uint8':
      data = new Uint8Array(n);
      break;
  }
  return { type: spec.type, dims, data };
}

/** The measured cost of a model on its declared shapes. */
export interface ProbeResult {
  /** Fastest measured run, ms. */
  readonly ms: number;
  /** Elements over all inputs of one probe run. */
  readonly elements: number;
}

/**
 * Runs `engine` on zero inputs of `signature`'s declared shapes. Undefined when a run fails (a
 * model that refuses zeros cannot be proven tiny) or the first run after the warm-up exceeds
 * `giveUpMs`.
 */
export async function probeRunCost(
  engine: ModelEngine,
  signature: ModelSignature,
  runs: number,
  giveUpMs: number,
): Promise<ProbeResult | undefined> {
  const feeds = Object.fromEntries(signature.inputs.map((s) => [s.name, zeros(s)]));
  const outputs = signature.outputs.map((s) => s.name);
  const elements = Object.values(feeds).reduce((sum, t) => sum + t.data.length, 0);
  const times: number[] = [];
  try {
    for (let i = 0; i <= runs; i++) {
      const started = performance.now();
      await engine.run(feeds, outputs);
      const ms = performance.now() - started;
      // The warm-up (i = 0) pays a fresh session's one-time set-up; the first measured run decides.
      if (i === 1 && ms > giveUpMs) return undefined;
      if (i > 0) times.push(ms);
    }
  } catch {
    return undefined;
  }
  return { ms: times.length === 0 ? Infinity : Math.min(...times), elements };
}

function elementsOf(feeds: Readonly<Record<string, HostTensor>>): number {
  let n = 0;
  for (const name in feeds) n += (feeds[name] as HostTensor).data.length;
  return n;
}

function sumStats(a: EngineStats, b: EngineStats | undefined): EngineStats {
  if (b === undefined) return a;
  return {
    queueDepth: a.queueDepth + b.queueDepth,
    inFlight: a.inFlight + b.inFlight,
    concurrency: Math.max(a.concurrency, b.concurrency),
    runs: a.runs + b.runs,
    restarts: a.restarts + b.restarts,
  };
}

/**
 * Creates an engine placed by measurement (see the module comment). Resolves once the placement
 * is decided; a model placed in the pool has its pool started before this resolves.
 *
 * @throws BastionError `INFERENCE_FAILED` when the model cannot be loaded.
 */
export async function createAutoPlacedEngine(
  modelBytes: Uint8Array,
  settings: SessionSettings,
  label: string,
  options: AutoPlacementOptions,
): Promise<PlacedEngine> {
  const boundMs = options.inlineBoundMs ?? 1;
  const log = options.log ?? (() => undefined);
  if (modelBytes.byteLength > probeMaxModelBytes) {
    log(`${label}: placed in a worker pool (model over ${probeMaxModelBytes} bytes)`);
    return withPlacement(await options.createPool(), 'pool');
  }
  const hooks = options.hooks ?? {};
  const pool = lazyPool(options.createPool);
  const state: { placement: Placement; probing: boolean } = { placement: 'inline', probing: true };
  const watchRun = slowRunWatch(boundMs, demote);
  const inline = await createInlineEngine(modelBytes, settings, label, {
    log,
    hooks: {
      ...hooks,
      onInference: (ms) => {
        if (state.probing) return;
        hooks.onInference?.(ms);
        watchRun(ms, state.placement === 'inline');
      },
    },
  });
  const probe = await probeRunCost(inline, inline.signature, options.probeRuns ?? 9, boundMs * 10);
  state.probing = false;

  function demote(): void {
    log(
      `${label}: ${demoteAfterSlowRuns} inline runs in a row took over ${boundMs} ms; moving the model to a worker pool`,
    );
    pool.start().then(
      () => {
        state.placement = 'pool';
        void inline.close(); // after the inline runs in flight
      },
      (error: unknown) => {
        log(`${label}: could not start a worker pool, staying inline: ${String(error)}`);
      },
    );
  }

  if (probe === undefined || probe.ms > boundMs / 4) {
    const why =
      probe === undefined ? 'its probe run failed or was slow' : `${probe.ms.toFixed(3)} ms`;
    log(`${label}: placed in a worker pool (run on declared shapes: ${why})`);
    await inline.close();
    return withPlacement(await pool.start(), 'pool');
  }
  const elementCap =
    Math.max(1, probe.elements) * Math.max(1, Math.floor(boundMs / Math.max(probe.ms, 1e-3)));
  log(
    `${label}: placed inline (run on declared shapes: ${probe.ms.toFixed(3)} ms; requests over ${elementCap} elements go to a worker pool)`,
  );
  return inlineFirst(inline, pool, state, { probeMs: probe.ms, elementCap });
}

/** A worker pool started on first need, once. */
export interface LazyPool {
  start(): Promise<ObservableEngine>;
  /** True once {@link LazyPool.start} was called (the pool may still be starting). */
  readonly started: boolean;
  /** The pool, once it has started. */
  readonly engine: ObservableEngine | undefined;
  close(): Promise<void>;
}

/** Wraps `create` so that the pool starts on the first {@link LazyPool.start}, and only then. */
export function lazyPool(create: () => Promise<ObservableEngine>): LazyPool {
  let pool: Promise<ObservableEngine> | undefined;
  let engine: ObservableEngine | undefined;
  return {
    start() {
      pool ??= create().then((started) => (engine = started));
      return pool;
    },
    get started() {
      return pool !== undefined;
    },
    get engine() {
      return engine;
    },
    async close() {
      await pool?.then(
        (p) => p.close(),
        () => undefined,
      );
    },
  };
}

/**
 * Counts inline runs over the bound in a row; the {@link demoteAfterSlowRuns}th calls
 * `onDemote`. A run within the bound starts the count again; a slow run while the model is no
 * longer inline does not count.
 */
export function slowRunWatch(
  boundMs: number,
  onDemote: () => void,
): (ms: number, inline: boolean) => void {
  let slowRuns = 0;
  return (ms, inline) => {
    if (ms <= boundMs) slowRuns = 0;
    else if (inline && ++slowRuns === demoteAfterSlowRuns) onDemote();
  };
}

/** The inline engine with the pool behind it: oversized requests, and all after a demotion. */
function inlineFirst(
  inline: ObservableEngine,
  pool: LazyPool,
  state: { readonly placement: Placement },
  measured: { readonly probeMs: number; readonly elementCap: number },
): PlacedEngine {
  const { elementCap } = measured;
  return {
    signature: inline.signature,
    placement: () => state.placement,
    placementDetails: (): PlacementDetails => ({
      placement: state.placement,
      probeMs: measured.probeMs,
      elementCap,
      poolStarted: pool.started,
    }),
    async run(
      feeds: Readonly<Record<string, HostTensor>>,
      outputs: readonly string[],
      runOptions?: RunOptions,
    ): Promise<Record<string, HostTensor>> {
      if (state.placement === 'pool' || elementsOf(feeds) > elementCap) {
        return (await pool.start()).run(feeds, outputs, runOptions);
      }
      return inline.run(feeds, outputs, runOptions);
    },
    stats: (): EngineStats => {
      const pooled = pool.engine;
      return state.placement === 'pool' && pooled !== undefined
        ? pooled.stats()
        : sumStats(inline.stats(), pooled?.stats());
    },
    async close(): Promise<void> {
      await Promise.all([inline.close(), pool.close()]);
    },
  };
}
