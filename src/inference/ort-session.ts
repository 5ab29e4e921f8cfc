/**
 * ONNX Runtime sessions as the engines use them: created from verified bytes with Bastion's
 * {@link SessionSettings}, described as a {@link ModelSignature}, and run on plain
 * {@link HostTensor}s. Used by the inline engine on the calling thread and by each model worker.
 */
// Must stay the first import: it sets ONNX Runtime's environment before the binding loads.
import './ort-environment.js';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { BastionError } from '../errors.js';
import { parseOrtType } from './datatypes.js';
import type {
  ExecutionProvider,
  HostTensor,
  ModelSignature,
  SessionSettings,
  TensorSpec,
} from './engine.js';

/** A live session plus what it was actually created with. */
export interface OrtSession {
  readonly session: ort.InferenceSession;
  readonly signature: ModelSignature;
  /** The providers in effect: the configured list, or `['cpu']` after a CUDA fallback. */
  readonly executionProviders: readonly ExecutionProvider[];
}

/**
 * The external-data buffers each session was given, held as long as the session is reachable:
 * ONNX Runtime's initializers may point into them rather than copy.
 */
const heldExternalData = new WeakMap<ort.InferenceSession, readonly Uint8Array[]>();

/** The outputs of one run and how long `session.run` took. */
export interface OrtRunResult {
  readonly outputs: Record<string, HostTensor>;
  readonly inferenceMs: number;
}

let cudaLibraryPresent: boolean | undefined;

/**
 * Whether onnxruntime-node's CUDA provider library is installed next to its binding. Checked so
 * a CPU-only host skips the doomed attempt (and the native error line it prints to stderr).
 */
function hasCudaLibrary(): boolean {
  if (cudaLibraryPresent === undefined) {
    try {
      const main = createRequire(import.meta.url).resolve('onnxruntime-node');
      const dir = join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
      const file =
        process.platform === 'win32'
          ? 'onnxruntime_providers_cuda.dll'
          : 'libonnxruntime_providers_cuda.so';
      cudaLibraryPresent = existsSync(join(dir, file));
    } catch {
      cudaLibraryPresent = true; // unknown layout: let ONNX Runtime decide
    }
  }
  return cudaLibraryPresent;
}

/**
 * The session options Bastion passes, built from an allow-list: only the fields below are ever
 * set. Nothing that names a path (optimizedModelFilePath, profiling with profileFilePrefix, custom
 * op libraries, `extra` config entries) can come from configuration, tuning or the model; external
 * data arrives as verified in-memory bytes.
 */
export function buildSessionOptions(
  settings: SessionSettings,
  providers: readonly ExecutionProvider[],
): ort.InferenceSession.SessionOptions {
  const options: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: settings.interOpThreads,
    graphOptimizationLevel: settings.graphOptimizationLevel,
    executionProviders: [...providers],
    // ONNX Runtime's own log goes straight to stderr, bypassing pino, and a client could make it
    // print a line per bad request; failures reach us as errors and are logged with the request.
    logSeverityLevel: 4,
    enableProfiling: false,
  };
  const external = settings.externalData ?? [];
  if (external.length === 0) return options;
  return {
    ...options,
    externalData: external.map((file) => ({ path: file.path, data: file.data })),
  };
}

function describe(
  names: readonly string[],
  metadata: readonly ort.InferenceSession.ValueMetadata[],
): TensorSpec[] {
  return names.map((name, index) => {
    const meta = metadata[index];
    if (meta?.isTensor !== true) {
      throw new Error(`model value "${name}" is not a tensor; Bastion serves tensors only`);
    }
    const type = parseOrtType(meta.type);
    if (type === undefined) {
      throw new Error(
        `model value "${name}" has element type ${meta.type}, which Bastion does not serve`,
      );
    }
    return {
      name,
      type,
      dims: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
      dimNames: meta.shape.map((d) => (typeof d === 'string' && d !== '' ? d : undefined)),
    };
  });
}

/** Reads the signature of a loaded session; symbolic or unknown dims become `-1`. */
export function readSignature(session: ort.InferenceSession): ModelSignature {
  return {
    inputs: describe(session.inputNames, session.inputMetadata),
    outputs: describe(session.outputNames, session.outputMetadata),
  };
}

/**
 * Creates a session from the model bytes (never a path, so what runs is exactly what was
 * verified). When the configured providers include `cuda` and creation fails (no CUDA build or
 * libraries on this host), logs one line and retries on CPU instead of failing the model.
 *
 * @throws Error from ONNX Runtime when the model cannot be loaded, or uses a type Bastion does
 *   not serve.
 */
export async function createOrtSession(
  modelBytes: Uint8Array,
  settings: SessionSettings,
  log: (message: string) => void,
): Promise<OrtSession> {
  const wanted =
    settings.executionProviders.length > 0 ? settings.executionProviders : ['cpu' as const];
  const cpuOnly: readonly ExecutionProvider[] = ['cpu'];
  let providers = wanted;
  let session: ort.InferenceSession;
  if (wanted.includes('cuda') && !hasCudaLibrary()) {
    providers = cpuOnly;
    log('CUDA execution provider unavailable (its library is not installed); running on CPU');
  }
  try {
    session = await ort.InferenceSession.create(
      modelBytes,
      buildSessionOptions(settings, providers),
    );
  } catch (error) {
    if (!providers.includes('cuda')) throw error;
    providers = cpuOnly;
    const why = error instanceof Error ? error.message : String(error);
    log(`CUDA execution provider unavailable (${why}); running on CPU`);
    session = await ort.InferenceSession.create(
      modelBytes,
      buildSessionOptions(settings, providers),
    );
  }
  try {
    const external = settings.externalData ?? [];
    if (external.length > 0)
      heldExternalData.set(
        session,
        external.map((file) => file.data),
      );
    return { session, signature: readSignature(session), executionProviders: providers };
  } catch (error) {
    await session.release();
    throw error;
  }
}

function toOrt(tensor: HostTensor): ort.Tensor {
  return new ort.Tensor(tensor.type, tensor.data, tensor.dims);
}

function fromOrt(name: string, tensor: ort.Tensor): HostTensor {
  const type = parseOrtType(tensor.type);
  if (type === undefined) {
    throw new BastionError(
      'INFERENCE_FAILED',
      'the model produced an output Bastion cannot serve',
      {
        cause: new Error(`output "${name}" has element type ${tensor.type}`),
      },
    );
  }
  // The data getter downloads to the CPU; dims are copied so the result is plain data.
  return { type, dims: [...tensor.dims], data: tensor.data };
}

/** The `setImmediate` marker of {@link runOrtSession}: the run's turn has come. */
function restartClock(clock: { started: number }): void {
  clock.started = performance.now();
}

/**
 * Runs the session once. Note: onnxruntime-node executes `run` synchronously on the calling
 * thread; the returned promise only wraps it.
 *
 * `inferenceMs` is the run itself, not the wait before it: onnxruntime-node defers the
 * synchronous run to a `setImmediate`, so a clock started before `session.run()` would also
 * count every I/O callback and earlier immediate of that event-loop turn (at 32 connections,
 * the parsing of the other requests and up to 31 other inline runs). An immediate queued just
 * before it (immediates run in order) restarts the clock when the run's turn comes. Were the run
 * ever to finish without that deferral, the marker would not have run and the clock would
 * keep its first start.
 *
 * @throws Error from ONNX Runtime (bad shapes, unknown names, kernel failure).
 */
export async function runOrtSession(
  session: ort.InferenceSession,
  feeds: Readonly<Record<string, HostTensor>>,
  outputs: readonly string[],
): Promise<OrtRunResult> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) ortFeeds[name] = toOrt(tensor);
  const clock = { started: performance.now() };
  setImmediate(restartClock, clock);
  const result = await session.run(ortFeeds, [...outputs]);
  const inferenceMs = performance.now() - clock.started;
  const hostOutputs: Record<string, HostTensor> = {};
  for (const name of outputs) {
    const tensor = result[name];
    if (tensor === undefined) throw new Error(`the model returned no output "${name}"`);
    hostOutputs[name] = fromOrt(name, tensor);
  }
  return { outputs: hostOutputs, inferenceMs };
}
