/**
 * Starting a model worker thread, both from the compiled `dist/` (plain `.js`) and from the
 * TypeScript sources run through tsx (`node --import tsx`, the tests). Node 20 does not apply the
 * parent's `--import tsx` to worker threads, so from source a tiny bootstrap registers tsx's ESM
 * hooks inside the worker before importing the `.ts` entry.
 */
// Sets ONNX Runtime's environment in this (the parent) thread before any worker loads the binding;
// worker threads read the same process environment.
import './ort-environment.js';
import { Worker } from 'node:worker_threads';
import type { WorkerInit } from './worker-protocol.js';

const fromSource = import.meta.url.endsWith('.ts');
const entry = new URL(fromSource ? './model-worker.ts' : './model-worker.js', import.meta.url);

/** Starts a model worker with `init` as its `workerData`. */
export function spawnModelWorker(init: WorkerInit): Worker {
  if (!fromSource) return new Worker(entry, { workerData: init });
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const boot = `import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true, workerData: init });
}
