#!/usr/bin/env node
// Entry point for `npx bastion`. Runs the compiled build when there is one (npm run build),
// else the TypeScript sources through tsx, so a fresh clone works with `npm ci && npm start`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (existsSync(built)) {
  await import(built);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
