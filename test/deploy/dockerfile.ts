/**
 * The repository's Dockerfile, parsed, and its HEALTHCHECK run outside a container: shared by the
 * static lint (test/deploy/dockerfile-lint.test.ts) and the check of the HEALTHCHECK against a
 * real gateway in the documented production setup (healthcheck-production.test.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from './manifests.js';

/** The Dockerfile's text. */
export const dockerfileText = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
/** The Dockerfile, parsed. */
export const dockerfile = DockerfileParser.parse(dockerfileText);

/** The keys of config/production.example.yaml the image must agree with. */
export const production = parseYaml(
  readFileSync(join(repoRoot, 'config/production.example.yaml'), 'utf8'),
) as {
  stateDir: string;
  server: { port: number };
  models: { repository: string };
  audit: { path: string };
  metrics: { host: string; port: number };
};

/** The JSON-array form of an instruction (CMD, ENTRYPOINT, HEALTHCHECK CMD). */
export function jsonForm(instruction: Instruction, after = ''): string[] {
  const content = instruction.getArgumentsContent() ?? '';
  const at = after === '' ? 0 : content.indexOf(after) + after.length;
  return JSON.parse(content.slice(at).trim()) as string[];
}

/**
 * Runs the HEALTHCHECK command as Docker would inside the container, with its port (the
 * production example's `metrics.port`) pointed at `port`; resolves its exit code.
 */
export function runHealthcheck(port: number): Promise<number | null> {
  const healthcheck = dockerfile.getHEALTHCHECKs()[0];
  assert.ok(healthcheck);
  const command = jsonForm(healthcheck, 'CMD');
  assert.equal(command[0], 'node', 'node, not curl (the image has no curl)');
  const script = command.at(-1) ?? '';
  assert.ok(script.includes(`http://127.0.0.1:${production.metrics.port}/v2/health/live`));
  const child = spawn(
    process.execPath,
    [...command.slice(1, -1), script.replace(`:${production.metrics.port}/`, `:${port}/`)],
    { stdio: 'ignore' },
  );
  return new Promise((resolvePromise) => {
    child.on('exit', (code) => {
      resolvePromise(code);
    });
  });
}
