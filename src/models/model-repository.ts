import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { ModelTuning } from '../config/config-schema.js';
import { createModelTuningSchema, modelNamePattern } from '../config/config-schema.js';
import { RefusalError } from '../errors.js';
import { unlessMissing } from '../fs-files.js';
import { formatIssues } from '../zod-issues.js';
import { mergeTuning } from '../config/tuning-defaults.js';

/** A version folder name: a positive integer without leading zeros. */
export const versionPattern = /^[1-9][0-9]{0,8}$/;

/** True when `name` is a valid model name (CONTRACT "Model repository"). */
export function isModelName(name: string): boolean {
  return modelNamePattern.test(name);
}

/** One model folder found in the repository. */
export interface RepositoryModel {
  readonly name: string;
  readonly dir: string;
  /** Version numbers found on disk, ascending. */
  readonly versions: readonly number[];
}

/** What a scan found, plus what it skipped and why. */
export interface RepositoryScan {
  readonly models: readonly RepositoryModel[];
  readonly skipped: readonly { readonly path: string; readonly reason: string }[];
}

/**
 * Lists `root/<model>/<version>/`. Entries with invalid names, symlinks and non-folders are
 * skipped with a reason; nothing is followed outside the repository.
 */
export async function scanRepository(root: string): Promise<RepositoryScan> {
  const models: RepositoryModel[] = [];
  const skipped: { path: string; reason: string }[] = [];
  const entries = await readdir(root, { withFileTypes: true });
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const dir = join(root, entry.name);
    if (!entry.isDirectory()) {
      if (!entry.isFile() || !/^readme(\.md)?$/i.test(entry.name)) {
        skipped.push({ path: entry.name, reason: 'not a folder' });
      }
      continue;
    }
    if (!isModelName(entry.name)) {
      skipped.push({ path: entry.name, reason: 'not a valid model name' });
      continue;
    }
    const found = await scanModel(root, entry.name);
    models.push({ name: entry.name, dir, versions: found.versions });
    skipped.push(...found.skipped);
  }
  return { models, skipped };
}

/** Lists the version folders of one model. */
export async function scanModel(
  root: string,
  name: string,
): Promise<{ versions: number[]; skipped: { path: string; reason: string }[] }> {
  const dir = join(root, name);
  const stat = await lstat(dir);
  if (!stat.isDirectory()) throw new Error(`model folder "${name}" is not a folder`);
  const versions: number[] = [];
  const skipped: { path: string; reason: string }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile() && entry.name === 'config.yaml') continue;
    if (!entry.isDirectory()) {
      skipped.push({ path: `${name}/${entry.name}`, reason: 'not a version folder' });
    } else if (!versionPattern.test(entry.name)) {
      skipped.push({ path: `${name}/${entry.name}`, reason: 'version must be a positive integer' });
    } else {
      versions.push(Number(entry.name));
    }
  }
  return { versions: versions.sort((a, b) => a - b), skipped };
}

/**
 * Reads `<model>/config.yaml` (operator-owned tuning) and merges it over the defaults.
 *
 * @throws RefusalError `tuning-invalid` naming every invalid field.
 */
export async function readModelTuning(
  modelDir: string,
  defaults: ModelTuning,
): Promise<ModelTuning> {
  const text = await unlessMissing(readFile(join(modelDir, 'config.yaml'), 'utf8'));
  if (text === undefined) return defaults;
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new RefusalError(
      'tuning-invalid',
      `config.yaml: ${doc.errors.map((e) => e.message.split('\n')[0]).join('; ')}`,
    );
  }
  const parsed = createModelTuningSchema().safeParse(doc.toJS({ maxAliasCount: 100 }) ?? {});
  if (!parsed.success) {
    throw new RefusalError(
      'tuning-invalid',
      `config.yaml: ${formatIssues(parsed.error.issues).join('; ')}`,
    );
  }
  return mergeTuning(defaults, parsed.data);
}
