import { pino, type DestinationStream, type Logger } from 'pino';

/** Paths that never reach the application log: credentials, tokens and tensor data. */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'body',
  '*.body',
  'data',
  '*.data',
  'inputs',
  '*.inputs',
];

/** Creates the application log (JSON lines on stdout unless a destination is given). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      name: 'bastion',
      redact: { paths: redactedPaths, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
