/**
 * The JSON parse worker: parses a large infer body, checks `model_name`/`model_version`, and
 * validates and decodes it with the model version's own request parser, so neither
 * `JSON.parse` nor the per-element decoding of a multi-megabyte tensor runs on the event loop.
 * The decoded tensors go back as transferred typed arrays (no copy, no re-parse).
 */
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { isBastionError } from '../errors.js';
import { createInferRequestParser, type InferRequestParser } from '../inference/input-schema.js';
import { takeModelFields } from './infer-body.js';
import type { ParseJob, ParseResult } from './json-parse-protocol.js';
import { parseJsonBytes } from './json-body.js';

const parsers = new Map<string, InferRequestParser>();
const maxCachedParsers = 64;

function parserFor(job: ParseJob): InferRequestParser {
  let parser = parsers.get(job.key);
  if (parser === undefined) {
    if (parsers.size >= maxCachedParsers) parsers.clear();
    parser = createInferRequestParser(job.signature, { maxElements: job.maxElements });
    parsers.set(job.key, parser);
  }
  return parser;
}

/** The buffers a result can hand over without copying: whole, unshared ones. */
function transferables(result: ParseResult): ArrayBuffer[] {
  if (!result.ok) return [];
  const out = new Set<ArrayBuffer>();
  for (const tensor of Object.values(result.request.feeds)) {
    const data = tensor.data;
    if (Array.isArray(data)) continue;
    const view = data as ArrayBufferView;
    if (
      view.buffer instanceof ArrayBuffer &&
      view.byteOffset === 0 &&
      view.byteLength === view.buffer.byteLength
    ) {
      out.add(view.buffer);
    }
  }
  return [...out];
}

parentPort?.on('message', (job: ParseJob) => {
  const bytes = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let result: ParseResult;
  try {
    const body = parseJsonBytes(bytes);
    takeModelFields(body, job.model, job.version);
    result = { id: job.id, ok: true, request: parserFor(job).parse(body), sha256 };
  } catch (error) {
    result = isBastionError(error)
      ? { id: job.id, ok: false, code: error.code, message: error.message, sha256 }
      : {
          id: job.id,
          ok: false,
          code: 'INVALID_REQUEST',
          message: 'the request body could not be read',
          sha256,
        };
  }
  parentPort?.postMessage(result, transferables(result));
});
