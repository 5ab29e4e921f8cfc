/**
 * `node --import tsx bench/audit-writer.ts [--module PATH] [--connections N] [--records N]`:
 * the audit writer alone under concurrent appends, as a gateway's requests make them: N
 * "connections" each append a request record, wait for it to be durable (`fsync: always`), then
 * yield a turn, until `--records` are written. Prints records per fdatasync and process CPU per
 * record. `--module` points at another checkout's `src/audit/audit-log.ts` to compare writers
 * (fdatasync calls are counted on the FileHandle prototype, so any writer version is measured the
 * same way).
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    module: { type: 'string', default: 'src/audit/audit-log.ts' },
    connections: { type: 'string', default: '32' },
    records: { type: 'string', default: '20000' },
    hmac: { type: 'boolean', default: true },
  },
});
const connections = Number(values.connections);
const total = Number(values.records);

interface Writer {
  append(entry: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}
const mod = (await import(pathToFileURL(resolve(values.module)).href)) as {
  createAuditLog(options: Record<string, unknown>): Promise<Writer>;
};

const dir = await mkdtemp(join(tmpdir(), 'bastion-audit-bench-'));
// Count fdatasync on the FileHandle prototype, whatever the writer version.
const probe = await open(join(dir, 'probe'), 'w');
const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
await probe.close();
let syncs = 0;
const datasync = proto.datasync;
proto.datasync = function counted(this: unknown) {
  syncs++;
  return datasync.call(this);
};

const log = await mod.createAuditLog({
  path: join(dir, 'audit.log'),
  ...(values.hmac ? { hmacKey: new Uint8Array(32).fill(7) } : {}),
});
const entry = (i: number): Record<string, unknown> => ({
  event: 'request',
  outcome: 'allowed',
  requestId: `req-${i}`,
  sub: 'bench',
  ip: '127.0.0.1',
  method: 'POST',
  path: '/v2/models/mlp/infer',
  model: 'mlp',
  version: 1,
  status: 200,
  durationMs: 0.731,
  inputSha256: 'ab'.repeat(32),
});

syncs = 0;
let next = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(
  Array.from({ length: connections }, async () => {
    while (next < total) {
      await log.append(entry(next++));
      await new Promise<void>((r) => setImmediate(r));
    }
  }),
);
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
await log.close();
await rm(dir, { recursive: true, force: true });
const cpuUs = cpu.user + cpu.system;
process.stdout.write(
  `${values.module} c=${connections}: ${total} records, ${syncs} fdatasync → ${(total / syncs).toFixed(1)} records per fsync; ` +
    `${(cpuUs / total).toFixed(1)} µs CPU per record (user ${(cpu.user / total).toFixed(1)}, system ${(cpu.system / total).toFixed(1)}); ${((total / wall) * 1000).toFixed(0)} records/s\n`,
);
