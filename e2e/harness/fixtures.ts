/** Small helpers the e2e tests share: namespaces, the sample shop, counting 409s. */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { ConflictError, VirtualServiceApi } from "../../components/kube/vsApi";
import { apply, withoutServerFields } from "./objects";
import { RestConfig } from "./rest";

export const ROOT = path.resolve(__dirname, "..", "..");
export const SHOP_FIXTURE = path.join(ROOT, "examples", "cluster", "shop.yaml");

export function yamlDocs(file: string): any[] {
  return parseAllDocuments(fs.readFileSync(file, "utf8"))
    .map((d) => d.toJSON())
    .filter((o) => o !== null && o !== undefined);
}

export async function ensureNamespace(rest: RestConfig, name: string, labels: Record<string, string> = {}): Promise<void> {
  await apply(rest, { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
}

/**
 * The sample shop as a live cluster returns it (examples/cluster/shop.yaml), created for real:
 * server-set fields dropped, optionally moved to another namespace so tests do not share objects.
 */
export async function seedShop(rest: RestConfig, namespace = "shop"): Promise<any[]> {
  const objects = yamlDocs(SHOP_FIXTURE).map(withoutServerFields);
  const created: any[] = [];
  for (const o of objects) {
    if (o.kind === "Namespace") {
      await ensureNamespace(rest, namespace, { ...(o.metadata.labels ?? {}), "kubernetes.io/metadata.name": namespace });
      continue;
    }
    o.metadata.namespace = namespace;
    created.push(await apply(rest, o));
  }
  return created;
}

/** Wraps a VirtualServiceApi to count the 409 Conflicts the server answered and the JSON Patches it rejected (422). */
export function countingConflicts(api: VirtualServiceApi): { api: VirtualServiceApi; conflicts: () => number } {
  let n = 0;
  const counted = <T>(p: Promise<T>) =>
    p.catch((err) => {
      if (err instanceof ConflictError) n++;
      throw err;
    });
  return {
    api: {
      list: (ns) => api.list(ns),
      listAll: () => api.listAll(),
      create: (vs) => counted(api.create(vs)),
      replace: (vs) => counted(api.replace(vs)),
      // A rejected patch is a PatchRejectedError, a ConflictError: counted with the 409s.
      patch: (ns, name, ops) => counted(api.patch(ns, name, ops)),
      delete: (ns, name, rv) => counted(api.delete(ns, name, rv)),
    },
    conflicts: () => n,
  };
}
