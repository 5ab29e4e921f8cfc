/**
 * No source file over 400 lines (STYLE.md: "split past 400"). A file still waiting for its split
 * is named below with the reason; the entry must go once the file is under the limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sourceFiles } from './source-files.js';

const maxLines = 400;

/** Files over the limit that another change is splitting now, and which one. */
const pendingSplit: ReadonlyMap<string, string> = new Map<string, string>([]);

function lineCount(text: string): number {
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

void describe('file size', () => {
  const files = sourceFiles();

  void it(`no file under src/ is longer than ${maxLines} lines`, () => {
    const long = files
      .filter((f) => !pendingSplit.has(f.path) && lineCount(f.text) > maxLines)
      .map((f) => `${f.path}: ${lineCount(f.text)} lines`);
    assert.deepEqual(
      long,
      [],
      `split these files (at most ${maxLines} lines):\n${long.join('\n')}`,
    );
  });

  void it('every pending split is still needed (remove the entry once the file is short)', () => {
    for (const [path, why] of pendingSplit) {
      const file = files.find((f) => f.path === path);
      assert.ok(file !== undefined, `${path} (pending split: ${why}) no longer exists`);
      assert.ok(
        lineCount(file.text) > maxLines,
        `${path} is ${lineCount(file.text)} lines now: remove it from pendingSplit`,
      );
    }
  });
});
