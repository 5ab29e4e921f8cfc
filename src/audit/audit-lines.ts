/**
 * Line access to audit files without loading them whole: a forward stream of lines, and the last
 * lines read backwards from the end.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** One line of a file, without its `\n`. `terminated` is false for a last line with no `\n`. */
export interface AuditLine {
  readonly text: string;
  readonly terminated: boolean;
}

/** Streams the lines of `path` in order from byte `start` (default 0), reading in chunks. */
export async function* readAuditLines(path: string, start = 0): AsyncGenerator<AuditLine> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024, start })) {
    let buf = rest.length === 0 ? (chunk as Buffer) : Buffer.concat([rest, chunk as Buffer]);
    let nl = buf.indexOf(0x0a);
    while (nl !== -1) {
      yield { text: buf.toString('utf8', 0, nl), terminated: true };
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(0x0a);
    }
    rest = buf;
  }
  if (rest.length > 0) yield { text: rest.toString('utf8'), terminated: false };
}

/** The end of a file as read by {@link readLastLines}. */
export interface FileTail {
  /** Up to `count` last complete lines, oldest first (without `\n`). */
  readonly lines: readonly string[];
  /** Bytes after the last `\n` (a torn write), or '' when the file ends with `\n`. */
  readonly partial: string;
  /** File size in bytes. */
  readonly size: number;
  /** True when `lines` reach the start of the file (there are no earlier lines). */
  readonly fromStart: boolean;
}

const chunkBytes = 64 * 1024;

/**
 * Reads the last `count` lines of a file backwards from its end, in 64 KiB chunks, so the cost
 * depends on the length of those lines and not on the size of the file.
 */
export async function readLastLines(path: string, count: number): Promise<FileTail> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    let pos = size;
    let buf: Buffer = Buffer.alloc(0);
    const newlines = (): number => {
      let n = 0;
      for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
      return n;
    };
    // count + 1 newlines bound count complete lines (the first is the end of an earlier line).
    while (pos > 0 && newlines() < count + 1) {
      const len = Math.min(chunkBytes, pos);
      pos -= len;
      const chunk = Buffer.alloc(len);
      await handle.read(chunk, 0, len, pos);
      buf = Buffer.concat([chunk, buf]);
    }
    const lastNl = buf.lastIndexOf(0x0a);
    const partial = buf.toString('utf8', lastNl + 1);
    const body = lastNl === -1 ? '' : buf.toString('utf8', 0, lastNl);
    let lines = lastNl === -1 ? [] : body.split('\n');
    let fromStart = pos === 0;
    if (lines.length > count) {
      // The first piece may be the end of a longer line read only in part.
      lines = lines.slice(lines.length - count);
      fromStart = false;
    }
    return { lines, partial, size, fromStart };
  } finally {
    await handle.close();
  }
}
