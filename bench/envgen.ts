/**
 * Synthetic shared environments and fork sets for the benchmarks: N services spread over
 * namespaces of 20, shaped like real ones — some Services over differently named Deployments, a
 * second (metrics) Service selecting the same pods, app-owned VirtualServices, HPAs, multi-container
 * pods — with U entry points, and D forks of k services each that overlap (some header-only).
 * Deterministic: the same arguments give the same environment.
 */
import type { KubeObject } from "../render/cluster";

export interface EnvShape {
  /** Services in the shared environment. */
  readonly services: number;
  /** Upstreams (entry points), each the first service of a namespace. */
  readonly upstreams: number;
}

export interface ForkShape {
  readonly forks: number;
  /** Services each fork copies. */
  readonly perFork: number;
  /** Every n-th fork is header-only (copies nothing). */
  readonly headerOnlyEvery: number;
}

export const PER_NAMESPACE = 20;
const IMAGE = "registry.example.com/bench/app:1.0.0";

export interface SyntheticService {
  readonly name: string;
  readonly namespace: string;
  readonly deployment: string;
}

/** The i-th service: `svc-i` in `ns-<i/20>`; every third runs from a Deployment named differently. */
export function serviceAt(i: number): SyntheticService {
  const name = `svc-${i}`;
  return { name, namespace: `ns-${Math.floor(i / PER_NAMESPACE)}`, deployment: i % 3 === 1 ? `${name}-server` : name };
}

function meta(name: string, namespace: string | undefined, i: number, extra: Record<string, unknown> = {}) {
  // What a live cluster returns: server-set fields the copies must drop.
  return {
    name,
    ...(namespace ? { namespace } : {}),
    uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    resourceVersion: String(1000 + i),
    creationTimestamp: "2026-11-01T00:00:00Z",
    ...extra,
  };
}

/** The shared environment's objects, as `kubectl get -o yaml` returns them. */
export function sharedObjects(shape: EnvShape): KubeObject[] {
  const out: KubeObject[] = [];
  const namespaces = Math.ceil(shape.services / PER_NAMESPACE);
  for (let n = 0; n < namespaces; n++) {
    out.push({ apiVersion: "v1", kind: "Namespace", metadata: meta(`ns-${n}`, undefined, n, { labels: { "istio-injection": "enabled", "kubernetes.io/metadata.name": `ns-${n}` } }) });
  }
  for (let i = 0; i < shape.services; i++) {
    const s = serviceAt(i);
    const labels = { app: s.name, "app.kubernetes.io/name": s.name, version: "v1" };
    const containers: object[] = [
      { name: "app", image: IMAGE, ports: [{ name: "http", containerPort: 8080 }, { name: "metrics", containerPort: 9090 }], resources: { requests: { cpu: "50m", memory: "64Mi" } } },
    ];
    // Every sixth pod runs a second container (a log shipper) the copy must keep.
    if (i % 6 === 0) containers.push({ name: "logs", image: "registry.example.com/bench/logs:2.1", resources: { requests: { cpu: "10m", memory: "16Mi" } } });
    out.push({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(s.deployment, s.namespace, i, { generation: 3, annotations: { "deployment.kubernetes.io/revision": "3" } }),
      spec: { replicas: i % 5 === 0 ? 3 : 2, selector: { matchLabels: { app: s.name } }, template: { metadata: { labels }, spec: { containers } } },
      status: { replicas: 2, readyReplicas: 2 },
    });
    out.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(s.name, s.namespace, i),
      spec: { selector: { app: s.name }, ports: [{ name: "http", port: 80, targetPort: "http" }], clusterIP: `10.96.${Math.floor(i / 250)}.${i % 250}`, type: "ClusterIP" },
    });
    // Every fourth service also has a metrics Service that selects only app.kubernetes.io/name.
    if (i % 4 === 0) {
      out.push({
        apiVersion: "v1",
        kind: "Service",
        metadata: meta(`${s.name}-metrics`, s.namespace, i),
        spec: { selector: { "app.kubernetes.io/name": s.name }, ports: [{ name: "metrics", port: 9090, targetPort: "metrics" }], type: "ClusterIP" },
      });
    }
    // Every fifth Deployment has an HPA (forks do not copy it).
    if (i % 5 === 0) {
      out.push({
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: meta(s.deployment, s.namespace, i),
        spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: s.deployment }, minReplicas: 2, maxReplicas: 6, metrics: [] },
      });
    }
    // Every seventh service has an app-owned VirtualService with a retry policy.
    if (i % 7 === 0) {
      const host = `${s.name}.${s.namespace}.svc.cluster.local`;
      out.push({
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: meta(s.name, s.namespace, i, { labels: { "app.kubernetes.io/part-of": "bench" } }),
        spec: { hosts: [host], http: [{ name: "primary", retries: { attempts: 3, perTryTimeout: "2s" }, timeout: "10s", route: [{ destination: { host } }] }] },
      });
    }
  }
  return out;
}

/** The base stack's config: kubeconfig mode, U upstreams, every namespace forkable. */
export function baseConfig(shape: EnvShape): Record<string, unknown> {
  const namespaces = Math.ceil(shape.services / PER_NAMESPACE);
  const upstreams = Array.from({ length: Math.min(shape.upstreams, namespaces) }, (_, u) => {
    const s = serviceAt(u * PER_NAMESPACE);
    return { host: `app${u}.dev.example.com`, service: `${s.name}.${s.namespace}:80` };
  });
  return {
    "aws:region": "eu-west-1",
    "forkstack:cluster": { mode: "kubeconfig" },
    "forkstack:domain": "dev.example.com",
    "forkstack:upstreams": upstreams,
    // The synthetic Deployments set no serviceAccountName: they run as "default".
    "forkstack:forkAccess": { namespaces: Object.fromEntries(Array.from({ length: namespaces }, (_, n) => [`ns-${n}`, ["default"]])) },
  };
}

/** Fork j copies k services spread over the environment, overlapping with its neighbours. */
export function forkServices(j: number, shape: EnvShape, forks: ForkShape): SyntheticService[] {
  if (forks.headerOnlyEvery > 0 && j % forks.headerOnlyEvery === forks.headerOnlyEvery - 1) return [];
  const picked = new Map<string, SyntheticService>();
  for (let m = 0; picked.size < Math.min(forks.perFork, shape.services); m++) {
    const s = serviceAt((j * 7 + m * 13) % shape.services);
    picked.set(`${s.namespace}/${s.name}`, s);
  }
  return [...picked.values()];
}

export function forkConfig(j: number, shape: EnvShape, forks: ForkShape): Record<string, unknown> {
  const services = forkServices(j, shape, forks).map((s) => ({
    name: s.name,
    namespace: s.namespace,
    ...(s.deployment !== s.name ? { deployment: s.deployment } : {}),
    image: `registry.example.com/bench/app:fork-${j}`,
  }));
  return {
    "forkstack:baseStack": "organization/forkstack/base",
    "forkstack:fork": { id: `f${j}`, ...(services.length > 0 ? { services } : {}), ttl: "72h" },
  };
}
