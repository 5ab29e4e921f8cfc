import { OmsVerificationError } from './oms-verification-error.js';

function refuse(name: string, why: string): OmsVerificationError {
  return new OmsVerificationError(
    'resource-name',
    `signature lists an unsafe resource name ${JSON.stringify(name)}: ${why}`,
  );
}

/**
 * Refuses a signed file name that could point outside the model or be ambiguous: empty,
 * absolute, a `..` or empty segment, a backslash or NUL. `"."` alone (a single-file model) is
 * allowed; any other `.` segment is refused.
 * @throws OmsVerificationError `resource-name`.
 */
export function assertResourceName(name: string): void {
  if (name === '') throw refuse(name, 'it is empty');
  if (name === '.') return;
  if (name.includes('\0')) throw refuse(name, 'it contains NUL');
  if (name.includes('\\')) throw refuse(name, 'it contains a backslash');
  if (name.startsWith('/')) throw refuse(name, 'it is absolute');
  for (const segment of name.split('/')) {
    if (segment === '..') throw refuse(name, 'it contains ".."');
    if (segment === '' || segment === '.') throw refuse(name, 'it has an empty or "." segment');
  }
}

/** A `shards` resource name split into its parts: `path:start:end` (end exclusive). */
export interface ShardName {
  readonly path: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Parses and checks a `shards` resource name (`path:start:end`).
 * @throws OmsVerificationError `resource-name`.
 */
export function parseShardName(name: string): ShardName {
  const match = /^(.*):(0|[1-9][0-9]*):([1-9][0-9]*)$/.exec(name);
  const [, path, start, end] = match ?? [];
  if (path === undefined || start === undefined || end === undefined) {
    throw refuse(name, 'it is not path:start:end');
  }
  assertResourceName(path);
  const shard = { path, start: Number(start), end: Number(end) };
  if (!Number.isSafeInteger(shard.end) || shard.start >= shard.end) {
    throw refuse(name, 'its byte range is empty or too large');
  }
  return shard;
}
