#!/usr/bin/env node
// Entry point for `npx bastion`. Runs the TypeScript sources through tsx when no build exists,
// so a fresh clone works with `npm ci && npm start` alone.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { register } from 'node:module';

const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (existsSync(built)) {
  await import(built);
} else {
  register('tsx/esm', import.meta.url);
  await import('../src/cli/main.ts');
}
