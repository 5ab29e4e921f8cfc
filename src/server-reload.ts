import { readFile } from 'node:fs/promises';
import type { TokenVerifier } from './auth/token-verifier.js';
import type { Config } from './config/config-schema.js';
import type { ModelRegistry } from './models/model-registry.js';
import { scanRepository } from './models/model-repository.js';
import { isUnloadedModel, statesByModel } from './models/model-state.js';
import { loadTrustPolicy, type TrustPolicy } from './models/trust-policy.js';

/** What one SIGHUP reload did, part by part (logged as one line). */
export interface ReloadReport {
  /** `reloaded: N anchors`, or why the previous set was kept. */
  readonly trustedKeys: string;
  /** `reloaded: N keys`, `refetched`, or why nothing changed. */
  readonly jwks: string;
  /** Versions the scan tried to load, `model/version: state`. */
  readonly models: readonly string[];
}

/** A trust policy whose anchors can be swapped while the registry keeps using it. */
export interface ReloadableTrust extends TrustPolicy {
  replace(next: TrustPolicy): void;
}

/** Wraps `initial` so that {@link ReloadableTrust.replace} takes effect for the next load. */
export function createReloadableTrust(initial: TrustPolicy): ReloadableTrust {
  let current = initial;
  return {
    get anchors() {
      return current.anchors;
    },
    get empty() {
      return current.empty;
    },
    get keyless() {
      return current.keyless;
    },
    forModel: (model) => current.forModel(model),
    replace(next) {
      current = next;
    },
  };
}

/** Dependencies of {@link createReloader}. */
export interface ReloaderOptions {
  readonly config: Readonly<Config>;
  readonly registry: ModelRegistry;
  readonly trust: ReloadableTrust;
  readonly verifier: TokenVerifier;
  /** The JWKS file the verifier reads (the dev issuer's, or auth.jwksFile). */
  readonly jwksFile: string | undefined;
}

function message(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
}

async function reloadTrust(options: ReloaderOptions): Promise<string> {
  try {
    const next = await loadTrustPolicy(options.config);
    if (next.empty && options.config.mode === 'production') {
      return 'kept the previous anchors: the files list none, which production refuses';
    }
    options.trust.replace(next);
    return `reloaded: ${next.anchors.length} anchors`;
  } catch (error) {
    return `kept the previous anchors: ${message(error)}`;
  }
}

async function reloadJwks(options: ReloaderOptions): Promise<string> {
  const { auth } = options.config;
  if (options.jwksFile !== undefined) {
    try {
      const parsed = JSON.parse(await readFile(options.jwksFile, 'utf8')) as { keys?: unknown };
      if (!Array.isArray(parsed.keys)) throw new Error('no "keys" array');
      await options.verifier.refreshKeys();
      return `reloaded: ${parsed.keys.length} keys`;
    } catch (error) {
      return `kept the previous keys: ${message(error)}`;
    }
  }
  if (auth.jwksUrl !== undefined) {
    try {
      await options.verifier.refreshKeys();
      return 'refetched';
    } catch (error) {
      return `kept the previous keys: ${message(error)}`;
    }
  }
  return 'not reloaded: the HS* secret is read at start-up only';
}

/**
 * The SIGHUP reload: what can change without a restart, each part on its own so that one failure
 * keeps the rest. Trusted keys and roots are re-read (a file that no longer parses keeps the
 * previous set); the JWKS file is re-read (the verifier keeps its last good keys on a bad file)
 * or a remote JWKS refetched; the repository is scanned and every version that is new or failed
 * is verified and loaded — ready versions keep serving, unloaded models stay unloaded. The
 * configuration file itself is not re-read (a restart applies it). Never throws.
 */
export function createReloader(options: ReloaderOptions): () => Promise<ReloadReport> {
  const { registry } = options;
  let running: Promise<ReloadReport> | undefined;

  async function reloadModels(): Promise<string[]> {
    if (!registry.started) return ['skipped: the first load is still running'];
    const done: string[] = [];
    let scan;
    try {
      scan = await scanRepository(registry.repository);
    } catch (error) {
      return [`scan failed: ${message(error)}`];
    }
    const known = statesByModel(registry.list());
    for (const model of scan.models) {
      const states = known.get(model.name);
      if (isUnloadedModel(states)) continue;
      const todo = model.versions.filter((v) => {
        const state = states?.get(v);
        return state === undefined || state === 'failed';
      });
      if (todo.length === 0) continue;
      try {
        const results = await registry.loadVersions(model.name, todo);
        for (const r of results) done.push(`${r.model}/${r.version}: ${r.state}`);
      } catch (error) {
        done.push(`${model.name}: ${message(error)}`);
      }
    }
    return done;
  }

  async function reload(): Promise<ReloadReport> {
    const trustedKeys = await reloadTrust(options);
    const jwks = await reloadJwks(options);
    const models = await reloadModels();
    return { trustedKeys, jwks, models };
  }

  let again: Promise<ReloadReport> | undefined;
  return () => {
    // A SIGHUP during a reload gets one more reload after it (the files may have changed since);
    // a burst of signals coalesces into that one, so a flood cannot queue unbounded work.
    if (running === undefined) {
      running = reload().finally(() => {
        running = undefined;
      });
      return running;
    }
    again ??= running.then(() => {
      again = undefined;
      running = reload().finally(() => {
        running = undefined;
      });
      return running;
    });
    return again;
  };
}
