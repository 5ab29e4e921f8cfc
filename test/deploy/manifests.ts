/**
 * Loading and validating the Kubernetes manifests of deploy/kubernetes offline: every document
 * is checked against the Kubernetes (and Prometheus Operator) OpenAPI schemas shipped in the
 * kubernetes-models packages, plus a strict pass that finds fields the schema does not know
 * (those packages, like a lenient API server, let unknown fields through: a misspelt
 * `readOnlyRootFilesytem` would otherwise pass). Overlays are rendered by `kubectl kustomize`
 * (kustomize built into kubectl, no cluster needed) when kubectl is installed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { missingBinary } from '../helpers/system-tools.js';

/** The repository's root folder. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** deploy/kubernetes. */
export const kubernetesDir = join(repoRoot, 'deploy/kubernetes');

/** A Kubernetes object as parsed from YAML. */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string } & Record<
    string,
    unknown
  >;
  readonly [key: string]: unknown;
}

/** Every YAML document in `file`; throws on a YAML error. */
export function readDocuments(file: string): K8sObject[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  return list.map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? 'YAML'}`);
    return doc.toJS() as K8sObject;
  });
}

/** Every file under deploy/kubernetes, relative to it. */
export function kubernetesFiles(dir = kubernetesDir): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...kubernetesFiles(path));
    else out.push(relative(kubernetesDir, path));
  }
  return out.sort();
}

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** The kubernetes-models class for an apiVersion and kind. */
async function modelClass(apiVersion: string, kind: string): Promise<ModelClass> {
  if (!/^[A-Za-z]+$/.test(kind) || !/^[a-z0-9.]*\/?v[0-9a-z]+$/.test(apiVersion)) {
    throw new Error(`unexpected apiVersion/kind ${apiVersion} ${kind}`);
  }
  const specifier = apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`
    : `kubernetes-models/${apiVersion}/${kind}`;
  let module: Record<string, unknown>;
  try {
    module = (await import(specifier)) as Record<string, unknown>;
  } catch {
    throw new Error(`no schema for ${apiVersion} ${kind} (a typo in apiVersion or kind?)`);
  }
  return module[kind] as ModelClass;
}

function validationError(Class: ModelClass, data: unknown): string | undefined {
  try {
    new Class(data).validate();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Accepted by no schema type: not a string, number, boolean, object or array of one type. */
const poison = [null, 1, 'x', true, {}, []];

/**
 * Paths of fields the schema does not constrain at all, i.e. does not know: each field in turn
 * is replaced by a value no declared type accepts; where the document still validates, the
 * schema has no property of that name.
 */
function unknownFields(Class: ModelClass, doc: K8sObject): string[] {
  const unknown: string[] = [];
  const root = structuredClone(doc) as unknown as Record<string, unknown>;
  const visit = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => {
        visit(item, `${path}[${i}]`);
      });
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const saved = record[key];
      record[key] = poison;
      const accepted = validationError(Class, root) === undefined;
      record[key] = saved;
      if (accepted) unknown.push(`${path}.${key}`);
      else visit(saved, `${path}.${key}`);
    }
  };
  visit(root, '');
  return unknown;
}

/** Problems with one object: schema errors, then unknown fields. Empty when valid. */
export async function validateObject(doc: K8sObject): Promise<string[]> {
  const where = `${doc.kind}/${doc.metadata.name}`;
  const Class = await modelClass(doc.apiVersion, doc.kind);
  const error = validationError(Class, doc);
  if (error !== undefined) return [`${where}: ${error}`];
  return unknownFields(Class, doc).map((path) => `${where}: unknown field ${path.slice(1)}`);
}

/** Why overlays cannot be rendered here (for `skip`), or false. */
export const kubectlMissing: string | false = missingBinary('kubectl') ?? false;

/** `kubectl kustomize DIR`, parsed. Throws with kustomize's message when it fails. */
export function renderKustomization(dir: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((d) => d.toJS() as K8sObject);
}

/** A pod template's containers and init containers. */
export interface PodSpec {
  readonly securityContext?: Record<string, unknown>;
  readonly containers: Container[];
  readonly initContainers?: Container[];
  readonly volumes?: {
    name: string;
    secret?: { secretName: string };
    configMap?: { name: string };
    persistentVolumeClaim?: { claimName: string };
    emptyDir?: Record<string, unknown>;
  }[];
  readonly terminationGracePeriodSeconds?: number;
  readonly automountServiceAccountToken?: boolean;
  readonly hostNetwork?: boolean;
  readonly hostPID?: boolean;
  readonly hostIPC?: boolean;
}

/** The parts of a container the policy tests read. */
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly env?: { name: string; value?: string }[];
  readonly ports?: { name: string; containerPort: number }[];
  readonly resources?: {
    requests?: Record<string, string | number>;
    limits?: Record<string, string | number>;
  };
  readonly securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  readonly startupProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown } };
  readonly volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

/** A probe. */
export interface Probe {
  readonly httpGet?: { path: string; port: string | number; scheme?: string };
  readonly tcpSocket?: { port: string | number };
  readonly exec?: { command: string[] };
  readonly periodSeconds?: number;
  readonly failureThreshold?: number;
}

/** The pod spec of a workload (Deployment, StatefulSet), else undefined. */
export function podSpecOf(doc: K8sObject): PodSpec | undefined {
  if (doc.kind !== 'Deployment' && doc.kind !== 'StatefulSet') return undefined;
  const spec = doc.spec as { template: { spec: PodSpec } };
  return spec.template.spec;
}
