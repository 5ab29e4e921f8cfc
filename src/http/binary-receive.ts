/**
 * Reads a binary tensor extension body as it streams in, so that no step touches the whole body
 * at once on the event loop: the JSON header goes to a buffer of its own, the binary data is
 * copied chunk by chunk into one buffer allocated up front from `Content-Length` (a body of
 * unknown length is assembled at the end, yielding between megabytes), and the SHA-256 of the
 * whole body for the audit log is updated chunk by chunk.
 *
 * The binary data starts at offset 0 of its own `ArrayBuffer`: a single input's elements are
 * aligned whatever the header's length, so they are decoded as a view (no copy), and the buffer
 * can be transferred to a worker thread without a copy.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BastionError, isBastionError } from '../errors.js';

/** A binary body as received: its two parts and the digest of all of it. */
export interface ReceivedBinaryBody {
  /** The JSON header's bytes (still unparsed). */
  readonly header: Buffer;
  /** The bytes after the header, at offset 0 of a buffer of their own. */
  readonly binary: Uint8Array;
  /** Hex SHA-256 of the whole body (header and binary data), as it was received. */
  readonly sha256: string;
}

/** What {@link receiveBinaryBody} needs to know about the body before reading it. */
export interface BinaryBodyFrame {
  /** The JSON header's length in bytes (`Inference-Header-Content-Length`). */
  readonly headerLength: number;
  /** The body's length when known before reading (`Content-Length`, no content coding). */
  readonly declaredLength: number | undefined;
  /** Most bytes the body may have (`limits.bodyBytes`). */
  readonly limit: number;
}

/** Bytes copied between two yields when a body of unknown length is assembled. */
const assembleSliceBytes = 2 * 1024 * 1024;

/**
 * Reads `payload` (the request body, or its inflated stream, which counts what came off the wire
 * in `receivedEncodedLength`) to its end.
 *
 * @throws BastionError BODY_TOO_LARGE past `limit` bytes (reading stops there),
 *   INVALID_BINARY_DATA when the body is shorter than its header, BAD_REQUEST when it does not
 *   match its `Content-Length` or cannot be read.
 */
export function receiveBinaryBody(
  payload: Readable & { receivedEncodedLength?: number },
  frame: BinaryBodyFrame,
): Promise<ReceivedBinaryBody> {
  const { headerLength, declaredLength, limit } = frame;
  if (declaredLength !== undefined && declaredLength > limit) {
    return Promise.reject(tooLarge(limit));
  }
  if (declaredLength !== undefined && declaredLength < headerLength) {
    return Promise.reject(shorterThanHeader(headerLength, declaredLength));
  }
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const header = Buffer.allocUnsafe(headerLength);
    const binary =
      declaredLength === undefined ? undefined : new Uint8Array(declaredLength - headerLength);
    const chunks: Buffer[] = []; // the binary data of a body of unknown length
    let received = 0;
    const stop = (): void => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
      payload.off('close', onClose);
    };
    const fail = (error: BastionError): void => {
      stop();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > limit || (payload.receivedEncodedLength ?? 0) > limit) {
        fail(tooLarge(limit));
        return;
      }
      hash.update(chunk);
      if (!placeChunk(chunk, received, header, binary, chunks)) {
        fail(lengthMismatch());
        return;
      }
      received += chunk.length;
    };
    const onEnd = (): void => {
      stop();
      const refusal = endRefusal(received, declaredLength, headerLength);
      if (refusal !== undefined) {
        reject(refusal);
        return;
      }
      const sha256 = hash.digest('hex');
      if (binary !== undefined) {
        resolve({ header, binary, sha256 });
        return;
      }
      assemble(chunks, received - headerLength).then(
        (assembled) => {
          resolve({ header, binary: assembled, sha256 });
        },
        (error: unknown) => {
          reject(unreadable(error));
        },
      );
    };
    const onError = (error: unknown): void => {
      fail(isBastionError(error) ? error : unreadable(error));
    };
    const onClose = (): void => {
      fail(unreadable(new Error('the client closed the connection before the body ended')));
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.on('close', onClose);
    payload.resume();
  });
}

/**
 * Puts one chunk, which starts `received` bytes into the body, where it belongs: its first bytes
 * into `header` (exactly the header's length) while the header is incomplete, the rest into
 * `binary` at its offset, or onto `chunks` when the body's length is unknown. False (nothing of
 * the binary data copied) when the chunk runs past the declared length.
 */
function placeChunk(
  chunk: Buffer,
  received: number,
  header: Buffer,
  binary: Uint8Array | undefined,
  chunks: Buffer[],
): boolean {
  const headerLength = header.length;
  let at = 0;
  if (received < headerLength) {
    at = Math.min(headerLength - received, chunk.length);
    chunk.copy(header, received, 0, at);
  }
  if (at < chunk.length) {
    const part = chunk.subarray(at);
    const offset = received + at - headerLength;
    if (binary === undefined) chunks.push(part);
    else if (offset + part.length <= binary.length) binary.set(part, offset);
    else return false;
  }
  return true;
}

/** Why a body that ended after `received` bytes is refused; undefined when it is whole. */
function endRefusal(
  received: number,
  declaredLength: number | undefined,
  headerLength: number,
): BastionError | undefined {
  if (declaredLength !== undefined && received !== declaredLength) return lengthMismatch();
  if (received < headerLength) return shorterThanHeader(headerLength, received);
  return undefined;
}

/** Copies `chunks` into one buffer of `total` bytes, yielding to the event loop between slices. */
async function assemble(chunks: readonly Buffer[], total: number): Promise<Uint8Array> {
  const out = new Uint8Array(total);
  let offset = 0;
  let sinceYield = 0;
  for (const chunk of chunks) {
    if (sinceYield >= assembleSliceBytes) {
      await nextTurn();
      sinceYield = 0;
    }
    out.set(chunk, offset);
    offset += chunk.length;
    sinceYield += chunk.length;
  }
  return out;
}

function tooLarge(limit: number): BastionError {
  return new BastionError(
    'BODY_TOO_LARGE',
    `the request body is larger than ${limit} bytes (limits.bodyBytes)`,
  );
}

function shorterThanHeader(headerLength: number, bodyLength: number): BastionError {
  return new BastionError(
    'INVALID_BINARY_DATA',
    `inference-header-content-length is ${headerLength} but the body is only ${bodyLength} bytes`,
  );
}

function lengthMismatch(): BastionError {
  return new BastionError('BAD_REQUEST', 'the Content-Length header does not match the body');
}

function unreadable(cause: unknown): BastionError {
  return new BastionError('BAD_REQUEST', 'the request body could not be read', { cause });
}
