import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/** The repository root. */
export const root = resolve(import.meta.dirname, '../..');

/** One TypeScript file under `src/`, path relative to the root with `/` separators. */
export interface SourceFile {
  readonly path: string;
  readonly text: string;
}

/** Every `.ts` file under `src/`, sorted by path. */
export function sourceFiles(): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) {
        out.push({
          path: relative(root, full).split('\\').join('/'),
          text: readFileSync(full, 'utf8'),
        });
      }
    }
  };
  walk(join(root, 'src'));
  return out.sort((a, b) => a.path.localeCompare(b.path));
}
