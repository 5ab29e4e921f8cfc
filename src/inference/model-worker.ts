/**
 * Entry point of one model worker thread: loads its own ONNX Runtime session from the shared
 * model bytes, then runs the batches the engine sends, one request after another, and answers
 * each batch with one `results` message (or a few, when a batch runs longer than
 * {@link postEveryMs}, so long runs are not held back). Every failure of a run is reported back
 * as an outcome; only a crash (which the engine detects as a thread exit) ends the worker.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { isBastionError } from '../errors.js';
import type { RunMessage, WireOutcome, WorkerInit, WorkerMessage } from './worker-protocol.js';
import { packTensors, unpackTensors } from './worker-protocol.js';
import { createOrtSession, runOrtSession, type OrtRunResult } from './ort-session.js';

/** A batch running longer than this posts what it has so far before going on. */
const postEveryMs = 2;

const port = parentPort;
if (port === null) throw new Error('model-worker must run in a worker thread');
const init = workerData as WorkerInit;
const cancelled = new Int32Array(init.cancel);

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

function crash(mode: RunMessage['requests'][number]['crash']): void {
  if (mode === 'exit') process.exit(70);
  setImmediate(() => {
    throw new Error('test crash requested');
  });
}

/** Posts the finished outcomes, packing their outputs into one buffer. */
function flush(finished: (WireOutcome | (OrtRunResult & { id: number }))[], done: boolean): void {
  const ran = finished.filter((o): o is OrtRunResult & { id: number } => 'inferenceMs' in o);
  const { tensors, pack, transfer } = packTensors(
    ran.map((o) => o.outputs),
    true,
  );
  let next = 0;
  const outcomes = finished.map((o): WireOutcome => {
    if (!('inferenceMs' in o)) return o;
    const outputs = tensors[next++] ?? {};
    return { id: o.id, outputs, inferenceMs: o.inferenceMs };
  });
  post({ type: 'results', outcomes, pack, done }, transfer);
}

async function runBatch(
  session: Parameters<typeof runOrtSession>[0],
  message: RunMessage,
): Promise<void> {
  let finished: (WireOutcome | (OrtRunResult & { id: number }))[] = [];
  let lastPost = performance.now();
  for (const [index, request] of message.requests.entries()) {
    if (request.crash !== undefined && init.allowTestCrash) {
      crash(request.crash);
      return; // nothing more from this worker: the engine fails what it held
    }
    if (Atomics.load(cancelled, index) !== 0) {
      finished.push({ id: request.id, skipped: true });
      continue;
    }
    try {
      const feeds = unpackTensors(request.feeds, message.pack);
      const result = await runOrtSession(session, feeds, request.outputs);
      finished.push({ id: request.id, ...result });
    } catch (error) {
      finished.push({
        id: request.id,
        message: error instanceof Error ? error.message : String(error),
        // ONNX Runtime refusing the input (a kernel's shape or value check) is the client's
        // problem, not a server fault: it maps to 400, never 500.
        code: isBastionError(error) ? error.code : 'INPUT_REJECTED_BY_MODEL',
      });
    }
    const now = performance.now();
    if (now - lastPost >= postEveryMs && index < message.requests.length - 1) {
      flush(finished, false);
      finished = [];
      lastPost = now;
    }
  }
  flush(finished, true);
}

async function main(): Promise<void> {
  let loaded;
  try {
    // ONNX Runtime rejects SharedArrayBuffer-backed input, so each worker takes its own copy.
    loaded = await createOrtSession(
      new Uint8Array(init.model).slice(),
      init.settings,
      (message) => {
        post({ type: 'log', message });
      },
    );
  } catch (error) {
    post({ type: 'init-failed', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const { session, signature, executionProviders } = loaded;
  // The engine sends a worker its next batch only after the last `results` of the previous one,
  // so batches never overlap here.
  port?.on('message', (message: RunMessage) => {
    void runBatch(session, message);
  });
  post({ type: 'ready', signature, executionProviders });
}

await main();
