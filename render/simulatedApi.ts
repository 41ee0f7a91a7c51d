/**
 * ClusterAccess over a SimulatedCluster, with the API server's optimistic-concurrency rules: a
 * replace or delete carrying a stale `metadata.resourceVersion` fails with 409 Conflict, a create of
 * an existing name with 409 AlreadyExists
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions), and a JSON Patch
 * applies to the object as it is now, all or nothing, failing (422) when one of its tests or paths
 * no longer holds. The offline
 * render and the unit tests run the live read-modify-write loop (components/fork/routeSync.ts)
 * against it.
 *
 * Every method is async, so concurrent callers interleave at each call as they would over HTTP.
 */
import { KubeObject, SimulatedCluster } from "./cluster";
import { applyClaim } from "../components/fork/routeSync";
import { claimOf, ForkRoutesState, where } from "../components/fork/forkRoutes";
import type { DynamicHandler } from "./runtime";
import { applyJsonPatch, JsonPatchError, JsonPatchOp } from "../components/kube/jsonPatch";
import { SNAPSHOT_API_VERSIONS } from "../components/kube/snapshot";
import { ClusterAccess, SnapshotKind, ConflictError, NotFoundError, PatchRejectedError, VirtualService, VS_GROUP, VS_PLURAL, VS_VERSION } from "../components/kube/vsApi";

const VS_API_VERSION = `${VS_GROUP}/${VS_VERSION}`;
const KIND = "VirtualService";

function resource(name: string): string {
  return `${VS_PLURAL}.${VS_GROUP} "${name}"`;
}

export function simulatedAccess(cluster: SimulatedCluster): ClusterAccess {
  const current = (namespace: string | undefined, name: string) => cluster.get(VS_API_VERSION, KIND, namespace, name);
  return {
    virtualServices: {
      async list(namespace: string): Promise<VirtualService[]> {
        return cluster.list(VS_API_VERSION, KIND, namespace);
      },
      async listAll(): Promise<VirtualService[]> {
        return cluster.list(VS_API_VERSION, KIND);
      },
      async create(vs: VirtualService): Promise<VirtualService> {
        if (current(vs.metadata.namespace, vs.metadata.name) !== undefined) throw new ConflictError(`${resource(vs.metadata.name)} already exists`);
        const { resourceVersion: _ignored, ...metadata } = vs.metadata;
        return cluster.put({ ...vs, metadata: metadata as VirtualService["metadata"] });
      },
      async replace(vs: VirtualService): Promise<VirtualService> {
        const live = current(vs.metadata.namespace, vs.metadata.name);
        if (live === undefined) throw new NotFoundError(`${resource(vs.metadata.name)} not found`);
        if (vs.metadata.resourceVersion !== live.metadata.resourceVersion) {
          throw new ConflictError(`Operation cannot be fulfilled on ${resource(vs.metadata.name)}: the object has been modified; please apply your changes to the latest version and try again`);
        }
        return cluster.put(vs);
      },
      async patch(namespace: string, name: string, ops: readonly JsonPatchOp[]): Promise<VirtualService> {
        const live = current(namespace, name);
        if (live === undefined) throw new NotFoundError(`${resource(name)} not found`);
        let patched: VirtualService;
        try {
          patched = applyJsonPatch(live, ops);
        } catch (err) {
          if (!(err instanceof JsonPatchError)) throw err;
          throw new PatchRejectedError(`the server rejected our request due to an error in our request (${err.message})`);
        }
        // The server keeps the object's identity whatever the patch says, and stamps a new version.
        return cluster.put({ ...patched, apiVersion: live.apiVersion, kind: live.kind, metadata: { ...patched.metadata, name, namespace } });
      },
      async delete(namespace: string, name: string, resourceVersion: string): Promise<void> {
        const live = current(namespace, name);
        if (live === undefined) return;
        if (live.metadata.resourceVersion !== resourceVersion) {
          throw new ConflictError(`Precondition failed: ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ${live.metadata.resourceVersion}`);
        }
        cluster.delete(VS_API_VERSION, KIND, namespace, name);
      },
    },
    reader: {
      async getService(namespace: string, name: string): Promise<KubeObject | undefined> {
        return cluster.get("v1", "Service", namespace, name);
      },
      async getDeployment(namespace: string, name: string): Promise<KubeObject | undefined> {
        return cluster.get("apps/v1", "Deployment", namespace, name);
      },
      async list(kind: SnapshotKind, namespace: string): Promise<KubeObject[]> {
        return cluster.list(SNAPSHOT_API_VERSIONS[kind], kind, namespace);
      },
    },
  };
}

/**
 * The offline render's answer for ForkRoutes: the same applyClaim the provider runs, over the
 * simulated cluster, without waiting between retries.
 */
export const forkRoutesHandler: DynamicHandler = async (inputs: Record<string, any>, cluster: SimulatedCluster) => {
  const vs = await applyClaim(simulatedAccess(cluster).virtualServices, claimOf(inputs as ForkRoutesState), { sleep: async () => undefined });
  return where(vs);
};
