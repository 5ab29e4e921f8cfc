import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadIrisDataset } from '../../scripts/demo-models/iris-model.js';
import { policyCommand } from '../../src/cli/policy-command.js';
import { parsePolicyText } from '../../src/policy/policy-schema.js';
import { captureIo } from '../helpers/capture-io.js';
import { tempDir } from '../helpers/gateway.js';
import { demoModels } from '../helpers/observe.js';

void describe('bastion policy', () => {
  void it('fit on the iris CSV reproduces the demo policy reference, and --bounds adds ranges', async (t) => {
    const dir = await tempDir(t);
    const { x } = loadIrisDataset();
    const csv = join(dir, 'iris.csv');
    await writeFile(csv, `sl,sw,pl,pw,species\n${x.map((r) => `${r.join(',')},x`).join('\n')}\n`);
    const io = captureIo(dir);
    const code = await policyCommand(
      ['fit', '--data', 'iris.csv', '--input', 'features', '--columns', '0,1,2,3', '--bounds'],
      io,
    );
    assert.equal(code, 0, io.err.join('\n'));
    const printed = io.out.join('\n');
    const fitted = parsePolicyText(printed);
    const demo = parsePolicyText(await readFile(join(demoModels, 'iris/1/policy.yaml'), 'utf8'));
    assert.deepEqual(fitted.ood?.mean, demo.ood?.mean);
    assert.deepEqual(fitted.ood?.inverseCovariance, demo.ood?.inverseCovariance);
    assert.equal(fitted.ood?.threshold, demo.ood?.threshold);
    const bounds = (parse(printed) as { inputs: { features: { features: unknown[] } } }).inputs
      .features.features;
    assert.deepEqual(bounds[2], { min: 1, max: 6.9 });
  });

  void it('fit reads .npy rows', async (t) => {
    const dir = await tempDir(t);
    const rows = Float64Array.from([1, 2, 2, 3.5, 3, 6, 4, 8.5]);
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }";
    header += `${' '.repeat(63 - ((10 + header.length) % 64))}\n`;
    const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0]);
    prefix.writeUInt16LE(header.length, 8);
    await writeFile(
      join(dir, 'rows.npy'),
      Buffer.concat([prefix, Buffer.from(header), Buffer.from(rows.buffer)]),
    );
    const io = captureIo(dir);
    assert.equal(
      await policyCommand(['fit', '--data', 'rows.npy', '--input', 'x', '--action', 'reject'], io),
      0,
    );
    const ood = parsePolicyText(io.out.join('\n')).ood;
    assert.ok(ood);
    assert.deepEqual(ood.mean, [2.5, 5]);
    assert.equal(ood.action, 'reject');
  });

  const usage: [string, string[], RegExp][] = [
    ['no subcommand', [], /expected "fit" or "check"/],
    ['no --data', ['fit', '--input', 'x'], /--data is required/],
    ['no --input', ['fit', '--data', 'a.csv'], /--input is required/],
    [
      'a bad quantile',
      ['fit', '--data', 'a.csv', '--input', 'x', '--quantile', '1.5'],
      /--quantile/,
    ],
    ['a bad action', ['fit', '--data', 'a.csv', '--input', 'x', '--action', 'drop'], /--action/],
    ['bad columns', ['fit', '--data', 'a.csv', '--input', 'x', '--columns', 'a,b'], /--columns/],
    ['an unknown option', ['fit', '--data', 'a.csv', '--input', 'x', '--nope'], /nope/],
    ['a missing file', ['fit', '--data', 'missing.csv', '--input', 'x'], /ENOENT|no such file/],
  ];
  for (const [name, args, says] of usage) {
    void it(`exits 2 on ${name}`, async (t) => {
      const io = captureIo(await tempDir(t));
      assert.equal(await policyCommand(args, io), 2);
      assert.match(io.err.join('\n'), says);
    });
  }

  void it('check: 0 for the demo policy, 1 naming the problem for a bad one, --help 0', async (t) => {
    const dir = await tempDir(t);
    const ok = captureIo(dir);
    assert.equal(await policyCommand(['check', join(demoModels, 'iris/1/policy.yaml')], ok), 0);
    await writeFile(join(dir, 'bad.yaml'), 'inputs:\n  x: {all: {min: 3, max: 1}}\n');
    const bad = captureIo(dir);
    assert.equal(await policyCommand(['check', 'bad.yaml'], bad), 1);
    assert.match(bad.err.join('\n'), /min must not exceed max/);
    const help = captureIo(dir);
    assert.equal(await policyCommand(['--help'], help), 0);
    assert.match(help.out.join('\n'), /policy fit --data/);
  });
});
