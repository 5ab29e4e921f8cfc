/**
 * A real redis-server for a test: its own process on a free loopback port, nothing persisted,
 * killed when the test ends.
 */
import { spawn } from 'node:child_process';
import { freeLoopbackPort } from './system-tools.js';

type Cleanup = { after: (fn: () => Promise<void>) => void };

/** Starts `redis-server` and resolves once it accepts connections, with its URL. */
export async function startRedisServer(t: Cleanup): Promise<{ url: string; port: number }> {
  const port = await freeLoopbackPort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--loglevel',
      'notice',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`redis-server did not start in 5 s:\n${output}`));
    }, 5000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${String(code)}:\n${output}`));
    });
  });
  return { url: `redis://127.0.0.1:${port}`, port };
}
