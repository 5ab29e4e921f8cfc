/**
 * One worker of a worker engine's pool ({@link Slot}): its thread, started on the shared model
 * bytes, the promise that says when its session is loaded, and the routing of what it says
 * (ready, failed to load, a log line, a batch's results) to the pool that owns it.
 */
import type { Slot, WorkerReady } from './worker-job.js';
import { maxRequestsPerMessage, type WorkerInit, type WorkerMessage } from './worker-protocol.js';
import { spawnModelWorker } from './worker-spawn.js';

/** The `results` message of a worker: outcomes of its batch, in order. */
export type ResultsMessage = Extract<WorkerMessage, { type: 'results' }>;

/** What a slot tells the pool that started it. */
export interface SlotOwner {
  /** The worker has loaded the model and is idle (its `ready` promise is resolved). */
  slotReady(slot: Slot): void;
  /** The worker died or failed to load; `failed` rejects its `ready` promise. */
  retire(slot: Slot, reason: string, failed: (error: Error) => void): void;
  /** The worker answered some (or, with `done`, the rest) of its batch. */
  finish(slot: Slot, message: ResultsMessage): void;
  /** A line the worker wants logged (a CUDA fallback, say). */
  workerLog(message: string): void;
}

/** Starts a worker on `init` and wires its events to `owner`; it is `starting` until ready. */
export function startSlot(init: Omit<WorkerInit, 'cancel'>, owner: SlotOwner): Slot {
  const cancel = new SharedArrayBuffer(4 * maxRequestsPerMessage);
  const worker = spawnModelWorker({ ...init, cancel });
  let onReady!: (ready: WorkerReady) => void;
  let onFailed!: (error: Error) => void;
  const ready = new Promise<WorkerReady>((resolve, reject) => {
    onReady = resolve;
    onFailed = reject;
  });
  ready.catch(() => undefined); // observed by the creator or by the restart logic
  const slot: Slot = {
    worker,
    cancel: new Int32Array(cancel),
    state: 'starting',
    jobs: [],
    answered: 0,
    runs: 0,
    lastError: undefined,
    ready,
  };
  worker.on('message', (message: WorkerMessage) => {
    route(slot, message, owner, onReady, onFailed);
  });
  worker.on('error', (error) => {
    slot.lastError = error.message;
  });
  worker.on('exit', (code) => {
    if (slot.state === 'retired') return;
    const detail = slot.lastError === undefined ? '' : `: ${slot.lastError}`;
    owner.retire(slot, `worker exited with code ${code}${detail}`, onFailed);
  });
  return slot;
}

/** Hands one message of `slot`'s worker to its owner. */
function route(
  slot: Slot,
  message: WorkerMessage,
  owner: SlotOwner,
  onReady: (ready: WorkerReady) => void,
  onFailed: (error: Error) => void,
): void {
  switch (message.type) {
    case 'ready':
      slot.state = 'idle';
      slot.worker.unref();
      onReady({ signature: message.signature, executionProviders: message.executionProviders });
      owner.slotReady(slot);
      return;
    case 'init-failed':
      slot.lastError = message.message;
      owner.retire(slot, `model failed to load in worker: ${message.message}`, onFailed);
      return;
    case 'log':
      owner.workerLog(message.message);
      return;
    case 'results':
      owner.finish(slot, message);
      return;
  }
}
