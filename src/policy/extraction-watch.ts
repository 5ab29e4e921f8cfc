/**
 * Extraction watch (a policy's `extraction`): per subject and model, over a window, how many
 * distinct inputs were sent (a HyperLogLog estimate, 1 KiB per subject, ±3 %) and how many rows
 * landed near the decision boundary (top-2 score margin under a threshold) — the signature of
 * model extraction, which reads out the boundary through many probing queries. Crossing either
 * threshold raises one alert per window (an audit event and a metric, subjects hashed into 16
 * buckets so labels stay bounded). State is per process and in memory, bounded by `maxSubjects`.
 */
import { createHash } from 'node:crypto';
import type { HostTensor } from '../inference/engine.js';
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
   * (unhardened) for the margin. Returns the near-boundary rows it saw.
   */
  observe(
    model: string,
    sub: string,
    spec: ExtractionSpec,
    inputHash: number,
    scores: HostTensor | undefined,
    nowMs?: number,
  ): number;
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
    observe(model, sub, spec, inputHash, scores, nowMs = Date.now()) {
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
      const near = scores === undefined ? 0 : nearBoundaryRows(scores, spec.margin);
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
    },
  };
}

/** Rows of `scores` (last axis = classes) whose two highest values differ by less than `margin`. */
export function nearBoundaryRows(scores: HostTensor, margin: number): number {
  const data = scores.data as Float32Array | Float64Array;
  const width = scores.dims.at(-1) ?? data.length;
  if (width < 2) return 0;
  let near = 0;
  for (let start = 0; start + width <= data.length; start += width) {
    let first = -Infinity;
    let second = -Infinity;
    for (let j = 0; j < width; j++) {
      const v = data[start + j] ?? 0;
      if (v > first) {
        second = first;
        first = v;
      } else if (v > second) second = v;
    }
    if (first - second < margin) near++;
  }
  return near;
}

/** FNV-1a over every input's bytes, then a murmur3 finaliser for well-mixed bits. */
export function hashFeeds(feeds: Readonly<Record<string, HostTensor>>): number {
  let h = 0x811c9dc5;
  for (const name of Object.keys(feeds).sort()) {
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
