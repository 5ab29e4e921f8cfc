/**
 * The JSON parse worker: parses a large infer body (or a large binary body's JSON header),
 * checks `model_name`/`model_version`, and validates and decodes it with the model version's own
 * request parser, so neither `JSON.parse` nor the per-element decoding and checking of a
 * multi-megabyte tensor runs on the event loop; the version's policy checks, scores and hashes
 * the decoded inputs here too (`policy-precheck.ts`). The decoded tensors go back as transferred
 * typed arrays, each in a buffer of its own (no copy, no re-parse).
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { isBastionError } from '../errors.js';
import type { HostTensor } from '../inference/engine.js';
import { createInferRequestParser, type InferRequestParser } from '../inference/input-schema.js';
import { compileModelPolicy, type ModelPolicy } from '../policy/model-policy.js';
import { precheckInputs } from '../policy/policy-precheck.js';
import { takeModelFields } from './infer-body.js';
import type { ParseJob, ParseResult } from './json-parse-protocol.js';
import { parseJsonBytes } from './json-body.js';

interface Compiled {
  readonly parser: InferRequestParser;
  readonly policy: ModelPolicy | undefined;
}
const compiled = new Map<string, Compiled>();
const maxCached = 64;

/** The version's request parser and policy, compiled once per load of a version. */
function compiledFor(job: ParseJob): Compiled {
  let entry = compiled.get(job.key);
  if (entry === undefined) {
    if (compiled.size >= maxCached) compiled.clear();
    entry = {
      parser: createInferRequestParser(job.signature, { maxElements: job.maxElements }),
      // Compiled on the main thread at load already, so it compiles here too.
      policy: job.policy === undefined ? undefined : compileModelPolicy(job.policy, job.signature),
    };
    compiled.set(job.key, entry);
  }
  return entry;
}

/**
 * Gives every numeric tensor of `feeds` a buffer of its own (a copy, here off the event loop,
 * when it is a view: the inputs of one binary body share its buffer), so that each can be
 * transferred back and on to a model worker without the event loop copying it.
 */
function ownBuffers(feeds: Record<string, HostTensor>): void {
  for (const name of Object.keys(feeds)) {
    const tensor = feeds[name] as HostTensor;
    const data = tensor.data;
    if (Array.isArray(data)) continue;
    const whole =
      data.buffer instanceof ArrayBuffer &&
      data.byteOffset === 0 &&
      data.byteLength === data.buffer.byteLength;
    if (!whole) feeds[name] = { ...tensor, data: data.slice() };
  }
}

/** The buffers a result hands over without copying: every tensor's own buffer. */
function transferables(result: ParseResult): ArrayBuffer[] {
  if (!result.ok) return [];
  const out = new Set<ArrayBuffer>();
  for (const tensor of Object.values(result.request.feeds)) {
    const data = tensor.data;
    if (!Array.isArray(data) && data.buffer instanceof ArrayBuffer) out.add(data.buffer);
  }
  return [...out];
}

async function handle(job: ParseJob): Promise<ParseResult> {
  const bytes = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
  // A binary body was hashed as it arrived; a JSON one is hashed here, off the event loop.
  const sha256 =
    job.binary === undefined ? createHash('sha256').update(bytes).digest('hex') : undefined;
  try {
    const what = job.binary === undefined ? 'the request body' : 'the JSON header';
    const body = parseJsonBytes(bytes, what);
    takeModelFields(body, job.model, job.version);
    const { parser, policy } = compiledFor(job);
    const request = parser.parse(body, job.binary);
    ownBuffers(request.feeds);
    const prechecked =
      policy === undefined ? undefined : await precheckInputs(policy, request.feeds);
    return { id: job.id, ok: true, request, prechecked, sha256 };
  } catch (error) {
    return isBastionError(error)
      ? { id: job.id, ok: false, code: error.code, message: error.message, sha256 }
      : {
          id: job.id,
          ok: false,
          code: 'INVALID_REQUEST',
          message: 'the request body could not be read',
          sha256,
        };
  }
}

// The pool sends a worker its next job only after this one's answer.
parentPort?.on('message', (job: ParseJob) => {
  void handle(job).then((result) => {
    parentPort?.postMessage(result, transferables(result));
  });
});
