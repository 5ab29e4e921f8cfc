import { isAbsolute, sep } from 'node:path';

/** Paths OMS always leaves out of a model (the reference tool's defaults). */
export const defaultIgnorePaths = ['.git', '.gitattributes', '.github', '.gitignore'] as const;

/** Decides whether a relative POSIX path is excluded from the model. */
export type PathExclusion = (relativePath: string) => boolean;

/** Normalizes an ignore path to a relative POSIX path, or `undefined` when it can never match. */
export function normalizeIgnorePath(path: string): string | undefined {
  let p = path.replaceAll('\\', '/');
  while (p.startsWith('./')) p = p.slice(2);
  while (p.endsWith('/')) p = p.slice(0, -1);
  if (p === '' || p === '.' || p.startsWith('/') || p.split('/').includes('..')) return undefined;
  return p.replaceAll(/\/+/g, '/');
}

/**
 * Builds an exclusion test from ignore paths: a path is excluded when it equals an ignore path
 * or lies inside one (folder prefix). Never by basename: `a/.git` does not exclude `b/a/.git`.
 * Absolute paths, `..` and the model root itself are dropped: they never exclude anything.
 */
export function createPathExclusion(ignorePaths: Iterable<string>): PathExclusion {
  const paths = new Set<string>();
  for (const path of ignorePaths) {
    const normalized = normalizeIgnorePath(path);
    if (normalized !== undefined) paths.add(normalized);
  }
  return (relativePath) => {
    if (paths.has(relativePath)) return true;
    for (let i = relativePath.indexOf('/'); i >= 0; i = relativePath.indexOf('/', i + 1)) {
      if (paths.has(relativePath.slice(0, i))) return true;
    }
    return false;
  };
}

/** True when `relativePath` (from `path.relative(root, x)`) names something strictly inside root. */
export function isInside(relativePath: string): boolean {
  return (
    relativePath !== '' &&
    relativePath !== '..' &&
    !relativePath.startsWith(`..${sep}`) &&
    !isAbsolute(relativePath)
  );
}
