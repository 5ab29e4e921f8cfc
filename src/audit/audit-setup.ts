/**
 * The gateway's audit log as the configuration asks for it: the HMAC key (the configured file,
 * or in development one created under `stateDir`), the head checkpoint under `stateDir`, and the
 * external witness (a periodic keyed checkpoint line in the application log).
 */
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config-schema.js';
import { readHmacKeyFile } from './audit-hash.js';
import { loadOrCreateAuditKey } from './audit-key.js';
import { createAuditLog, type AuditLog } from './audit-log.js';

/**
 * Where a development start keeps its audit HMAC key, and the checkpoint file: by default
 * `<stateDir>/audit-checkpoints/<log name>.<12 hex of the log path's SHA-256>.json`, one per audit
 * log, so gateways that share a `stateDir` keep their own.
 */
export function auditStatePaths(config: Readonly<Config>): { key: string; checkpoint: string } {
  const { path } = config.audit;
  const id = createHash('sha256').update(path, 'utf8').digest('hex').slice(0, 12);
  return {
    key: join(config.stateDir, 'audit-hmac.key'),
    checkpoint:
      config.audit.checkpointFile ??
      join(config.stateDir, 'audit-checkpoints', `${basename(path)}.${id}.json`),
  };
}

/** Options of {@link openGatewayAudit}. */
export interface GatewayAuditOptions {
  readonly logger: Logger;
  /** `serve --recover-audit`: open over any finding by starting a new chain segment. */
  readonly recover: boolean;
  /** Called with the number of records a failed write lost. */
  readonly onWriteFailure?: (records: number) => void;
}

/**
 * Opens the audit log of `config.audit`, keyed and checkpointed.
 *
 * @throws Error naming the file when the key cannot be read or is short, and the
 *   `AuditLogError` of `createAuditLog` when the log does not match its checkpoint.
 */
export async function openGatewayAudit(
  config: Readonly<Config>,
  options: GatewayAuditOptions,
): Promise<AuditLog> {
  const { logger } = options;
  const paths = auditStatePaths(config);
  const hmacKey =
    config.audit.hmacKeyFile === undefined
      ? await loadOrCreateAuditKey(paths.key)
      : await readHmacKeyFile(config.audit.hmacKeyFile);
  const log = await createAuditLog({
    path: config.audit.path,
    hmacKey,
    fsync: config.audit.fsync === 'always' ? 'always' : { intervalMs: config.audit.fsync },
    maxBytes: config.audit.maxBytes,
    acceptBrokenTail: config.audit.acceptBrokenTail,
    checkpointPath: paths.checkpoint,
    recover: options.recover,
    onError: (error, failed) => {
      options.onWriteFailure?.(failed);
      logger.error({ err: error, records: failed }, 'AUDIT LOG WRITE FAILED');
    },
    onCheckpointError: (error) => {
      logger.error({ err: error }, 'audit head checkpoint could not be written');
    },
  });
  logger.info({ auditPath: config.audit.path, checkpointFile: paths.checkpoint }, 'audit log open');
  if (options.recover) {
    logger.warn({ auditHead: log.checkpoint() }, 'audit log opened in recovery (--recover-audit)');
  }
  return log;
}

/**
 * Logs the audit head (a keyed checkpoint, `auditHead`) every `intervalSec` (0: never) and once
 * more when stopped: operators ship these lines off the host, where they witness the head.
 *
 * @returns a function that stops the timer and logs the final head.
 */
export function startAuditWitness(log: AuditLog, logger: Logger, intervalSec: number): () => void {
  const emit = (): void => {
    const auditHead = log.checkpoint();
    if (auditHead !== undefined) logger.info({ auditHead }, 'audit head checkpoint');
  };
  const timer = intervalSec > 0 ? setInterval(emit, intervalSec * 1000) : undefined;
  timer?.unref();
  return () => {
    if (timer !== undefined) clearInterval(timer);
    emit();
    const { records, syncs } = log.stats();
    const perSync = syncs === 0 ? 0 : Math.round((records / syncs) * 10) / 10;
    logger.info({ records, syncs, recordsPerSync: perSync }, 'audit log closed');
  };
}
