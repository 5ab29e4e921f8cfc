/**
 * deploy/kubernetes, checked offline: every manifest against the Kubernetes schemas (and for
 * unknown fields), every overlay rendered by kustomize, and the policies an operator relies on —
 * restricted pod security, probes on the management listener, resources, pinned images, a
 * termination grace that covers Bastion's drain and shutdown, network policy, autoscaling, and
 * a pod configuration that Bastion itself accepts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type Container,
  type K8sObject,
  kubectlMissing,
  kubernetesDir,
  kubernetesFiles,
  podSpecOf,
  readDocuments,
  renderKustomization,
  validateObject,
} from './manifests.js';
import { renderPodConfig } from './pod-config.js';

interface Kustomization {
  resources?: string[];
  patches?: { path?: string; target?: { kind: string; name: string } }[];
  configMapGenerator?: { name: string; files: string[] }[];
}

const kustomizationDirs = ['base', 'overlays/production', 'overlays/staging'];

function kustomization(dir: string): Kustomization {
  return readDocuments(join(kubernetesDir, dir, 'kustomization.yaml'))[0] as Kustomization;
}

test('every file belongs to a kustomization, and every reference names a file', () => {
  const referenced = new Set<string>();
  for (const dir of kustomizationDirs) {
    referenced.add(`${dir}/kustomization.yaml`);
    const k = kustomization(dir);
    const files = [
      ...(k.resources ?? []).filter((r) => !r.startsWith('..')),
      ...(k.patches ?? []).flatMap((p) => (p.path === undefined ? [] : [p.path])),
      ...(k.configMapGenerator ?? []).flatMap((g) => g.files),
    ];
    for (const file of files) {
      const path = `${dir}/${file}`;
      assert.ok(kubernetesFiles().includes(path), `${dir}/kustomization.yaml names ${file}`);
      referenced.add(path);
    }
  }
  assert.deepEqual(
    kubernetesFiles().filter((f) => !referenced.has(f)),
    [],
    'files no kustomization uses',
  );
});

test('every resource file validates against the Kubernetes schemas, unknown fields included', async () => {
  let checked = 0;
  for (const dir of kustomizationDirs) {
    for (const file of (kustomization(dir).resources ?? []).filter((r) => !r.startsWith('..'))) {
      for (const doc of readDocuments(join(kubernetesDir, dir, file))) {
        assert.deepEqual(await validateObject(doc), [], `${dir}/${file}`);
        checked += 1;
      }
    }
  }
  assert.ok(checked >= 13, `${checked} objects`);
});

test('the schema check catches what it must', async () => {
  const [sts] = readDocuments(join(kubernetesDir, 'base/statefulset.yaml')) as [K8sObject];
  const broken = structuredClone(sts) as unknown as {
    spec: { template: { spec: { containers: Record<string, unknown>[] } } };
  };
  const container = broken.spec.template.spec.containers[0]!;
  container.securityContext = { readOnlyRootFilesytem: true };
  assert.match(
    (await validateObject(broken as unknown as K8sObject)).join('\n'),
    /unknown field spec\.template\.spec\.containers\[0\]\.securityContext\.readOnlyRootFilesytem/,
  );
  container.ports = [{ name: 'api', containerPort: '8080' }];
  assert.match(
    (await validateObject(broken as unknown as K8sObject)).join('\n'),
    /containerPort must be integer/,
  );
  await assert.rejects(validateObject({ ...sts, apiVersion: 'apps/v2' }), /no schema/);
});

const rendered = new Map<string, K8sObject[]>();
function render(dir: string): K8sObject[] {
  let docs = rendered.get(dir);
  if (docs === undefined) {
    docs = renderKustomization(join(kubernetesDir, dir));
    rendered.set(dir, docs);
  }
  return docs;
}

function find(docs: K8sObject[], kind: string, name: string): K8sObject {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  assert.ok(doc, `${kind}/${name}`);
  return doc;
}

function containersOf(docs: K8sObject[]): { where: string; c: Container }[] {
  return docs.flatMap((doc) => {
    const pod = podSpecOf(doc);
    if (pod === undefined) return [];
    return [...(pod.initContainers ?? []), ...pod.containers].map((c) => ({
      where: `${doc.kind}/${doc.metadata.name}/${c.name}`,
      c,
    }));
  });
}

for (const dir of kustomizationDirs) {
  test(
    `${dir}: renders, and every rendered object validates`,
    { skip: kubectlMissing },
    async () => {
      const docs = render(dir);
      assert.ok(docs.length >= 13);
      for (const doc of docs) assert.deepEqual(await validateObject(doc), []);
      if (dir !== 'base') {
        const namespaces = docs.filter((d) => d.kind === 'Namespace');
        assert.equal(namespaces.length, 1, 'the overlay creates its namespace');
        const namespace = namespaces[0]!;
        const labels = namespace.metadata.labels as Record<string, string>;
        assert.equal(labels['pod-security.kubernetes.io/enforce'], 'restricted');
        for (const doc of docs.filter((d) => d.kind !== 'Namespace')) {
          assert.equal(doc.metadata.namespace, namespace.metadata.name, `${doc.kind} namespace`);
        }
      }
    },
  );

  test(`${dir}: pods meet the restricted profile, with resources`, { skip: kubectlMissing }, () => {
    const docs = render(dir);
    for (const doc of docs) {
      const pod = podSpecOf(doc);
      if (pod === undefined) continue;
      const where = `${doc.kind}/${doc.metadata.name}`;
      const psc = pod.securityContext ?? {};
      assert.equal(psc.runAsNonRoot, true, `${where} runAsNonRoot`);
      assert.ok(Number(psc.runAsUser) > 0, `${where} runAsUser`);
      assert.deepEqual(psc.seccompProfile, { type: 'RuntimeDefault' });
      assert.equal(pod.automountServiceAccountToken, false, `${where} no API token`);
      assert.ok(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC, `${where} host namespaces`);
      for (const v of pod.volumes ?? []) {
        assert.ok(
          Object.keys(v).every((k) => k !== 'hostPath'),
          `${where} hostPath ${v.name}`,
        );
      }
    }
    const containers = containersOf(docs);
    assert.ok(containers.length >= 3);
    for (const { where, c } of containers) {
      const sc = c.securityContext ?? {};
      const caps = sc.capabilities ?? {};
      assert.equal(sc.allowPrivilegeEscalation, false, `${where} allowPrivilegeEscalation`);
      assert.equal(sc.readOnlyRootFilesystem, true, `${where} readOnlyRootFilesystem`);
      assert.equal(sc.privileged ?? false, false, `${where} privileged`);
      assert.equal(sc.runAsNonRoot, true, `${where} runAsNonRoot`);
      assert.deepEqual(caps.drop, ['ALL'], `${where} drop ALL`);
      assert.equal(caps.add, undefined, `${where} adds no capability`);
      assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' });
      const requests = c.resources?.requests ?? {};
      const limits = c.resources?.limits ?? {};
      for (const key of ['cpu', 'memory'] as const) {
        assert.ok(requests[key] !== undefined, `${where} requests.${key}`);
        assert.ok(limits[key] !== undefined, `${where} limits.${key}`);
      }
    }
  });

  test(
    `${dir}: images carry a tag, never latest; others' by digest`,
    { skip: kubectlMissing },
    () => {
      for (const { where, c } of containersOf(render(dir))) {
        const match =
          /^(?<name>[^@:]+(?::\d+\/[^@:]+)?)(?::(?<tag>[\w.-]+))?(?:@(?<digest>.+))?$/.exec(
            c.image,
          );
        assert.ok(match?.groups, `${where}: ${c.image}`);
        const { name, tag, digest } = match.groups;
        assert.ok(tag !== undefined && tag !== 'latest', `${where}: ${c.image} needs a fixed tag`);
        if (!(name ?? '').endsWith('bastion')) {
          assert.match(digest ?? '', /^sha256:[0-9a-f]{64}$/, `${where}: third-party image digest`);
        }
      }
    },
  );

  test(
    `${dir}: the gateway's probes, ports and shutdown match its configuration`,
    { skip: kubectlMissing },
    () => {
      const docs = render(dir);
      const sts = find(docs, 'StatefulSet', 'bastion');
      const pod = podSpecOf(sts)!;
      const gateway = pod.containers.find((c) => c.name === 'bastion')!;
      const config = renderPodConfig(docs, 'bastion-0').config;
      const port = (name: string): number | undefined =>
        gateway.ports?.find((p) => p.name === name)?.containerPort;
      assert.equal(port('api'), config.server.port);
      assert.equal(port('management'), config.metrics.port);
      const probes = {
        startupProbe: '/v2/health/live',
        livenessProbe: '/v2/health/live',
        readinessProbe: '/v2/health/ready',
      } as const;
      for (const [kind, path] of Object.entries(probes)) {
        const probe = gateway[kind as keyof typeof probes];
        assert.ok(probe?.httpGet, `${kind} is an HTTP probe`);
        assert.equal(probe.httpGet.path, path, kind);
        assert.equal(probe.httpGet.port, 'management', `${kind} on the management listener`);
        assert.notEqual(probe.httpGet.scheme, 'HTTPS');
      }
      const preStop = gateway.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const drain = renderPodConfig(docs, 'bastion-0').drainDelayMs / 1000;
      const shutdown = config.server.shutdownTimeoutMs / 1000;
      const grace = pod.terminationGracePeriodSeconds ?? 30;
      assert.ok(drain > 0, 'server.drainDelayMs is set');
      assert.ok(
        grace >= preStop + drain + shutdown + 5,
        `terminationGracePeriodSeconds ${grace} < preStop ${preStop} + drain ${drain} + shutdown ${shutdown} + 5`,
      );
      assert.ok(grace <= preStop + drain + shutdown + 30, 'not so long that a hung pod lingers');
    },
  );

  test(
    `${dir}: services, monitor, policy, autoscaler and budget fit together`,
    { skip: kubectlMissing },
    () => {
      const docs = render(dir);
      const sts = find(docs, 'StatefulSet', 'bastion');
      const podLabels = (sts.spec as { template: { metadata: { labels: Record<string, string> } } })
        .template.metadata.labels;
      const selects = (selector: Record<string, string> | undefined): boolean =>
        selector !== undefined &&
        Object.keys(selector).length > 0 &&
        Object.entries(selector).every(([k, v]) => podLabels[k] === v);
      const services = docs.filter((d) => d.kind === 'Service');
      const spec = (d: K8sObject) =>
        d.spec as {
          selector?: Record<string, string>;
          ports: { name: string; port: number; targetPort: string }[];
          clusterIP?: string;
        };

      const api = find(docs, 'Service', 'bastion');
      assert.ok(selects(spec(api).selector));
      assert.deepEqual(
        spec(api).ports.map((p) => p.targetPort),
        ['api'],
        'the API Service exposes the API port only',
      );
      assert.equal((sts.spec as { serviceName: string }).serviceName, 'bastion-headless');
      assert.equal(spec(find(docs, 'Service', 'bastion-headless')).clusterIP, 'None');

      const monitor = find(docs, 'ServiceMonitor', 'bastion').spec as {
        jobLabel: string;
        selector: { matchLabels: Record<string, string> };
        endpoints: {
          port: string;
          path: string;
          authorization?: { credentials: { name: string } };
        }[];
      };
      const scraped = services.filter((s) =>
        Object.entries(monitor.selector.matchLabels).every(
          ([k, v]) => (s.metadata.labels as Record<string, string>)[k] === v,
        ),
      );
      assert.deepEqual(
        scraped.map((s) => s.metadata.name),
        ['bastion-headless'],
        'one Service scraped',
      );
      assert.equal(
        (scraped[0]!.metadata.labels as Record<string, string>)[monitor.jobLabel],
        'bastion',
        'job="bastion", as docs/prometheus/bastion-alerts.yml selects',
      );
      const endpoint = monitor.endpoints[0]!;
      assert.ok(spec(scraped[0]!).ports.some((p) => p.name === endpoint.port));
      assert.equal(endpoint.path, '/metrics');
      const tokenVolume = podSpecOf(sts)!.volumes?.find((v) => v.name === 'metrics-token');
      assert.equal(endpoint.authorization?.credentials.name, tokenVolume?.secret?.secretName);

      const policy = find(docs, 'NetworkPolicy', 'bastion').spec as {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: {
          from?: { namespaceSelector?: { matchLabels: Record<string, string> } }[];
          ports: { port: string }[];
        }[];
      };
      assert.ok(selects(policy.podSelector.matchLabels));
      assert.deepEqual(policy.policyTypes.sort(), ['Egress', 'Ingress']);
      const openToAll = policy.ingress.filter((r) => r.from === undefined);
      assert.deepEqual(
        openToAll.flatMap((r) => r.ports.map((p) => p.port)),
        ['api'],
        'only the API port is open to every source',
      );
      const management = policy.ingress.filter((r) => r.ports.some((p) => p.port === 'management'));
      assert.equal(management.length, 1);
      assert.deepEqual(management[0]!.from, [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
      ]);

      const hpa = find(docs, 'HorizontalPodAutoscaler', 'bastion').spec as {
        scaleTargetRef: { kind: string; name: string };
        minReplicas: number;
        maxReplicas: number;
      };
      assert.deepEqual(hpa.scaleTargetRef, {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        name: 'bastion',
      });
      assert.ok(
        hpa.minReplicas >= (dir === 'overlays/staging' ? 1 : 2) &&
          hpa.maxReplicas >= hpa.minReplicas,
      );
      const pdb = find(docs, 'PodDisruptionBudget', 'bastion').spec as {
        selector: { matchLabels: Record<string, string> };
        maxUnavailable?: number;
      };
      assert.ok(selects(pdb.selector.matchLabels));
      assert.equal(pdb.maxUnavailable, 1);

      const config = renderPodConfig(docs, 'bastion-0').config;
      const redisUrl = new URL(config.limits.redisUrl ?? '');
      const redis = find(docs, 'Service', redisUrl.hostname);
      assert.ok(spec(redis).ports.some((p) => p.port === Number(redisUrl.port)));
    },
  );
}
