/**
 * The registry's table rules on their own: what a load, a failed reload, a vanished folder and an
 * unload do to a model's versions and engines, which version a request gets, and the index row.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtInTuning } from '../../src/config/tuning-defaults.js';
import { BastionError } from '../../src/errors.js';
import {
  type FailedVersion,
  indexEntryOf,
  isUnloadedModel,
  statesByModel,
  type ModelEvent,
  type ReadyVersion,
  type VersionState,
} from '../../src/models/model-state.js';
import { chooseVersion, highestReady } from '../../src/models/version-choice.js';
import type { VersionLoader } from '../../src/models/version-loader.js';
import type { VersionEngine, VersionParts } from '../../src/models/version-preparer.js';
import {
  dropVanished,
  loadInto,
  unloadAll,
  type VersionTable,
} from '../../src/models/version-swap.js';

interface NamedEngine extends VersionEngine {
  readonly name: string;
}

function engine(name: string, placement?: 'inline' | 'pool'): NamedEngine {
  return {
    name,
    close: () => Promise.resolve(),
    ...(placement === undefined ? {} : { placement: () => placement }),
  };
}

function ready(version: number, name: string): ReadyVersion {
  return {
    state: 'ready',
    model: 'm',
    version,
    engine: engine(name),
    tuning: builtInTuning,
    modelSha256: name,
    signedBy: undefined,
    loadedAt: new Date(0),
  };
}

const failed = (version: number): FailedVersion => ({
  state: 'failed',
  model: 'm',
  version,
  reason: 'bad',
});

/** Engines tracked and retired, by name. */
function engineLog() {
  const log: string[] = [];
  const nameOf = (e: VersionEngine) => (e as NamedEngine).name;
  return {
    log,
    engines: {
      track: (e: VersionEngine) => log.push(`track ${nameOf(e)}`),
      retire: (e: VersionEngine) => log.push(`retire ${nameOf(e)}`),
    },
  };
}

function engineOf(state: VersionState | undefined): string | undefined {
  return state?.state === 'ready' ? (state.engine as NamedEngine).name : state?.state;
}

void describe('version table', () => {
  void it('a load marks versions loading, then a ready result replaces and retires the old engine', async () => {
    const table: VersionTable<VersionParts> = new Map([[1, ready(1, 'old')]]);
    const { log, engines } = engineLog();
    const seen: string[] = [];
    const load: VersionLoader<VersionParts> = (_model, version) => {
      // While loading: a ready version still serves, a new one shows as loading.
      seen.push([...table.values()].map((s) => `${s.version}:${engineOf(s)}`).join(' '));
      return Promise.resolve(ready(version, `new${version}`));
    };
    const results = await loadInto(table, 'm', [1, 2], load, engines);
    assert.deepEqual(seen, ['1:old 2:loading', '1:new1 2:loading']);
    assert.deepEqual(
      results.map((r) => r.state),
      ['ready', 'ready'],
    );
    assert.deepEqual(log, ['track new1', 'retire old', 'track new2']);
    assert.equal(engineOf(table.get(1)), 'new1');
    assert.equal(engineOf(table.get(2)), 'new2');
  });

  void it('a failed reload keeps the ready version serving, and still reports the failure', async () => {
    const table: VersionTable<VersionParts> = new Map<number, VersionState>([
      [1, ready(1, 'old')],
      [2, failed(2)],
    ]);
    const { log, engines } = engineLog();
    const results = await loadInto(
      table,
      'm',
      [1, 2, 3],
      (_m, v) => Promise.resolve(failed(v)),
      engines,
    );
    assert.deepEqual(
      results.map((r) => [r.version, r.state]),
      [
        [1, 'failed'],
        [2, 'failed'],
        [3, 'failed'],
      ],
    );
    assert.equal(engineOf(table.get(1)), 'old');
    assert.equal(engineOf(table.get(3)), 'failed');
    assert.deepEqual(log, []);
  });

  void it('versions gone from disk leave the table; their engines are retired', () => {
    const table: VersionTable<VersionParts> = new Map<number, VersionState>([
      [1, ready(1, 'one')],
      [2, failed(2)],
      [3, ready(3, 'three')],
    ]);
    const { log, engines } = engineLog();
    const events: ModelEvent[] = [];
    dropVanished(table, 'm', [3], engines, (e) => events.push(e));
    assert.deepEqual([...table.keys()], [3]);
    assert.deepEqual(log, ['retire one']);
    assert.deepEqual(events, [
      { type: 'unload', model: 'm', version: 1 },
      { type: 'unload', model: 'm', version: 2 },
    ]);
  });

  void it('an unload marks every version unloaded and retires the ready ones', () => {
    const table: VersionTable<VersionParts> = new Map<number, VersionState>([
      [1, ready(1, 'one')],
      [2, failed(2)],
    ]);
    const { log, engines } = engineLog();
    const events: ModelEvent[] = [];
    unloadAll(table, 'm', engines, (e) => events.push(e));
    assert.deepEqual(
      [...table.values()].map((s) => s.state),
      ['unloaded', 'unloaded'],
    );
    assert.deepEqual(log, ['retire one']);
    assert.equal(events.length, 2);
  });
});

void describe('version choice', () => {
  const table = new Map<number, VersionState>([
    [1, ready(1, 'one')],
    [2, failed(2)],
    [3, ready(3, 'three')],
    [4, { state: 'loading', model: 'm', version: 4 }],
  ]);

  void it('an unversioned request gets the highest ready version', () => {
    assert.equal(chooseVersion(table, 'm', undefined, true).version, 3);
    assert.equal(chooseVersion(table, 'm', 1, true).version, 1);
    assert.equal(highestReady(table.values())?.version, 3);
    assert.equal(highestReady([failed(1)]), undefined);
  });

  const refusals: [
    string,
    ReadonlyMap<number, VersionState> | undefined,
    number | undefined,
    boolean,
    string,
    number | undefined,
  ][] = [
    [
      'an unknown model before the first scan ends',
      undefined,
      undefined,
      false,
      'MODEL_NOT_READY',
      5,
    ],
    ['an unknown model after it', undefined, undefined, true, 'MODEL_NOT_FOUND', undefined],
    ['no ready version', new Map([[2, failed(2)]]), undefined, true, 'MODEL_NOT_READY', 5],
    ['an unknown version', table, 9, true, 'VERSION_NOT_FOUND', undefined],
    ['a failed version', table, 2, true, 'MODEL_NOT_READY', 5],
    ['a loading version', table, 4, true, 'MODEL_NOT_READY', 5],
  ];
  for (const [what, versions, version, started, code, retry] of refusals) {
    void it(`refuses ${what}: ${code}`, () => {
      assert.throws(
        () => chooseVersion(versions, 'm', version, started),
        (error: unknown) => {
          assert.ok(error instanceof BastionError);
          assert.equal(error.code, code);
          assert.equal(error.retryAfterSec, retry);
          return true;
        },
      );
    });
  }

  void it('an index row shows the state, the reason and where a ready version runs', () => {
    const placed = { ...ready(1, 'p'), engine: engine('p', 'pool') };
    assert.deepEqual(indexEntryOf(placed), {
      name: 'm',
      version: '1',
      state: 'READY',
      reason: '',
      placement: 'pool',
    });
    assert.deepEqual(indexEntryOf(ready(1, 'plain')), {
      name: 'm',
      version: '1',
      state: 'READY',
      reason: '',
    });
    assert.deepEqual(
      [
        failed(2),
        { state: 'loading', model: 'm', version: 4 } as const,
        { state: 'unloaded', model: 'm', version: 5 } as const,
      ].map(indexEntryOf),
      [
        { name: 'm', version: '2', state: 'UNAVAILABLE', reason: 'bad' },
        { name: 'm', version: '4', state: 'LOADING', reason: '' },
        { name: 'm', version: '5', state: 'UNLOADED', reason: '' },
      ],
    );
  });
});

void describe('states by model', () => {
  void it('groups the listed states; a model is unloaded when every version is', () => {
    const byModel = statesByModel([
      ready(1, 'one'),
      failed(2),
      { state: 'unloaded', model: 'u', version: 1 },
      { state: 'unloaded', model: 'u', version: 2 },
    ]);
    assert.deepEqual([...byModel.keys()], ['m', 'u']);
    assert.deepEqual(
      [...(byModel.get('m') ?? [])],
      [
        [1, 'ready'],
        [2, 'failed'],
      ],
    );
    assert.equal(isUnloadedModel(byModel.get('u')), true);
    assert.equal(isUnloadedModel(byModel.get('m')), false);
    assert.equal(isUnloadedModel(undefined), false, 'a model never seen is not unloaded');
  });
});
