import { relative, resolve, sep } from 'node:path';
import { isInside } from '../models/oms/path-exclusion.js';

/**
 * Turns `--ignore-paths` values into paths relative to the model folder. Like the reference
 * `model_signing` CLI, a value may be given relative to the working directory and include the
 * model folder (`models/m/1/extra`); a value that does not lie inside the model is taken as
 * already relative to it.
 */
export function resolveIgnorePaths(
  cwd: string,
  modelDir: string,
  values: readonly string[],
): string[] {
  const root = resolve(cwd, modelDir);
  return values.map((value) => {
    const rel = relative(root, resolve(cwd, value));
    const inside = isInside(rel);
    return inside ? rel.split(sep).join('/') : value;
  });
}
