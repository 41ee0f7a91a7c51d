/**
 * What a fork's plan reads from the cluster before anything is created: every object it copies,
 * names or must keep isolated. planFork (fork/plan.ts) is pure; this is its only I/O.
 */
import type { KubeObject } from "./objects";
import type { ClusterReader, SnapshotKind, VirtualServiceApi } from "./vsApi";

export const SNAPSHOT_API_VERSIONS: Record<SnapshotKind, string> = {
  Service: "v1",
  Deployment: "apps/v1",
  PodDisruptionBudget: "policy/v1",
  NetworkPolicy: "networking.k8s.io/v1",
  Mapping: "getambassador.io/v3alpha1",
};

/**
 * Services, Deployments, PodDisruptionBudgets and NetworkPolicies of each namespace the fork copies
 * from, Mappings of the gateway namespace, and every VirtualService (a host may be claimed from any
 * namespace). Items get apiVersion and kind filled in (list items may lack them).
 */
export async function readSnapshot(reader: ClusterReader, virtualServices: VirtualServiceApi, namespaces: readonly string[], gatewayNamespace: string): Promise<KubeObject[]> {
  const reads: Promise<KubeObject[]>[] = [];
  const kinds: SnapshotKind[] = ["Service", "Deployment", "PodDisruptionBudget", "NetworkPolicy"];
  const typed = (kind: SnapshotKind) => (items: KubeObject[]) => items.map((o) => ({ ...o, apiVersion: o.apiVersion ?? SNAPSHOT_API_VERSIONS[kind], kind }));
  for (const ns of [...new Set(namespaces)]) for (const kind of kinds) reads.push(reader.list(kind, ns).then(typed(kind)));
  reads.push(reader.list("Mapping", gatewayNamespace).then(typed("Mapping")));
  if (namespaces.length > 0) reads.push(virtualServices.listAll());
  return (await Promise.all(reads)).flat();
}
