/**
 * Entry point of one model worker thread: loads its own ONNX Runtime session from the shared
 * model bytes, then runs one request at a time as the engine sends them. Every failure of a run
 * is reported back as a message; only a crash (which the engine detects as a thread exit) ends it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isBastionError } from '../errors.js';
import type { RunMessage, WorkerInit, WorkerMessage } from './worker-protocol.js';
import { prepareTransfer } from './worker-protocol.js';
import { createOrtSession, runOrtSession } from './ort-session.js';

const port = parentPort;
if (port === null) throw new Error('model-worker must run in a worker thread');
const init = workerData as WorkerInit;

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

function crash(mode: RunMessage['crash']): void {
  if (mode === 'exit') process.exit(70);
  setImmediate(() => {
    throw new Error('test crash requested');
  });
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

  port?.on('message', (message: RunMessage) => {
    if (message.crash !== undefined && init.allowTestCrash) {
      crash(message.crash);
      return;
    }
    runOrtSession(session, message.feeds, message.outputs).then(
      (result) => {
        const { tensors, transfer } = prepareTransfer(result.outputs, true);
        post(
          { type: 'result', id: message.id, outputs: tensors, inferenceMs: result.inferenceMs },
          transfer,
        );
      },
      (error: unknown) => {
        post({
          type: 'failed',
          id: message.id,
          message: error instanceof Error ? error.message : String(error),
          // ONNX Runtime refusing the input (a kernel's shape or value check) is the client's
          // problem, not a server fault: it maps to 400, never 500.
          code: isBastionError(error) ? error.code : 'INPUT_REJECTED_BY_MODEL',
        });
      },
    );
  });
  post({ type: 'ready', signature, executionProviders });
}

await main();
