import { BastionError, isBastionError } from '../errors.js';
import type { HostTensor } from '../inference/engine.js';
import type { InferenceStats } from '../inference/inference-stats.js';
import { abortReasonError, clientClosedError } from '../inference/abort-error.js';
import { Cancellation } from '../inference/cancellation.js';
import { classifyInSlices } from '../inference/classification.js';
import type { BoundInferRequest } from '../inference/input-schema.js';
import {
  createPolicyEnforcer,
  type PolicyCaller,
  type PolicyEnforcer,
} from '../policy/policy-enforcer.js';
import type { PolicyPrecheck } from '../policy/policy-precheck.js';
import { type InferOutcome, outcomeOf, outputEntries } from './infer-response.js';
import type { ServedVersion, ServingRegistry } from './serving-registry.js';

/** One inference call, as the domain sees it (no HTTP). */
export interface InferCall {
  readonly model: string;
  /** Undefined: the highest ready version. */
  readonly version?: number | undefined;
  /** The untrusted request body (already parsed JSON; the JSON header of a binary request). */
  readonly body: unknown;
  /**
   * Binary tensor extension: the bytes that followed the JSON header, which inputs with
   * `parameters.binary_data_size` read in order. Undefined for a plain JSON request.
   */
  readonly binary?: Uint8Array | undefined;
  /** Aborted when the caller goes away. */
  readonly signal?: AbortSignal | undefined;
  /**
   * The request's own cancellation, when the caller has one (the HTTP route cancels it when the
   * client disconnects): the deadline cancels the same one, so a request needs no second,
   * linked controller, and an inline run none at all. Takes the place of `signal`.
   */
  readonly cancellation?: Cancellation | undefined;
  /** Who is calling (token subject and scopes): quotas, extraction watch, `infer:<m>:full`. */
  readonly caller?: PolicyCaller | undefined;
  /**
   * Largest element count the outputs answered as JSON may hold together (binary outputs do not
   * count): encoding more would hold the event loop too long. Undefined: no bound.
   */
  readonly maxJsonOutputElements?: number | undefined;
  /**
   * Validates and decodes the body for the chosen version in place of `ready.parser.parse`
   * (the HTTP layer parses large bodies on a worker thread this way, which may also run the
   * policy's input checks there: `prechecked`).
   */
  readonly bind?:
    ((ready: ServedVersion) => PrecheckedRequest | Promise<PrecheckedRequest>) | undefined;
}

/** A bound request, with what the version's policy computed from its inputs where it was bound. */
export type PrecheckedRequest = BoundInferRequest & {
  readonly prechecked?: PolicyPrecheck | undefined;
};

/** Hooks for metrics; all optional. */
export interface InferenceHooks {
  /** Called once the model version is chosen, even if the request then fails. */
  readonly onResolved?: (version: ServedVersion) => void;
  readonly onInference?: (version: ServedVersion, ms: number) => void;
}

/** The inference path: resolve the version, validate, run, encode. */
export interface InferenceService {
  /**
   * Runs one inference.
   *
   * @throws BastionError for every failure a caller can see (4xx/5xx codes).
   */
  infer(call: InferCall, hooks?: InferenceHooks): Promise<InferOutcome>;
}

/** Dependencies of {@link createInferenceService}. */
export interface InferenceServiceOptions {
  readonly registry: ServingRegistry;
  readonly log?: ((level: 'warn' | 'error', msg: string, fields?: object) => void) | undefined;
  /** Per-version statistics (Triton's statistics extension); nothing is recorded without it. */
  readonly stats?: InferenceStats | undefined;
  /** Applies each version's signed policy; default: one without quota store or watch. */
  readonly policy?: PolicyEnforcer | undefined;
}

/** Creates the inference service over a model registry. */
export function createInferenceService(options: InferenceServiceOptions): InferenceService {
  const log = options.log ?? (() => undefined);
  const stats = options.stats;
  const enforcer = options.policy ?? createPolicyEnforcer();
  return {
    async infer(call, hooks = {}) {
      const lease = options.registry.acquire(call.model, call.version);
      const ready = lease.version;
      const resolvedAt = performance.now();
      let inputMs: number | undefined;
      try {
        hooks.onResolved?.(ready);
        // A small body binds synchronously: no promise, no extra turn.
        const bound =
          call.bind === undefined ? ready.parser.parse(call.body, call.binary) : call.bind(ready);
        const request: PrecheckedRequest = bound instanceof Promise ? await bound : bound;
        const policy = ready.policy;
        const admission =
          policy === undefined
            ? undefined
            : await enforcer.admit(ready, policy, request, request.explicitOutputs, call.caller);
        const started = performance.now();
        inputMs = started - resolvedAt;
        const raw = await runWithDeadline(
          ready,
          request.feeds,
          admission?.run ?? request.outputs,
          call.cancellation ?? call.signal,
          log,
        );
        const ran = performance.now();
        const inferenceMs = ran - started;
        hooks.onInference?.(ready, inferenceMs);
        const outputs =
          policy === undefined || admission === undefined
            ? raw
            : await enforcer.finish(ready, policy, admission, raw, call.caller);
        const returned = admission?.returned ?? request.outputs;
        assertJsonOutputSize(outputs, returned, request, call);
        const classified = await classifyOutputs(returned, outputs, request, ready.labels);
        const { entries, binary } = outputEntries(ready, request, returned, outputs, {
          classified,
          // A policy may round what it returns, unless the caller may see the full outputs.
          hardening: admission?.full === false ? policy?.output : undefined,
        });
        const done = performance.now();
        stats?.recordSuccess(ready.model, ready.version, request.rows, {
          totalMs: done - resolvedAt,
          inputMs,
          outputMs: done - ran,
        });
        return outcomeOf(ready, request.id, entries, binary, {
          version: ready.version,
          rows: request.rows,
          inferenceMs,
          ...(admission === undefined ? {} : { policy: admission.report }),
        });
      } catch (error) {
        const failedAt = performance.now();
        // A request refused by validation spent its whole time there.
        stats?.recordFailure(ready.model, ready.version, {
          totalMs: failedAt - resolvedAt,
          inputMs: inputMs ?? failedAt - resolvedAt,
        });
        throw error;
      } finally {
        lease.release();
      }
    },
  };
}

/** @throws BastionError OUTPUT_TOO_LARGE when the JSON outputs exceed the call's bound. */
function assertJsonOutputSize(
  outputs: Readonly<Record<string, HostTensor>>,
  names: readonly string[],
  request: Pick<BoundInferRequest, 'binaryOutputs' | 'classification'>,
  call: InferCall,
): void {
  const max = call.maxJsonOutputElements;
  if (max === undefined) return;
  let elements = 0;
  for (const name of names) {
    const tensor = outputs[name];
    const k = request.classification.get(name);
    if (tensor === undefined || (k === undefined && request.binaryOutputs.has(name))) continue;
    const count = tensor.dims.reduce((a, b) => a * b, 1);
    const classes = tensor.dims.at(-1) ?? 1;
    elements += k === undefined || classes === 0 ? count : (count / classes) * k;
  }
  if (elements > max) {
    throw new BastionError(
      'OUTPUT_TOO_LARGE',
      `the JSON outputs would hold ${elements} elements, more than the ${max} this server encodes as JSON; send fewer rows or ask for binary outputs (parameters.binary_data_output) without classification`,
    );
  }
}

/** The classified outputs among `names` (top-k strings), built in slices for large outputs. */
async function classifyOutputs(
  names: readonly string[],
  outputs: Readonly<Record<string, HostTensor>>,
  request: Pick<BoundInferRequest, 'classification'>,
  labels: readonly string[] | undefined,
): Promise<Map<string, HostTensor>> {
  const classified = new Map<string, HostTensor>();
  for (const name of names) {
    const k = request.classification.get(name);
    const produced = outputs[name];
    if (k === undefined || produced === undefined) continue;
    const tensor = classifyInSlices(name, produced, k, labels);
    classified.set(name, tensor instanceof Promise ? await tensor : tensor);
  }
  return classified;
}

async function runWithDeadline(
  ready: ServedVersion,
  feeds: Readonly<Record<string, HostTensor>>,
  outputs: readonly string[],
  caller: Cancellation | AbortSignal | undefined,
  log: NonNullable<InferenceServiceOptions['log']>,
): Promise<Record<string, HostTensor>> {
  const { engine } = ready;
  if (caller instanceof Cancellation && engine.runsInline?.(feeds) === true) {
    // Runs to completion on this thread: nothing could interrupt it, so no signal, no timer.
    if (caller.aborted) throw abortReasonError(caller.reason);
    return inferOrExplain(ready, log, () => engine.run(feeds, outputs));
  }
  const cancellation = caller instanceof Cancellation ? caller : new Cancellation();
  const callerSignal = caller instanceof Cancellation ? undefined : caller;
  const signal = cancellation.signal;
  const timeoutMs = ready.tuning.timeoutMs;
  const timer = setTimeout(() => {
    cancellation.abort(
      new BastionError('DEADLINE_EXCEEDED', `inference did not finish within ${timeoutMs} ms`),
    );
  }, timeoutMs);
  const onCallerAbort = (): void => {
    cancellation.abort(clientClosedError());
  };
  if (callerSignal?.aborted === true) onCallerAbort();
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    // The engines reject as soon as the signal aborts, queued or running (the worker's result
    // is then dropped), so the deadline answers the client without waiting for the model.
    return await inferOrExplain(ready, log, () => engine.run(feeds, outputs, { signal }));
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onCallerAbort);
  }
}

/** Awaits a run, logging inference failures and turning unknown ones into INPUT_REJECTED_BY_MODEL. */
async function inferOrExplain(
  ready: ServedVersion,
  log: NonNullable<InferenceServiceOptions['log']>,
  run: () => Promise<Record<string, HostTensor>>,
): Promise<Record<string, HostTensor>> {
  try {
    return await run();
  } catch (error) {
    if (isBastionError(error)) {
      if (error.code === 'INPUT_REJECTED_BY_MODEL' || error.code === 'INFERENCE_FAILED') {
        log('warn', 'inference failed', {
          model: ready.model,
          version: ready.version,
          code: error.code,
          err: error.cause instanceof Error ? error.cause.message : undefined,
        });
      }
      throw error;
    }
    log('warn', 'inference failed', {
      model: ready.model,
      version: ready.version,
      err: error instanceof Error ? error.message : String(error),
    });
    throw new BastionError(
      'INPUT_REJECTED_BY_MODEL',
      'the model could not run on this input; check the shapes and values against the model metadata',
      { cause: error },
    );
  }
}
