import { Worker } from 'node:worker_threads';
import { BastionError } from '../errors.js';
import type { PrecheckedRequest } from '../serving/inference-service.js';
import type { ServedVersion } from '../serving/serving-registry.js';
import type { ParseJob, ParseResult } from './json-parse-protocol.js';

const fromSource = import.meta.url.endsWith('.ts');
const entry = new URL(
  fromSource ? './json-parse-worker.ts' : './json-parse-worker.js',
  import.meta.url,
);

/** Heap bounds of one parse worker: a body of a million `{}` exhausts the worker, not the server. */
const resourceLimits = { maxOldGenerationSizeMb: 192, maxYoungGenerationSizeMb: 32 };

function spawn(): Worker {
  if (!fromSource) return new Worker(entry, { resourceLimits });
  // Node 20 does not apply the parent's `--import tsx` to workers (see worker-spawn.ts).
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const boot = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true, resourceLimits });
}

/**
 * A parsed and bound infer body (or why not), with the SHA-256 of a JSON body's bytes for the
 * audit log (undefined for a binary body: it was hashed as it arrived).
 */
export type ParsedInferBody =
  | {
      readonly request: PrecheckedRequest;
      readonly error?: undefined;
      readonly sha256: string | undefined;
    }
  | {
      readonly request?: undefined;
      readonly error: BastionError;
      readonly sha256: string | undefined;
    };

/** Parses large JSON infer bodies on worker threads. */
export interface JsonParsePool {
  /**
   * Parses `bytes` (transferred: the caller must not use them afterwards) and binds them with
   * `ready`'s signature and element limit; `binary` (transferred too) is what followed the JSON
   * header of a binary tensor extension body. The decoded tensors come back each in a buffer of
   * its own, ready to be transferred on to a model worker, with what `ready`'s policy computed
   * from them (`prechecked`).
   *
   * The parser's client errors come back in the result (with the digest); it rejects only with
   * OVERLOADED when too many wait, or BODY_TOO_LARGE when the body exhausts the worker's heap.
   */
  parse(bytes: Uint8Array, ready: ServedVersion, binary?: Uint8Array): Promise<ParsedInferBody>;
  close(): Promise<void>;
}

interface Slot {
  worker: Worker | undefined;
  busy:
    | { job: ParseJob; resolve: (r: ParsedInferBody) => void; reject: (e: Error) => void }
    | undefined;
}

/** The buffer under `view` when it can be moved: whole and not shared (else it is copied). */
function transferable(view: Uint8Array | undefined): ArrayBuffer[] {
  if (view === undefined || !(view.buffer instanceof ArrayBuffer)) return [];
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? [view.buffer] : [];
}

/** A worker's answer as the caller gets it: the bound request, or the client error. */
function parsedBodyOf(result: ParseResult): ParsedInferBody {
  return result.ok
    ? { request: { ...result.request, prechecked: result.prechecked }, sha256: result.sha256 }
    : { error: new BastionError(result.code, result.message), sha256: result.sha256 };
}

/** Why a job whose worker died (its heap exhausted by the body) is refused. */
function tooLargeToParse(): BastionError {
  return new BastionError(
    'BODY_TOO_LARGE',
    'the JSON body is too large or too complex to parse; send fewer elements or use the binary tensor extension',
  );
}

/** Why a body is refused when too many wait for a thread. */
function queueFull(): BastionError {
  return new BastionError(
    'OVERLOADED',
    'too many large JSON bodies are waiting to be parsed; retry later',
    { retryAfterSec: 1 },
  );
}

/** The message that asks a worker to parse `bytes` for `ready`. */
function parseJobOf(
  id: number,
  bytes: Uint8Array,
  ready: ServedVersion,
  binary: Uint8Array | undefined,
): ParseJob {
  return {
    id,
    bytes,
    binary,
    // One key per load: a version reloaded from changed (re-signed) files is a new parser.
    key: `${ready.model}@${ready.version}:${ready.modelSha256}:${ready.loadedAt.getTime()}`,
    signature: ready.signature,
    policy: ready.policy?.spec,
    maxElements: ready.tuning.maxElements,
    model: ready.model,
    version: ready.version,
  };
}

/** Options of {@link createJsonParsePool}. */
export interface JsonParsePoolOptions {
  readonly threads: number;
  /** Bodies waiting for a thread before new ones get 503 OVERLOADED. */
  readonly maxQueue: number;
}

/**
 * Creates the pool. Workers start on first use and are replaced when one dies (a heap
 * exhausted by a hostile body); a job is never retried, its request gets a 413.
 */
export function createJsonParsePool(options: JsonParsePoolOptions): JsonParsePool {
  const slots: Slot[] = Array.from({ length: Math.max(1, options.threads) }, () => ({
    worker: undefined,
    busy: undefined,
  }));
  const queue: NonNullable<Slot['busy']>[] = [];
  let nextId = 1;
  let closed = false;

  const start = (slot: Slot): Worker => {
    const worker = spawn();
    worker.unref();
    worker.on('message', (result: ParseResult) => {
      const busy = slot.busy;
      slot.busy = undefined;
      if (busy !== undefined && busy.job.id === result.id) busy.resolve(parsedBodyOf(result));
      pump();
    });
    const onGone = (): void => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      const busy = slot.busy;
      slot.busy = undefined;
      busy?.reject(tooLargeToParse());
      pump();
    };
    worker.on('error', onGone);
    worker.on('exit', onGone);
    return worker;
  };

  const pump = (): void => {
    for (const slot of slots) {
      if (slot.busy !== undefined || closed) continue;
      const next = queue.shift();
      if (next === undefined) return;
      slot.busy = next;
      const worker = slot.worker ?? (slot.worker = start(slot));
      const { bytes, binary } = next.job;
      worker.postMessage(next.job, [...transferable(bytes), ...transferable(binary)]);
    }
  };

  return {
    parse(bytes, ready, binary) {
      if (closed)
        return Promise.reject(new BastionError('SHUTTING_DOWN', 'the gateway is shutting down'));
      if (queue.length >= options.maxQueue) return Promise.reject(queueFull());
      return new Promise((resolve, reject) => {
        queue.push({ job: parseJobOf(nextId++, bytes, ready, binary), resolve, reject });
        pump();
      });
    },
    async close() {
      closed = true;
      for (const waiting of queue.splice(0)) {
        waiting.reject(new BastionError('SHUTTING_DOWN', 'the gateway is shutting down'));
      }
      await Promise.all(slots.map((slot) => slot.worker?.terminate() ?? Promise.resolve(0)));
    },
  };
}
