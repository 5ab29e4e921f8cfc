/**
 * The configuration a Bastion pod runs with: the bastion-config ConfigMap passed through the
 * render-config init container's own command (run here with sh, as in the pod), then parsed by
 * Bastion's config loader in production mode.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config/config-schema.js';
import { parseConfigText } from '../../src/config/load-config.js';
import { type K8sObject, podSpecOf } from './manifests.js';

/** What {@link renderPodConfig} returns. */
export interface PodConfig {
  /** The rendered YAML, as the gateway container reads it. */
  readonly text: string;
  /** That YAML, validated by Bastion's loader with NODE_ENV=production. */
  readonly config: Readonly<Config>;
  /** server.drainDelayMs, as Bastion's loader reads it. */
  readonly drainDelayMs: number;
  /** The path the gateway container reads its configuration from (its --config). */
  readonly configPath: string;
}

/**
 * Renders the pod configuration of `podName` from rendered manifests `docs`.
 *
 * @throws Error when the init container fails, ConfigError when Bastion refuses the result.
 */
export function renderPodConfig(docs: readonly K8sObject[], podName: string): PodConfig {
  const sts = docs.find((d) => d.kind === 'StatefulSet' && d.metadata.name === 'bastion');
  const pod = sts === undefined ? undefined : podSpecOf(sts);
  const init = pod?.initContainers?.find((c) => c.name === 'render-config');
  const gateway = pod?.containers.find((c) => c.name === 'bastion');
  if (pod === undefined || init?.command === undefined || gateway === undefined) {
    throw new Error('no bastion StatefulSet with a render-config init container');
  }
  const configMapName = pod.volumes?.find((v) => v.name === 'config-template')?.configMap?.name;
  const configMap = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === configMapName);
  const template = (configMap?.data as Record<string, string> | undefined)?.['bastion.yaml'];
  if (template === undefined)
    throw new Error(`ConfigMap ${configMapName ?? '?'} has no bastion.yaml`);

  const env = Object.fromEntries((init.env ?? []).map((e) => [e.name, e.value ?? '']));
  const args = gateway.args ?? [];
  const configPath = args[args.indexOf('--config') + 1] ?? '';
  if (env.CONFIG_OUT !== configPath) {
    throw new Error(
      `the init container writes ${env.CONFIG_OUT ?? '?'}, the gateway reads ${configPath}`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'bastion-pod-config-'));
  try {
    writeFileSync(join(dir, 'template.yaml'), template);
    const [shell, ...shellArgs] = init.command;
    const result = spawnSync(shell ?? 'sh', shellArgs, {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        POD_NAME: podName,
        CONFIG_TEMPLATE: join(dir, 'template.yaml'),
        CONFIG_OUT: join(dir, 'out.yaml'),
      },
    });
    if (result.status !== 0) throw new Error(`render-config failed: ${result.stderr}`);
    const text = readFileSync(join(dir, 'out.yaml'), 'utf8');
    const config = parseProduction(text, configPath);
    return { text, config, drainDelayMs: config.server.drainDelayMs, configPath };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bastion's loader, production mode. */
export function parseProduction(text: string, file: string): Readonly<Config> {
  return parseConfigText(text, file, { NODE_ENV: 'production' });
}
