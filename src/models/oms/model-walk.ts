import { createHash, type Hash } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { constants as fsConstants, type Stats } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { OmsVerificationError } from './oms-verification-error.js';
import type { PathExclusion } from './path-exclusion.js';

/** One regular file of the model, read exactly once. */
export interface WalkedFile {
  /** POSIX path relative to the model root (the basename for a single-file model). */
  readonly name: string;
  /** Lowercase hex SHA-256 of the whole file. */
  readonly digest: string;
  /** `path:start:end` → digest, when a shard size was asked for (empty files have none). */
  readonly shards: ReadonlyMap<string, string> | undefined;
  /** The very bytes that were hashed, when `keepBytes` was asked for. */
  readonly bytes: Buffer | undefined;
}

/** How {@link walkModel} reads the model. */
export interface WalkOptions {
  readonly exclusion: PathExclusion;
  readonly keepBytes: boolean;
  readonly shardSize?: number | undefined;
}

const chunkBytes = 1024 * 1024;

function createShardHasher(name: string, shardSize: number) {
  const shards = new Map<string, string>();
  let position = 0;
  let start = 0;
  let hash: Hash = createHash('sha256');
  const close = (): void => {
    shards.set(`${name}:${start}:${position}`, hash.digest('hex'));
    start = position;
    hash = createHash('sha256');
  };
  return {
    update(chunk: Buffer): void {
      let rest = chunk;
      while (rest.length > 0) {
        const take = Math.min(shardSize - (position - start), rest.length);
        hash.update(rest.subarray(0, take));
        position += take;
        rest = rest.subarray(take);
        if (position - start === shardSize) close();
      }
    },
    finish(): ReadonlyMap<string, string> {
      if (position > start) close();
      return shards;
    },
  };
}

function assertRegular(stats: Stats, name: string): void {
  if (stats.isSymbolicLink()) {
    throw new OmsVerificationError('symlink', `model file ${JSON.stringify(name)} is a symlink`);
  }
  if (!stats.isFile()) {
    throw new OmsVerificationError(
      'special-file',
      `model entry ${JSON.stringify(name)} is not a regular file or folder`,
    );
  }
}

/** Opens without following links, hashes while reading, and keeps the bytes if asked. */
async function readOnce(path: string, name: string, options: WalkOptions): Promise<WalkedFile> {
  const handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch(
    (error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') {
        throw new OmsVerificationError(
          'symlink',
          `model file ${JSON.stringify(name)} is a symlink`,
        );
      }
      throw error;
    },
  );
  try {
    const stats = await handle.stat();
    assertRegular(stats, name);
    if (options.keepBytes && stats.size > bufferConstants.MAX_LENGTH) {
      throw new OmsVerificationError(
        'unsupported',
        `model file ${JSON.stringify(name)} is too large`,
      );
    }
    const whole = createHash('sha256');
    const sharder =
      options.shardSize === undefined ? undefined : createShardHasher(name, options.shardSize);
    const consume = (chunk: Buffer): void => {
      whole.update(chunk);
      sharder?.update(chunk);
    };
    let bytes: Buffer | undefined;
    if (options.keepBytes) {
      const target = Buffer.alloc(stats.size);
      let total = 0;
      while (total < target.length) {
        const length = Math.min(chunkBytes, target.length - total);
        const { bytesRead } = await handle.read(target, total, length, null);
        if (bytesRead === 0) break;
        consume(target.subarray(total, total + bytesRead));
        total += bytesRead;
      }
      const { bytesRead: extra } = await handle.read(Buffer.alloc(1), 0, 1, null);
      if (total !== target.length || extra !== 0) {
        throw new OmsVerificationError(
          'digest-mismatch',
          `model file ${JSON.stringify(name)} changed size while it was read`,
        );
      }
      bytes = target;
    } else {
      const chunk = Buffer.alloc(chunkBytes);
      for (;;) {
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
        if (bytesRead === 0) break;
        consume(chunk.subarray(0, bytesRead));
      }
    }
    return {
      name,
      digest: whole.digest('hex'),
      shards: sharder?.finish(),
      bytes,
    };
  } finally {
    await handle.close();
  }
}

async function walkFolder(
  folder: string,
  prefix: string,
  options: WalkOptions,
  out: WalkedFile[],
): Promise<void> {
  const entries = await readdir(folder);
  entries.sort();
  for (const entry of entries) {
    const name = prefix === '' ? entry : `${prefix}/${entry}`;
    if (options.exclusion(name)) continue;
    const path = join(folder, entry);
    const stats = await lstat(path);
    if (stats.isDirectory()) await walkFolder(path, name, options, out);
    else {
      assertRegular(stats, name);
      out.push(await readOnce(path, name, options));
    }
  }
}

/**
 * Walks a model (a folder, or one file) with lstat, refusing symlinks and special files, and
 * reads every file that is not excluded exactly once, hashing as it reads.
 * @throws OmsVerificationError `symlink`, `special-file`, `unsupported`, `digest-mismatch`
 *   (a file grew while it was read); file system errors pass through.
 */
export async function walkModel(root: string, options: WalkOptions): Promise<WalkedFile[]> {
  const stats = await lstat(root);
  if (stats.isDirectory()) {
    const out: WalkedFile[] = [];
    await walkFolder(root, '', options, out);
    return out;
  }
  const name = basename(root);
  assertRegular(stats, name);
  return [await readOnce(root, name, options)];
}
