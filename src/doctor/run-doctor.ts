import type { Config } from '../config/config-schema.js';
import { loadTrustPolicy, type TrustPolicy } from '../models/trust-policy.js';
import { checkConfig } from './config-checks.js';
import { checkFiles, checkRepositoryKeys, checkSecrets } from './file-checks.js';
import { type Finding, formatFinding, severities } from './finding.js';
import { checkModels } from './model-checks.js';

/** Options of {@link runDoctor}. */
export interface DoctorOptions {
  /**
   * Verify every model version as the loader would (reads every model file). `serve` leaves it
   * off: its loader verifies anyway, and one bad version must not stop the others from serving.
   */
  readonly verifyModels: boolean;
}

/**
 * Runs every check on a validated configuration and the files it names; findings come worst
 * first. Reads files, never writes, never listens, creates no ONNX Runtime session.
 */
export async function runDoctor(
  config: Readonly<Config>,
  options: DoctorOptions,
): Promise<Finding[]> {
  const findings = [
    ...checkConfig(config),
    ...(await checkFiles(config)),
    ...(await checkSecrets(config)),
    ...(await checkRepositoryKeys(config)),
  ];
  if (options.verifyModels) {
    let trust: TrustPolicy | undefined;
    try {
      trust = await loadTrustPolicy(config);
    } catch (error) {
      findings.push({
        id: 'trusted-key-invalid',
        severity: 'high',
        key: 'models.trustedKeys',
        message: error instanceof Error ? error.message : String(error),
        fix: 'list PEM public keys (models.trustedKeys) and CA certificates (models.trustedRoots) only',
      });
    }
    findings.push(...(await checkModels(config, trust)));
  }
  return findings.sort((a, b) => severities.indexOf(a.severity) - severities.indexOf(b.severity));
}

/**
 * What `serve` refuses in production: the doctor's high findings (model files not read), each
 * one line naming the key and the fix. Empty in development.
 */
export async function productionRefusals(config: Readonly<Config>): Promise<string[]> {
  if (config.mode !== 'production') return [];
  const findings = await runDoctor(config, { verifyModels: false });
  return findings.filter((f) => f.severity === 'high').map(formatFinding);
}
