/**
 * Property-based fuzzing of the parsers an attacker or a careless operator feeds: the request
 * schema and tensor codec, the binary tensor extension, the config loader, the OMS bundle parser
 * (through the real verifier over real files) and `audit verify` (over real audit files). Each
 * either accepts or refuses with its domain error — never another exception, never a hang.
 */
import assert from 'node:assert/strict';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createAuditLog } from '../../src/audit/audit-log.js';
import { verifyAuditFiles } from '../../src/audit/audit-verify.js';
import { ConfigError, parseConfigText } from '../../src/config/load-config.js';
import { BastionError } from '../../src/errors.js';
import { decodeBinaryElements } from '../../src/inference/binary-tensor.js';
import { elementTypeOf, v2Datatypes } from '../../src/inference/datatypes.js';
import type { ElementType, ModelSignature } from '../../src/inference/engine.js';
import { createInferRequestParser } from '../../src/inference/input-schema.js';
import { isOmsVerificationError } from '../../src/models/oms/oms-verification-error.js';
import { verifyModelDirectory } from '../../src/models/oms/verify-model.js';
import { demoPublisherKey, tempDir } from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';
import { fuzzRuns, fuzzSeed } from './fuzz-settings.js';

const elementTypes: readonly ElementType[] = v2Datatypes.map(elementTypeOf);

const v2Names = v2Datatypes;

/** Fails the property unless `fn` returns, or throws an error `expected` accepts. */
function acceptsOrRefuses(fn: () => unknown, expected: (e: unknown) => boolean): void {
  try {
    fn();
  } catch (error) {
    assert.ok(expected(error), `unexpected ${String(error)}\n${(error as Error).stack ?? ''}`);
  }
}

interface DsseLike {
  readonly payload: string;
  readonly signatures: readonly { readonly sig: string }[];
}

const isBastion = (e: unknown): boolean => e instanceof BastionError && e.code !== 'INTERNAL';

void describe('fuzz: request schema and tensor codec', () => {
  const spec = fc.record({
    name: fc.stringMatching(/^[a-z]{1,6}$/),
    type: fc.constantFrom(...elementTypes),
    dims: fc.array(fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 5 })), { maxLength: 3 }),
  });
  const signature = fc
    .uniqueArray(spec, { minLength: 1, maxLength: 3, selector: (s) => s.name })
    .map((inputs): ModelSignature => ({
      inputs,
      outputs: [{ name: 'y', type: 'float32', dims: [-1] }],
    }));
  const value = fc.oneof(
    fc.double(),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.boolean(),
    fc.string({ maxLength: 8 }),
    fc.bigInt({ min: -(2n ** 65n), max: 2n ** 65n }).map(String),
    fc.constantFrom(null, 65504, 65520, -129, 256, 2 ** 32, 2 ** 53, -(2 ** 63), '1.5', ''),
  );
  const nested = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, value, fc.array(tie('node'), { maxLength: 5 })),
  })).node;
  const input = (sig: ModelSignature) =>
    fc.record(
      {
        name: fc.oneof(fc.constantFrom(...sig.inputs.map((i) => i.name)), fc.string()),
        shape: fc.array(fc.oneof(fc.integer({ min: -1, max: 6 }), fc.constant(2 ** 31)), {
          maxLength: 4,
        }),
        datatype: fc.constantFrom(...v2Names, 'fp32', 'BF16'),
        data: fc.oneof(fc.array(value, { maxLength: 30 }), nested),
        parameters: fc.oneof(
          fc.constant(undefined),
          fc.record({ binary_data_size: fc.oneof(fc.nat({ max: 64 }), fc.integer(), fc.string()) }),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      },
      { requiredKeys: ['name', 'shape', 'datatype'] },
    );

  void it('parse() accepts or refuses with a stable code, never anything else', (t) => {
    const seed = fuzzSeed(t);
    const cases = signature.chain((sig) =>
      fc.record({
        sig: fc.constant(sig),
        body: fc.oneof(
          fc.record({ inputs: fc.array(input(sig), { maxLength: 4 }) }, { requiredKeys: [] }),
          fc.record({
            inputs: fc.array(input(sig), { maxLength: 3 }),
            outputs: fc.jsonValue({ maxDepth: 2 }),
            id: fc.jsonValue({ maxDepth: 1 }),
          }),
          fc.jsonValue({ maxDepth: 4 }),
        ),
        binary: fc.option(fc.uint8Array({ maxLength: 128 })),
      }),
    );
    fc.assert(
      fc.property(cases, ({ sig, body, binary }) => {
        const parser = createInferRequestParser(sig, { maxElements: 4096 });
        acceptsOrRefuses(() => parser.parse(body, binary ?? undefined), isBastion);
      }),
      { seed, numRuns: fuzzRuns(2000) },
    );
  });

  void it('binary elements decode or refuse with a stable code', (t) => {
    const seed = fuzzSeed(t);
    fc.assert(
      fc.property(
        fc.constantFrom(...elementTypes),
        fc.nat({ max: 40 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.nat({ max: 7 }),
        (type, count, bytes, offset) => {
          // An unaligned view exercises the copying path.
          const buffer = new Uint8Array(bytes.length + offset);
          buffer.set(bytes, offset);
          const view = buffer.subarray(offset);
          acceptsOrRefuses(() => decodeBinaryElements('x', type, count, view), isBastion);
        },
      ),
      { seed, numRuns: fuzzRuns(3000) },
    );
  });
});

void describe('fuzz: the config loader', () => {
  const sections = ['server', 'auth', 'models', 'audit', 'metrics', 'limits', 'logging', 'mode'];
  const keyish = fc.oneof(
    fc.constantFrom(
      'host',
      'port',
      'tls',
      'issuer',
      'audience',
      'algorithms',
      'jwksFile',
      'repository',
      'trustedKeys',
      'path',
      'fsync',
      'bodyBytes',
      'requestsPerMinute',
      'level',
      'enabled',
      'hmacKeyFile',
    ),
    fc.string({ maxLength: 10 }),
  );
  const leaf = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.string({ maxLength: 20 }),
    fc.constantFrom(null, '0.0.0.0', '::', 'production', 'always', -1, 2 ** 40, '../../etc'),
  );
  const config = fc.dictionary(
    fc.oneof(fc.constantFrom(...sections), fc.string({ maxLength: 8 })),
    fc.oneof(leaf, fc.dictionary(keyish, fc.oneof(leaf, fc.array(leaf, { maxLength: 3 })))),
    { maxKeys: 6 },
  );

  void it('parseConfigText validates or throws ConfigError naming fields', (t) => {
    const seed = fuzzSeed(t);
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 4, arbitrary: config.map((c) => JSON.stringify(c)) },
          { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
          {
            weight: 1,
            arbitrary: fc.constantFrom(
              'a: &a [*a]',
              '!!binary x',
              '? [a]\n: b',
              'server: {port: 1e400}',
              'x: !!js/function "f"',
              'a: b\na: c',
            ),
          },
        ),
        (text) => {
          acceptsOrRefuses(
            () => parseConfigText(text, '/nonexistent/bastion.yaml'),
            (e) => e instanceof ConfigError && !e.message.includes('\n    at '),
          );
        },
      ),
      { seed, numRuns: fuzzRuns(1500) },
    );
  });
});

void describe('fuzz: the OMS bundle parser through the real verifier', () => {
  void it('a mutated model.sig is refused with a reason, never accepted or thrown', async (t) => {
    const seed = fuzzSeed(t);
    const dir = await tempDir(t);
    const model = join(dir, 'iris', '1');
    await cp(join(demoModels, 'iris', '1'), model, { recursive: true });
    const original = await readFile(join(model, 'model.sig'));
    const trust = { keys: [await readFile(demoPublisherKey, 'utf8')] };
    const json = JSON.parse(original.toString('utf8')) as Record<string, unknown>;
    const mutation = fc.oneof(
      // A flipped byte anywhere.
      fc
        .tuple(fc.nat({ max: original.length - 1 }), fc.integer({ min: 1, max: 255 }))
        .map(([at, xor]) => {
          const copy = Buffer.from(original);
          copy[at] = (copy[at] ?? 0) ^ xor;
          return copy;
        }),
      // A cut.
      fc.nat({ max: original.length - 1 }).map((cut) => original.subarray(0, cut)),
      // A top-level or nested field replaced by random JSON.
      fc
        .tuple(
          fc.constantFrom('mediaType', 'verificationMaterial', 'dsseEnvelope', 'extra'),
          fc.jsonValue({ maxDepth: 3 }),
        )
        .map(([key, v]) => Buffer.from(JSON.stringify({ ...json, [key]: v }))),
      fc
        .tuple(
          fc.constantFrom('payload', 'payloadType', 'signatures'),
          fc.jsonValue({ maxDepth: 3 }),
        )
        .map(([key, v]) =>
          Buffer.from(
            JSON.stringify({
              ...json,
              dsseEnvelope: { ...(json.dsseEnvelope as object), [key]: v },
            }),
          ),
        ),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async (sig) => {
        fc.pre(!sig.equals(original));
        await writeFile(join(model, 'model.sig'), sig);
        try {
          await verifyModelDirectory({ root: model, trust });
        } catch (error) {
          assert.ok(isOmsVerificationError(error), `not an OMS error: ${String(error)}`);
          assert.ok(!error.message.includes('\n'), error.message);
          return;
        }
        // Only a change that leaves the signed content intact may verify (JSON spacing, an
        // unsigned field such as a signature's keyid, a non-canonical base64 spelling): the
        // payload and signature bytes must be exactly the signed ones.
        const signed = (bundle: Buffer) => {
          const env = (JSON.parse(bundle.toString('utf8')) as { dsseEnvelope: DsseLike })
            .dsseEnvelope;
          return [
            Buffer.from(env.payload, 'base64'),
            Buffer.from(env.signatures[0]?.sig ?? '', 'base64'),
          ];
        };
        assert.deepEqual(signed(sig), signed(original), 'a changed payload or signature verified');
      }),
      { seed, numRuns: fuzzRuns(300) },
    );
  });
});

void describe('fuzz: audit verify over real files', () => {
  void it('any change to a written log is reported, never thrown', async (t) => {
    const seed = fuzzSeed(t);
    const dir = await tempDir(t);
    const path = join(dir, 'audit.log');
    const hmacKey = Buffer.alloc(32, 7);
    const log = await createAuditLog({ path, hmacKey, fsync: 'always' });
    for (let i = 0; i < 12; i++) {
      await log.append({
        event: 'request',
        outcome: i % 3 === 0 ? 'denied' : 'allowed',
        requestId: `r-${i}`,
        method: 'POST',
        path: '/v2/models/iris/infer',
        status: i % 3 === 0 ? 403 : 200,
      });
    }
    await log.close();
    const original = await readFile(path);
    const lines = original.toString('utf8').trimEnd().split('\n');
    const mutated = join(dir, 'mutated.log');
    const mutation = fc.oneof(
      fc
        .tuple(fc.nat({ max: original.length - 2 }), fc.integer({ min: 1, max: 255 }))
        .map(([at, xor]) => {
          const copy = Buffer.from(original);
          copy[at] = (copy[at] ?? 0) ^ xor;
          return copy;
        }),
      fc.nat({ max: lines.length - 1 }).map((i) => lines.filter((_, j) => j !== i)),
      fc
        .tuple(fc.nat({ max: lines.length - 1 }), fc.nat({ max: lines.length - 1 }))
        .filter(([a, b]) => a !== b)
        .map(([a, b]) => lines.map((l, j) => (j === a ? lines[b] : j === b ? lines[a] : l))),
      fc
        .nat({ max: lines.length - 1 })
        .map((i) => lines.flatMap((l, j) => (j === i ? [l, l] : [l]))),
      fc.nat({ max: original.length - 1 }).map((cut) => original.subarray(0, cut)),
      fc
        .tuple(fc.nat({ max: lines.length - 1 }), fc.string({ maxLength: 40 }))
        .map(([i, s]) => lines.map((l, j) => (j === i ? s : l))),
    );
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const bytes = Array.isArray(m) ? Buffer.from(`${(m as string[]).join('\n')}\n`) : m;
        fc.pre(!bytes.equals(original));
        await writeFile(mutated, bytes);
        const result = await verifyAuditFiles([mutated], { hmacKey });
        // A cut that ends exactly on a record boundary is only caught against the head checkpoint
        // (not given here); every other change must be reported.
        const cleanCut = original.subarray(0, bytes.length).equals(bytes) && bytes.at(-1) === 0x0a;
        if (!cleanCut) assert.equal(result.ok, false, `accepted: ${bytes.toString('utf8')}`);
        assert.ok(!result.message.includes('\n'));
      }),
      { seed, numRuns: fuzzRuns(400) },
    );
  });
});
