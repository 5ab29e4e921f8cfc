#!/usr/bin/env node
// Entry point for `npx bastion`. Runs the compiled build when there is one (npm run build),
// else the TypeScript sources through tsx, so a fresh clone works with `npm ci && npm start`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Before anything can load ONNX Runtime's native library (src/inference/ort-environment.ts sets
// the same again): no telemetry database or debug log under HOME / TMPDIR, and no session options
// taken from a model's own metadata. Worker threads share this process environment.
process.env.ORT_DISABLE_TELEMETRY = '1';
process.env.ORT_LOAD_CONFIG_FROM_MODEL = '0';
process.env.ORT_ENABLE_PROFILING = '0';

const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (existsSync(built)) {
  await import(built);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
