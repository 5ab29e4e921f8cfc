import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/** Options of {@link limitConnectionsPerAddress}. */
export interface ConnectionLimitOptions {
  /** Open connections one client address may hold; the next one is closed at once. */
  readonly maxPerAddress: number;
  /** Called for each connection refused (metrics, log). */
  readonly onRefused?: (address: string) => void;
}

/**
 * Caps the open connections per client address (the TCP peer: behind a proxy, the proxy). A
 * connection over the cap is destroyed as it is accepted, before a request on it is handled, so one client holding
 * thousands of half-sent requests cannot use up the server's global `maxConnections`.
 */
export function limitConnectionsPerAddress(server: Server, options: ConnectionLimitOptions): void {
  const open = new Map<string, number>();
  const onConnection = (socket: Socket): void => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = (open.get(address) ?? 0) + 1;
    if (count > options.maxPerAddress) {
      options.onRefused?.(address);
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  };
  // After Node's own listener, so its bookkeeping sees the socket close like any other.
  server.on('connection', onConnection);
}

/**
 * How often Node checks the headers and request timeouts of open connections. Node's default
 * (30 s) lets a slow-header socket live up to 30 s past `headersTimeout`; a quarter of the
 * timeout, at most one second, closes it close to the configured time.
 */
export function connectionsCheckingIntervalFor(headersTimeoutMs: number): number {
  return Math.max(100, Math.min(1000, Math.floor(headersTimeoutMs / 4)));
}
