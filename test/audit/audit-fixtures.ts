// Shared helpers for the audit tests: temp folders and small logs.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createAuditLog, type AuditLogOptions } from '../../src/audit/audit-log.js';
import type { AuditEntry } from '../../src/audit/audit-record.js';

/** A fresh temp folder, removed after the test. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bastion-audit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A request entry for user `sub`. */
export function requestEntry(sub: string, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    event: 'request',
    outcome: 'allowed',
    requestId: `req-${sub}`,
    sub,
    ip: '127.0.0.1',
    method: 'POST',
    path: '/v2/models/iris/infer',
    model: 'iris',
    version: 1,
    status: 200,
    durationMs: 1.5,
    inputSha256: 'a'.repeat(64),
    ...extra,
  };
}

/** Writes `count` records to a new log at `path` and closes it. */
export async function writeLog(
  path: string,
  count: number,
  options: Omit<AuditLogOptions, 'path'> = {},
): Promise<void> {
  const log = await createAuditLog({ ...options, path });
  for (let i = 1; i <= count; i++) await log.append(requestEntry(`user${i}`));
  await log.close();
}

/** The lines of a file (without the final empty piece). */
export async function readLines(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((line) => line !== '');
}
