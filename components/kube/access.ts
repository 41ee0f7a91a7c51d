/**
 * Where code that talks to the cluster at deploy time (the ForkRoutes dynamic provider, the fork's
 * preflight checks) gets its ClusterAccess. Live runs use client-node; the offline render and the
 * tests swap in a simulated cluster with `setClusterAccessFactory`.
 */
import { clientNodeAccess } from "./clientNode";
import type { ClusterAccess } from "./vsApi";

export type ClusterAccessFactory = (kubeconfig: string, context?: string) => Promise<ClusterAccess>;

let factory: ClusterAccessFactory = clientNodeAccess;

export function setClusterAccessFactory(f: ClusterAccessFactory): void {
  factory = f;
}

export function resetClusterAccessFactory(): void {
  factory = clientNodeAccess;
}

/** Access to the cluster a kubeconfig names (empty: the ambient kubeconfig). */
export function getClusterAccess(kubeconfig: string, context?: string): Promise<ClusterAccess> {
  return factory(kubeconfig, context);
}
