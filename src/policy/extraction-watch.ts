/**
 * Extraction watch (a policy's `extraction`): per subject and model, over a window, how many
 * distinct inputs were sent (a HyperLogLog estimate, 1 KiB per subject, ±3 %) and how many rows
 * landed near the decision boundary (top-2 score margin under a threshold) — the signature of
 * model extraction, which reads out the boundary through many probing queries. Crossing either
 * threshold raises one alert per window (an audit event and a metric, subjects hashed into 16
 * buckets so labels stay bounded). State is per process and in memory, bounded by `maxSubjects`.
 */
import { createHash, type Hash } from 'node:crypto';
import type { HostTensor, TensorData } from '../inference/engine.js';
import { inSlices, type MaybePromise, rowsPerSlice, sliceElements } from '../inference/slices.js';
import type { ExtractionSpec } from './policy-schema.js';

/** An alert raised by the watch. */
export interface ExtractionAlert {
  readonly model: string;
  readonly sub: string;
  /** `0`..`f`: the subject's hash bucket, for metric labels. */
  readonly bucket: string;
  readonly kind: 'distinct-inputs' | 'near-boundary';
  readonly count: number;
  readonly threshold: number;
  readonly windowSec: number;
}

/** The watch over every model's traffic. */
export interface ExtractionWatch {
  /**
   * Records one request: its inputs' hash ({@link hashFeeds}, taken before the run: an engine may
   * transfer the input buffers to a worker) for the distinct count, and the score output's rows
   * (unhardened) for the margin. Returns the near-boundary rows it saw (a promise when the
   * scores are counted in slices that yield to the event loop: `slices.ts`).
   */
  observe(
    model: string,
    sub: string,
    spec: ExtractionSpec,
    inputHash: number,
    scores: HostTensor | undefined,
    nowMs?: number,
  ): MaybePromise<number>;
}

const registers = 1024;
const alpha = 0.7213 / (1 + 1.079 / registers);

interface SubjectWindow {
  window: number;
  readonly hll: Uint8Array;
  nearBoundary: number;
  alertedDistinct: boolean;
  alertedBoundary: boolean;
}

/** Creates the watch; `onAlert` hears each alert once per subject, model and window. */
export function createExtractionWatch(
  onAlert: (alert: ExtractionAlert) => void,
  maxSubjects = 10_000,
): ExtractionWatch {
  const state = new Map<string, SubjectWindow>();
  return {
    observe(model, sub, spec, inputHash, scores, nowMs) {
      const near = scores === undefined ? 0 : nearBoundaryRowsInSlices(scores, spec.margin);
      return typeof near === 'number'
        ? record(model, sub, spec, inputHash, near, nowMs ?? Date.now())
        : near.then((n) => record(model, sub, spec, inputHash, n, nowMs ?? Date.now()));
    },
  };

  /** Adds one request to its subject's window and raises what it crosses; returns `near`. */
  function record(
    model: string,
    sub: string,
    spec: ExtractionSpec,
    inputHash: number,
    near: number,
    nowMs: number,
  ): number {
    const nowSec = Math.floor(nowMs / 1000);
    const window = nowSec - (nowSec % spec.windowSec);
    const key = `${model}\0${sub}`;
    let s = state.get(key);
    if (s === undefined || s.window !== window) {
      if (s === undefined && state.size >= maxSubjects) {
        const oldest = state.keys().next().value;
        if (oldest !== undefined) state.delete(oldest);
      }
      s = {
        window,
        hll: new Uint8Array(registers),
        nearBoundary: 0,
        alertedDistinct: false,
        alertedBoundary: false,
      };
      state.delete(key);
      state.set(key, s);
    }
    addToSketch(s.hll, inputHash);
    s.nearBoundary += near;
    const bucket = () => createHash('sha256').update(sub).digest('hex').slice(0, 1);
    if (!s.alertedBoundary && s.nearBoundary >= spec.nearBoundary) {
      s.alertedBoundary = true;
      onAlert({
        model,
        sub,
        bucket: bucket(),
        kind: 'near-boundary',
        count: s.nearBoundary,
        threshold: spec.nearBoundary,
        windowSec: spec.windowSec,
      });
    }
    if (!s.alertedDistinct) {
      const distinct = estimate(s.hll);
      if (distinct >= spec.distinctInputs) {
        s.alertedDistinct = true;
        onAlert({
          model,
          sub,
          bucket: bucket(),
          kind: 'distinct-inputs',
          count: Math.round(distinct),
          threshold: spec.distinctInputs,
          windowSec: spec.windowSec,
        });
      }
    }
    return near;
  }
}

/** Rows of `scores` (last axis = classes) whose two highest values differ by less than `margin`. */
export function nearBoundaryRows(scores: HostTensor, margin: number): number {
  const width = scores.dims.at(-1) ?? scores.data.length;
  return countNear(scores, margin, 0, rowsOf(scores, width));
}

/** {@link nearBoundaryRows} in slices that yield to the event loop when the tensor is large. */
export function nearBoundaryRowsInSlices(scores: HostTensor, margin: number): MaybePromise<number> {
  const width = scores.dims.at(-1) ?? scores.data.length;
  let near = 0;
  const pending = inSlices(
    rowsOf(scores, width),
    (from, to) => {
      near += countNear(scores, margin, from, to);
    },
    rowsPerSlice(width),
  );
  return pending === undefined ? near : pending.then(() => near);
}

function rowsOf(scores: HostTensor, width: number): number {
  return width < 2 ? 0 : Math.floor(scores.data.length / width);
}

function countNear(scores: HostTensor, margin: number, fromRow: number, toRow: number): number {
  const data = scores.data as Float32Array | Float64Array;
  const width = scores.dims.at(-1) ?? data.length;
  let near = 0;
  for (let row = fromRow; row < toRow; row++) {
    const start = row * width;
    let first = -Infinity;
    let second = -Infinity;
    for (let j = 0; j < width; j++) {
      const v = data[start + j] ?? 0;
      // Most values are not above the second highest: one comparison for them.
      if (v > second) {
        if (v > first) {
          second = first;
          first = v;
        } else second = v;
      }
    }
    if (first - second < margin) near++;
  }
  return near;
}

/**
 * A 32-bit hash of every input's elements, in input-name order (only the distinct-inputs sketch
 * uses it). Small inputs: FNV-1a over their bytes (a BYTES input: each element's UTF-16 code
 * units), then a murmur3 finaliser. Inputs over {@link nativeHashBytes}: the leading bytes of their
 * SHA-256, which native code computes over the raw bytes (a BYTES input adds each element's
 * length and UTF-8 bytes), since a byte-by-byte loop costs ~6 ns per byte on the event loop.
 */
export function hashFeeds(feeds: Readonly<Record<string, HostTensor>>): number {
  const names = Object.keys(feeds).sort();
  if (byteSize(feeds) <= nativeHashBytes) return fnvFeeds(feeds, names);
  const hash = createHash('sha256');
  for (const name of names) {
    const data = feeds[name]?.data;
    if (data !== undefined) hashElements(hash, data, 0, data.length);
  }
  return hash.digest().readUInt32BE(0);
}

/** Inputs up to this many bytes are hashed by a JS loop, larger ones natively. */
export const nativeHashBytes = 4096;

/** Elements whose bytes one slice of {@link hashFeedsInSlices} hashes (~1 MiB of FP32). */
const hashSliceElements = 1 << 18;

/**
 * {@link hashFeeds} (the same value) in slices that yield to the event loop when the inputs are
 * large.
 */
export async function hashFeedsInSlices(
  feeds: Readonly<Record<string, HostTensor>>,
): Promise<number> {
  const names = Object.keys(feeds).sort();
  if (byteSize(feeds) <= nativeHashBytes) return fnvFeeds(feeds, names);
  const hash = createHash('sha256');
  for (const name of names) {
    const data = feeds[name]?.data;
    if (data === undefined) continue;
    const pending = inSlices(
      data.length,
      (from, to) => {
        hashElements(hash, data, from, to);
      },
      Array.isArray(data) ? sliceElements : hashSliceElements,
    );
    if (pending !== undefined) await pending;
  }
  return hash.digest().readUInt32BE(0);
}

function byteSize(feeds: Readonly<Record<string, HostTensor>>): number {
  let bytes = 0;
  for (const name in feeds) {
    const data = feeds[name]?.data;
    if (data === undefined) continue;
    if (!Array.isArray(data)) bytes += data.byteLength;
    else for (const s of data) bytes += 4 + s.length;
  }
  return bytes;
}

function fnvFeeds(feeds: Readonly<Record<string, HostTensor>>, names: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const name of names) {
    const data = feeds[name]?.data;
    if (data === undefined) continue;
    if (Array.isArray(data)) {
      for (const s of data)
        for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
      continue;
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] ?? 0), 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Adds elements `[from, to)` of `data` to `hash`. */
function hashElements(hash: Hash, data: TensorData, from: number, to: number): void {
  if (!Array.isArray(data)) {
    const size = data.BYTES_PER_ELEMENT;
    hash.update(new Uint8Array(data.buffer, data.byteOffset + from * size, (to - from) * size));
    return;
  }
  const length = Buffer.alloc(4);
  for (let e = from; e < to; e++) {
    const bytes = Buffer.from(data[e] ?? '', 'utf8');
    length.writeUInt32LE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  }
}

function addToSketch(hll: Uint8Array, hash: number): void {
  const index = hash >>> 22;
  const rest = (hash << 10) >>> 0;
  const rank = rest === 0 ? 23 : Math.clz32(rest) + 1;
  if (rank > (hll[index] ?? 0)) hll[index] = rank;
}

/** The HyperLogLog estimate, with the small-range (linear counting) correction. */
function estimate(hll: Uint8Array): number {
  let sum = 0;
  let zeros = 0;
  for (const r of hll) {
    sum += 2 ** -r;
    if (r === 0) zeros++;
  }
  const raw = (alpha * registers * registers) / sum;
  if (raw <= 2.5 * registers && zeros > 0) return registers * Math.log(registers / zeros);
  return raw;
}
