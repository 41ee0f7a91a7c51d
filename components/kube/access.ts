/**
 * Where code that talks to the cluster at deploy time (the ForkRoutes dynamic provider, the fork's
 * preflight checks) gets its ClusterAccess. Live runs use client-node; the offline render and the
 * tests swap in a simulated cluster with `setClusterAccessFactory`.
 *
 * The override lives on `globalThis`, not in a module variable: the ForkRoutes provider is a
 * serialized closure, and Pulumi serializes captured values as they are when it serializes
 * (https://www.pulumi.com/docs/reference/pkg/nodejs/pulumi/pulumi/functions/runtime.serializeFunction.html).
 * A module variable holding a test's or the render's factory would drag the simulated cluster
 * (and its YAML library) into the provider's text; a global is looked up where the provider runs,
 * where it is unset, so the provider always reaches the cluster through client-node.
 */
import { clientNodeAccess } from "./clientNode";
import type { ClusterAccess } from "./vsApi";

export type ClusterAccessFactory = (kubeconfig: string, context?: string) => Promise<ClusterAccess>;

const OVERRIDE = "__forkstackClusterAccessFactory";

type WithOverride = { [OVERRIDE]?: ClusterAccessFactory };

export function setClusterAccessFactory(f: ClusterAccessFactory): void {
  (globalThis as WithOverride)[OVERRIDE] = f;
}

export function resetClusterAccessFactory(): void {
  delete (globalThis as WithOverride)[OVERRIDE];
}

/** Access to the cluster a kubeconfig names (empty: the ambient kubeconfig). */
export function getClusterAccess(kubeconfig: string, context?: string): Promise<ClusterAccess> {
  const factory = (globalThis as WithOverride)[OVERRIDE] ?? clientNodeAccess;
  return factory(kubeconfig, context);
}
