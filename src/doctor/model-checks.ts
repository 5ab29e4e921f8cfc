import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { Config } from '../config/config-schema.js';
import { resolveTuningDefaults } from '../config/tuning-defaults.js';
import {
  readModelTuning,
  scanRepository,
  type RepositoryModel,
} from '../models/model-repository.js';
import { createSignedVersionReader } from '../models/signed-version-reader.js';
import type { TrustPolicy } from '../models/trust-policy.js';
import type { VersionReader } from '../models/version-files.js';
import { effectivelyUnlimitedPerMinute } from './config-checks.js';
import type { Finding } from './finding.js';

/** The tuning keys the doctor reads straight from YAML (they may be set in config.yaml files). */
interface RawTuning {
  readonly allowExternalData?: unknown;
  readonly requestsPerMinute?: unknown;
}

async function rawTuning(modelDir: string): Promise<RawTuning> {
  const text = await readFile(join(modelDir, 'config.yaml'), 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  const value: unknown = parseDocument(text).toJS();
  return typeof value === 'object' && value !== null ? value : {};
}

function tuningFindings(key: string, tuning: RawTuning): Finding[] {
  const findings: Finding[] = [];
  if (tuning.allowExternalData === true) {
    findings.push({
      id: 'external-data-allowed',
      severity: 'low',
      key,
      message:
        'allowExternalData: true lets model weights live in other files; each must be signed and inside the version folder',
      fix: 'keep it only for models over 2 GiB; otherwise save the model with its data inline and remove allowExternalData',
    });
  }
  if (
    typeof tuning.requestsPerMinute === 'number' &&
    tuning.requestsPerMinute >= effectivelyUnlimitedPerMinute
  ) {
    findings.push({
      id: 'rate-limit-off',
      severity: 'medium',
      key: `${key.replace(/\.allowExternalData$/, '')}.requestsPerMinute`,
      message: `${tuning.requestsPerMinute} requests per minute never triggers`,
      fix: 'lower requestsPerMinute to what one caller may legitimately send, or remove it',
    });
  }
  return findings;
}

/**
 * Every model version as the loader would see it, without creating an ONNX Runtime session: the
 * signature and every file digest checked by the real version reader, a model file present (and a
 * key for an encrypted one), the model's `config.yaml` valid; plus the tuning that weakens a
 * defense (external data allowed, a per-model rate limit that never triggers).
 */
export async function checkModels(
  config: Readonly<Config>,
  trust: TrustPolicy | undefined,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  findings.push(...tuningFindings('models.defaults', config.models.defaults));
  let scan;
  try {
    scan = await scanRepository(config.models.repository);
  } catch (error) {
    return [
      ...findings,
      {
        id: 'repository-unreadable',
        severity: 'high',
        key: 'models.repository',
        message: `${config.models.repository} cannot be listed (${error instanceof Error ? error.message : String(error)})`,
        fix: 'point models.repository at the folder holding <model>/<version>/ folders',
      },
    ];
  }
  const readVersion =
    trust === undefined
      ? undefined
      : createSignedVersionReader({
          trust,
          allowUnsigned: config.models.allowUnsigned,
          ignorePaths: config.models.ignorePaths,
        });
  const encryptionKey =
    config.models.encryptionKeyFile !== undefined || config.models.encryptionKeyEnv !== undefined;
  let servable = 0;
  for (const model of scan.models) {
    const checked = await checkModel(model, config, readVersion, encryptionKey);
    findings.push(...checked.findings);
    servable += checked.servable;
  }
  if (readVersion !== undefined && servable === 0) {
    findings.push({
      id: 'no-servable-model',
      severity: 'high',
      key: 'models.repository',
      message: `no model version in ${config.models.repository} would load, so the gateway would never be ready`,
      fix: 'add signed versions (models/<name>/<version>/model.onnx + model.sig) or fix the findings above',
    });
  }
  return findings;
}

/**
 * One model: its tuning findings, each version the reader would refuse (none read without a
 * reader), and a `config.yaml` that fails to parse (which refuses every version); `servable`
 * counts the versions that would load.
 */
async function checkModel(
  model: RepositoryModel,
  config: Readonly<Config>,
  readVersion: VersionReader | undefined,
  encryptionKey: boolean,
): Promise<{ findings: Finding[]; servable: number }> {
  const findings = tuningFindings(`${model.name}/config.yaml`, await rawTuning(model.dir));
  const problems: string[] = [];
  try {
    await readModelTuning(model.dir, resolveTuningDefaults(config));
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  let servable = 0;
  for (const version of model.versions) {
    if (readVersion === undefined) break;
    const label = `${model.name}/${version}`;
    try {
      await checkVersion(readVersion, join(model.dir, String(version)), model.name, encryptionKey);
      if (problems.length === 0) servable++;
    } catch (error) {
      findings.push({
        id: 'model-verification',
        severity: 'medium',
        key: `models.repository: ${label}`,
        message: `would be refused: ${(error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''}`,
        fix: 'sign the version again (npx bastion sign) with a key listed in models.trustedKeys, or remove the folder',
      });
    }
  }
  for (const problem of problems) {
    findings.push({
      id: 'model-verification',
      severity: 'medium',
      key: `models.repository: ${model.name}/config.yaml`,
      message: `every version of ${model.name} would be refused: ${problem}`,
      fix: 'correct the model tuning file (see config/production.example.yaml, models.defaults)',
    });
  }
  return { findings, servable };
}

/**
 * Reads a version folder as the loader would (signature and digests) and checks it holds one
 * model file, with a key configured when it is encrypted.
 *
 * @throws Error saying why the version would be refused.
 */
async function checkVersion(
  readVersion: VersionReader,
  dir: string,
  name: string,
  encryptionKey: boolean,
): Promise<void> {
  const { files } = await readVersion(dir, name);
  const plain = files.has('model.onnx');
  const encrypted = files.has('model.onnx.enc');
  if (plain && encrypted) throw new Error('both model.onnx and model.onnx.enc are present');
  if (!plain && !encrypted) throw new Error('the version folder has no model.onnx');
  if (encrypted && !encryptionKey) {
    throw new Error('model.onnx.enc is encrypted but no models.encryptionKey is configured');
  }
}
