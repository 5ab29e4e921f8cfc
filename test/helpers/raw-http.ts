/**
 * Raw HTTP/1.1 over one loopback socket, for what `fetch` cannot send (malformed request lines,
 * half-sent heads, pipelined requests on one keep-alive connection) and for reading every byte
 * the server answers, connection close included.
 */
import { connect, type Socket } from 'node:net';

/** One parsed HTTP response. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
}

/** Splits what a server sent into responses (Content-Length framed; no chunked bodies). */
export function parseResponses(bytes: Buffer): RawAnswer[] {
  const out: RawAnswer[] = [];
  let rest = bytes;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = rest.subarray(end + 4, end + 4 + length);
    out.push({ status, headers, text: body.toString('utf8') });
    rest = rest.subarray(end + 4 + length);
  }
  return out;
}

/** A socket's whole conversation: what came back, and whether the server closed it. */
export interface Exchange {
  readonly answers: RawAnswer[];
  readonly closedByServer: boolean;
  readonly bytes: Buffer;
}

/**
 * Writes `chunks` to a fresh connection (each after the previous is flushed), then collects the
 * answers until `expect` responses arrived or the server closed, or `timeoutMs` passed.
 */
export function exchange(
  port: number,
  chunks: readonly (string | Buffer)[],
  options: { expect?: number; timeoutMs?: number } = {},
): Promise<Exchange> {
  const expect = options.expect ?? 1;
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let closedByServer = false;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const bytes = Buffer.concat(received);
      resolve({ answers: parseResponses(bytes), closedByServer, bytes });
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 10_000);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (parseResponses(Buffer.concat(received)).length >= expect && expect > 0) {
        // Give a closing server a moment to send its FIN, so closedByServer is meaningful.
        setTimeout(finish, 50);
      }
    });
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('error', () => {
      closedByServer = true;
      finish();
    });
    socket.on('connect', () => {
      void (async () => {
        for (const chunk of chunks) {
          if (socket.destroyed) return;
          await new Promise<void>((done) =>
            socket.write(chunk, () => {
              done();
            }),
          );
        }
      })();
    });
  });
}
