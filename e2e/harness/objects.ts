/**
 * Objects on the e2e API server: REST paths found through discovery (never a hand-kept table of
 * plurals), server-side apply with strict field validation, optional dry-run.
 *
 * Server-side apply: https://kubernetes.io/docs/reference/using-api/server-side-apply/
 * Dry-run: https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run
 * Field validation (Strict: unknown or duplicate fields are errors, not warnings):
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation
 */
import { call, HttpError, pathOf, request, RestConfig, withRetry } from "./rest";

interface ApiResource {
  plural: string;
  namespaced: boolean;
}

const discovery = new Map<string, Map<string, ApiResource>>();

export async function resourceOf(rest: RestConfig, apiVersion: string, kind: string): Promise<ApiResource> {
  let kinds = discovery.get(apiVersion);
  if (kinds === undefined) {
    const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const list = await withRetry(() => call(rest, "GET", path));
    kinds = new Map();
    for (const r of list.resources as Array<{ name: string; kind: string; namespaced: boolean }>) {
      if (!r.name.includes("/")) kinds.set(r.kind, { plural: r.name, namespaced: r.namespaced });
    }
    discovery.set(apiVersion, kinds);
  }
  const found = kinds.get(kind);
  if (found === undefined) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
  return found;
}

export async function objectPath(rest: RestConfig, obj: any): Promise<string> {
  const r = await resourceOf(rest, obj.apiVersion, obj.kind);
  return pathOf(obj.apiVersion, r.plural, r.namespaced ? (obj.metadata.namespace ?? "default") : undefined, obj.metadata.name);
}

/**
 * What `kubectl get -o yaml` shows that a client must not send back when creating: the fields the
 * server sets. The fixtures of a live cluster (examples/cluster/shop.yaml) carry them.
 */
export function withoutServerFields(obj: any): any {
  const copy = JSON.parse(JSON.stringify(obj));
  delete copy.status;
  for (const k of ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink"]) delete copy.metadata[k];
  if (copy.kind === "Service" && copy.spec) {
    delete copy.spec.clusterIP;
    delete copy.spec.clusterIPs;
  }
  return copy;
}

export interface ApplyOptions {
  dryRun?: boolean;
  fieldManager?: string;
}

/** Server-side apply with Strict field validation; resolves to the object the server returned. */
export async function apply(rest: RestConfig, obj: any, opts: ApplyOptions = {}): Promise<any> {
  const q = new URLSearchParams({ fieldManager: opts.fieldManager ?? "forkstack-e2e", force: "true", fieldValidation: "Strict" });
  if (opts.dryRun) q.set("dryRun", "All");
  const p = `${await objectPath(rest, obj)}?${q}`;
  // Retried only on transient failures (rest.ts); a 4xx (the server refusing the object) is the answer.
  return withRetry(() => call(rest, "PATCH", p, obj, { contentType: "application/apply-patch+yaml" }));
}

export async function get(rest: RestConfig, apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<any | undefined> {
  const r = await resourceOf(rest, apiVersion, kind);
  const res = await withRetry(() => request(rest, "GET", pathOf(apiVersion, r.plural, r.namespaced ? namespace : undefined, name)));
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new HttpError(res.status, res.body, `GET ${kind} ${namespace}/${name}`);
  return res.body;
}

export async function list(rest: RestConfig, apiVersion: string, kind: string, namespace?: string): Promise<any[]> {
  const r = await resourceOf(rest, apiVersion, kind);
  const body = await withRetry(() => call(rest, "GET", pathOf(apiVersion, r.plural, r.namespaced ? namespace : undefined)));
  return body.items as any[];
}

export async function remove(rest: RestConfig, obj: any): Promise<void> {
  const res = await withRetry(async () => request(rest, "DELETE", await objectPath(rest, obj)));
  if (res.status !== 200 && res.status !== 202 && res.status !== 404) throw new HttpError(res.status, res.body, `DELETE ${obj.kind} ${obj.metadata.name}`);
}
