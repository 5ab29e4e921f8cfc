/**
 * What tests need from the host: whether a system binary (redis-server, openssl, promtool) is
 * installed, and a free loopback port for a server the test starts itself.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Why a binary cannot be used (for `t.skip`), or undefined when it is on the PATH. Under
 * `BASTION_REQUIRE_SERVICES=1` (set by `.ci/run`) a missing binary throws instead, so CI never
 * goes green by skipping the real-service tests.
 */
export function missingBinary(name: string, pkg = name): string | undefined {
  const which = spawnSync('sh', ['-c', `command -v ${name}`]);
  if (which.status === 0) return undefined;
  const reason = `${name} not installed (Debian package "${pkg}")`;
  if (process.env.BASTION_REQUIRE_SERVICES === '1') {
    throw new Error(`${reason}, and BASTION_REQUIRE_SERVICES=1 requires it`);
  }
  return reason;
}

/** A loopback port that was free a moment ago. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolvePromise(port);
      });
    });
  });
}
