/**
 * Reads a V8 `.cpuprofile` (node --cpu-prof) and says where the time went: self time per
 * function, and inclusive time per module (a package under node_modules, a file under src/, or
 * Node's internals), as shares of the non-idle samples.
 */
import { readFile } from 'node:fs/promises';
import { sourceUrlOf } from './stages.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One line of a profile summary. */
export interface ProfileShare {
  readonly name: string;
  readonly percent: number;
}

/** Where a profile's busy time went. */
export interface ProfileSummary {
  readonly file: string;
  /** Busy (non-idle) milliseconds sampled. */
  readonly busyMs: number;
  /** Idle share of the whole profile, percent. */
  readonly idlePercent: number;
  readonly selfByFunction: readonly ProfileShare[];
  readonly inclusiveByModule: readonly ProfileShare[];
  /** Throughput while profiled, when the caller knows it. */
  readonly requestsPerSec?: number;
  readonly requests?: number;
}

/** The module a frame belongs to: `pkg` for node_modules, `src/x/y.ts`, `node:…`, or `(…)`. */
export function moduleOf(frameUrl: string, functionName: string): string {
  const url = sourceUrlOf(frameUrl);
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  const own = /\/((?:src|bench|scripts)\/.*)$/.exec(url);
  if (own?.[1] !== undefined) return own[1];
  if (url.startsWith('node:')) return url;
  return url.replace(/^.*\//, '');
}

const idleNames = new Set(['(idle)', '(program)']);

/** Summarizes one profile file (`top` lines each). */
export async function summarizeProfile(file: string, top = 20): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  profile.samples.forEach((id, index) => {
    const dt = profile.timeDeltas[index] ?? 0;
    const node = byId.get(id);
    if (node === undefined) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (idleNames.has(functionName)) {
      idle += dt;
      return;
    }
    busy += dt;
    const mod = moduleOf(url, functionName);
    const key = `${functionName === '' ? '(anonymous)' : functionName} ${mod}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame === undefined || frame.functionName === '(root)') continue;
      seen.add(moduleOf(frame.url, frame.functionName));
    }
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  });
  const shares = (map: Map<string, number>): ProfileShare[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, percent: busy === 0 ? 0 : (100 * us) / busy }));
  return {
    file,
    busyMs: busy / 1000,
    idlePercent: busy + idle === 0 ? 0 : (100 * idle) / (busy + idle),
    selfByFunction: shares(self),
    inclusiveByModule: shares(inclusive),
  };
}
