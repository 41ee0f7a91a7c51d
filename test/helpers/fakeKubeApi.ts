/**
 * A local stand-in for the Kubernetes API server, over real HTTP on 127.0.0.1 (random port), for
 * the paths forkstack's ClusterAccess uses: networking.istio.io/v1 virtualservices (list in a
 * namespace and cluster-wide, get, create, replace, JSON Patch, delete with preconditions),
 * coordination.k8s.io/v1 leases (get, list, create, replace, delete with preconditions) and reads of
 * core/v1 Services and apps/v1 Deployments seeded by the test.
 *
 * It keeps the API server's concurrency rules
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions): every write
 * bumps `metadata.resourceVersion`; a PUT whose resourceVersion differs from the stored one fails
 * with 409 Conflict; a PUT without one fails with 422 (custom resources allow no unconditional
 * update); a POST of an existing name fails with 409 AlreadyExists; a DELETE whose precondition
 * does not match fails with 409 Conflict. A PATCH must be `application/json-patch+json` (415
 * otherwise) and applies to the stored object all or nothing; when a `test` or a path of it does not
 * hold it fails as kube-apiserver does (handlers/patch.go `applyJSPatch`): 422 Invalid, "the server
 * rejected our request due to an error in our request", no causes. Errors are `Status` objects, as
 * the API returns them.
 */
import * as http from "http";
import type { AddressInfo } from "net";
import { applyJsonPatch, JsonPatchError } from "../../components/kube/jsonPatch";
import type { KubeObject } from "../../render/cluster";

export interface FakeRequest {
  method: string;
  path: string;
  status: number;
  /** The request's Content-Type, when it had a body. */
  contentType?: string;
  /** A request the server left unanswered (`hang`): whether its client closed the connection. */
  abandoned?: boolean;
}

export interface FakeKubeApi {
  readonly url: string;
  /** A kubeconfig whose current context points at this server. */
  readonly kubeconfig: string;
  /** Every request answered, in order. */
  readonly requests: readonly FakeRequest[];
  /** How many requests were answered with 409. */
  conflicts(): number;
  /** How many PATCHes were rejected with 422 because a test or path of theirs no longer held. */
  rejectedPatches(): number;
  /** Stored VirtualServices, sorted by namespace/name. */
  virtualServices(): KubeObject[];
  /** Stored Leases, sorted by namespace/name. */
  leases(): KubeObject[];
  close(): Promise<void>;
}

export interface FakeKubeApiOptions {
  /** Objects that exist before the test: VirtualServices, Services, Deployments. */
  seed?: readonly KubeObject[];
  /**
   * Faults the server injects, by request number (1-based): `429` sheds the request with
   * `Retry-After: 0` as API priority and fairness does, `503` answers Service Unavailable, `reset`
   * destroys the connection without an answer. The request is not applied. `request` is what the
   * server received (method, path and body text), so a test can tell a client's retry from a new
   * request.
   */
  fault?: (n: number, request: { method: string; path: string; body: string }) => "429" | "503" | "reset" | undefined;
  /**
   * Requests the server never answers, by the same request number (a server still working on
   * them). Each is recorded with status 0 and `abandoned: false` until its client closes the
   * connection. `close()` ends them.
   */
  hang?: (n: number) => boolean;
  /** `forbidden`: every Lease request answers 403, as RBAC does for a group without a grant. @default "served" */
  leases?: "served" | "forbidden";
  /** `forbidden`: watches of Leases answer 403 (a fork role of an earlier release: no watch verb). @default "served" */
  leaseWatch?: "served" | "forbidden";
}

const VS_BASE = "/apis/networking.istio.io/v1";
const LEASE_BASE = "/apis/coordination.k8s.io/v1";
const MAX_BODY = 1024 * 1024;

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code };
}

export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  let version = 5000;
  let uid = 0;
  const virtualServices = new Map<string, KubeObject>();
  const leases = new Map<string, KubeObject>();
  /** Open watches of Leases (`?watch=true&fieldSelector=metadata.name=<name>`): a JSON line per change. */
  const leaseWatches = new Set<{ ns: string; name: string | undefined; res: http.ServerResponse }>();
  const leaseChanged = (type: "ADDED" | "MODIFIED" | "DELETED", object: KubeObject) => {
    for (const w of leaseWatches) if (w.ns === object.metadata.namespace && (w.name === undefined || w.name === object.metadata.name)) w.res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const others = new Map<string, KubeObject>();
  const requests: FakeRequest[] = [];
  let received = 0;
  const key = (ns: string, name: string) => `${ns}/${name}`;

  for (const obj of options.seed ?? []) {
    const copy = structuredClone(obj);
    copy.metadata.namespace = copy.metadata.namespace ?? "default";
    copy.metadata.resourceVersion = copy.metadata.resourceVersion ?? String(++version);
    if (copy.kind === "VirtualService") virtualServices.set(key(copy.metadata.namespace, copy.metadata.name), copy);
    else if (copy.kind === "Lease") leases.set(key(copy.metadata.namespace, copy.metadata.name), { ...copy, metadata: { uid: `00000000-0000-4000-8000-${String(++uid).padStart(12, "0")}`, ...copy.metadata } });
    else others.set(`${copy.apiVersion}/${copy.kind}/${copy.metadata.namespace}/${copy.metadata.name}`, copy);
  }

  const vsDetails = (name: string) => ({ name, group: "networking.istio.io", kind: "virtualservices" });
  const list = (items: KubeObject[]) => ({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualServiceList",
    metadata: { resourceVersion: String(version) },
    items: items.sort((a, b) => key(a.metadata.namespace!, a.metadata.name).localeCompare(key(b.metadata.namespace!, b.metadata.name))),
  });

  /** Leases: create (409 AlreadyExists), get, replace at the stored resourceVersion (or create when missing), delete with uid/resourceVersion preconditions. */
  function handleLease(method: string, ns: string, name: string | undefined, body: any, query: URLSearchParams): [number, unknown] {
    const details = (n: string) => ({ name: n, group: "coordination.k8s.io", kind: "leases" });
    if (options.leases === "forbidden") {
      return [403, status(403, "Forbidden", `leases.coordination.k8s.io${name ? ` "${name}"` : ""} is forbidden: User "fake" cannot ${method.toLowerCase()} resource "leases" in API group "coordination.k8s.io" in the namespace "${ns}"`, details(name ?? ""))];
    }
    if (name === undefined && method === "GET") {
      // A list, with a `key=value` labelSelector.
      const [label, value] = (query.get("labelSelector") ?? "").split("=");
      const items = [...leases.values()].filter((l) => l.metadata.namespace === ns && (label === "" || l.metadata.labels?.[label] === value));
      return [200, { apiVersion: "coordination.k8s.io/v1", kind: "LeaseList", metadata: { resourceVersion: String(version) }, items: items.map((l) => structuredClone(l)) }];
    }
    if (name === undefined) {
      if (method !== "POST") return [405, status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")];
      const n = body?.metadata?.name;
      if (typeof n !== "string") return [422, status(422, "Invalid", "metadata.name: Required value")];
      if (leases.has(key(ns, n))) return [409, status(409, "AlreadyExists", `leases.coordination.k8s.io "${n}" already exists`, details(n))];
      const stored: KubeObject = { ...body, metadata: { ...body.metadata, namespace: ns, resourceVersion: String(++version), uid: `00000000-0000-4000-8000-${String(++uid).padStart(12, "0")}`, creationTimestamp: "2026-05-01T00:00:00Z" } };
      leases.set(key(ns, n), stored);
      leaseChanged("ADDED", stored);
      return [201, stored];
    }
    const live = leases.get(key(ns, name));
    if (!live && method === "PUT") {
      // Leases allow create on update (pkg/registry/coordination/lease/strategy.go AllowCreateOnUpdate):
      // a PUT of a missing one creates it, whatever resourceVersion it carries.
      const stored: KubeObject = { ...body, metadata: { ...body.metadata, name, namespace: ns, resourceVersion: String(++version), uid: `00000000-0000-4000-8000-${String(++uid).padStart(12, "0")}`, creationTimestamp: "2026-05-01T00:00:00Z" } };
      leases.set(key(ns, name), stored);
      leaseChanged("ADDED", stored);
      return [201, stored];
    }
    if (!live) return [404, status(404, "NotFound", `leases.coordination.k8s.io "${name}" not found`, details(name))];
    const conflict = (why: string): [number, unknown] => [409, status(409, "Conflict", `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": ${why}`, details(name))];
    if (method === "GET") return [200, structuredClone(live)];
    if (method === "PUT") {
      // Leases, unlike custom resources, allow an unconditional update; forkstack always sends one.
      const rv = body?.metadata?.resourceVersion;
      if (rv !== undefined && rv !== "" && rv !== live.metadata.resourceVersion) return conflict("the object has been modified; please apply your changes to the latest version and try again");
      const stored: KubeObject = { ...body, metadata: { ...body.metadata, name, namespace: ns, resourceVersion: String(++version), uid: live.metadata.uid, creationTimestamp: live.metadata.creationTimestamp } };
      leases.set(key(ns, name), stored);
      leaseChanged("MODIFIED", stored);
      return [200, stored];
    }
    if (method === "DELETE") {
      const pre = body?.preconditions ?? {};
      if (pre.uid !== undefined && pre.uid !== live.metadata.uid) return conflict(`Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${live.metadata.uid}`);
      if (pre.resourceVersion !== undefined && pre.resourceVersion !== live.metadata.resourceVersion) {
        return conflict(`Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${live.metadata.resourceVersion}`);
      }
      leases.delete(key(ns, name));
      leaseChanged("DELETED", live);
      return [200, live];
    }
    return [405, status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")];
  }

  function handle(method: string, path: string, body: any, contentType: string | undefined, query: URLSearchParams): [number, unknown] {
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^${LEASE_BASE}/namespaces/([^/]+)/leases(?:/([^/]+))?$`).exec(path))) {
      return handleLease(method, decodeURIComponent(m[1]), m[2] === undefined ? undefined : decodeURIComponent(m[2]), body, query);
    }
    if (method === "GET" && path === `${VS_BASE}/virtualservices`) return [200, list([...virtualServices.values()].map((o) => structuredClone(o)))];
    if ((m = new RegExp(`^${VS_BASE}/namespaces/([^/]+)/virtualservices$`).exec(path))) {
      const ns = decodeURIComponent(m[1]);
      if (method === "GET") return [200, list([...virtualServices.values()].filter((o) => o.metadata.namespace === ns).map((o) => structuredClone(o)))];
      if (method === "POST") {
        const name = body?.metadata?.name;
        if (typeof name !== "string") return [422, status(422, "Invalid", "metadata.name: Required value")];
        if (virtualServices.has(key(ns, name))) {
          return [409, status(409, "AlreadyExists", `virtualservices.networking.istio.io "${name}" already exists`, vsDetails(name))];
        }
        const stored: KubeObject = {
          ...body,
          metadata: {
            ...body.metadata,
            namespace: ns,
            resourceVersion: String(++version),
            uid: `00000000-0000-4000-8000-${String(++uid).padStart(12, "0")}`,
            generation: 1,
            creationTimestamp: "2026-05-01T00:00:00Z",
          },
        };
        virtualServices.set(key(ns, name), stored);
        return [201, stored];
      }
    }
    if ((m = new RegExp(`^${VS_BASE}/namespaces/([^/]+)/virtualservices/([^/]+)$`).exec(path))) {
      const [ns, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
      const live = virtualServices.get(key(ns, name));
      const notFound = (): [number, unknown] => [404, status(404, "NotFound", `virtualservices.networking.istio.io "${name}" not found`, vsDetails(name))];
      if (method === "GET") return live ? [200, structuredClone(live)] : notFound();
      if (method === "PUT") {
        if (!live) return notFound();
        const rv = body?.metadata?.resourceVersion;
        if (rv === undefined || rv === "") {
          return [422, status(422, "Invalid", `VirtualService.networking.istio.io "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`)];
        }
        if (rv !== live.metadata.resourceVersion) {
          return [
            409,
            status(
              409,
              "Conflict",
              `Operation cannot be fulfilled on virtualservices.networking.istio.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
              vsDetails(name),
            ),
          ];
        }
        const changed = JSON.stringify(body.spec) !== JSON.stringify(live.spec);
        const stored: KubeObject = {
          ...body,
          metadata: {
            ...body.metadata,
            namespace: ns,
            resourceVersion: String(++version),
            uid: live.metadata.uid,
            creationTimestamp: live.metadata.creationTimestamp,
            generation: Number(live.metadata.generation ?? 1) + (changed ? 1 : 0),
          },
        };
        virtualServices.set(key(ns, name), stored);
        return [200, stored];
      }
      if (method === "PATCH") {
        if (!live) return notFound();
        if (contentType !== "application/json-patch+json") {
          return [415, status(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`)];
        }
        let patched: KubeObject;
        try {
          patched = applyJsonPatch(live, body);
        } catch (err) {
          if (!(err instanceof JsonPatchError)) throw err;
          return [422, status(422, "Invalid", "the server rejected our request due to an error in our request", {})];
        }
        const stored: KubeObject = {
          ...patched,
          metadata: {
            ...patched.metadata,
            name,
            namespace: ns,
            resourceVersion: String(++version),
            uid: live.metadata.uid,
            creationTimestamp: live.metadata.creationTimestamp,
            generation: Number(live.metadata.generation ?? 1) + (JSON.stringify(patched.spec) !== JSON.stringify(live.spec) ? 1 : 0),
          },
        };
        virtualServices.set(key(ns, name), stored);
        return [200, stored];
      }
      if (method === "DELETE") {
        if (!live) return notFound();
        const want = body?.preconditions?.resourceVersion;
        if (want !== undefined && want !== live.metadata.resourceVersion) {
          return [
            409,
            status(409, "Conflict", `Operation cannot be fulfilled on virtualservices.networking.istio.io "${name}": Precondition failed: ResourceVersion in precondition: ${want}, ResourceVersion in object meta: ${live.metadata.resourceVersion}`, vsDetails(name)),
          ];
        }
        virtualServices.delete(key(ns, name));
        return [200, live];
      }
    }
    if (method === "GET" && (m = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)$/.exec(path))) {
      const found = others.get(`v1/Service/${m[1]}/${m[2]}`);
      return found ? [200, found] : [404, status(404, "NotFound", `services "${m[2]}" not found`, { name: m[2], kind: "services" })];
    }
    if (method === "GET" && (m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)$/.exec(path))) {
      const found = others.get(`apps/v1/Deployment/${m[1]}/${m[2]}`);
      return found ? [200, found] : [404, status(404, "NotFound", `deployments.apps "${m[2]}" not found`, { name: m[2], group: "apps", kind: "deployments" })];
    }
    return [404, status(404, "NotFound", "the server could not find the requested resource")];
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(chunk);
    });
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const path = url.pathname;
      const method = req.method ?? "GET";
      const text = Buffer.concat(chunks).toString("utf8");
      const n = ++received;
      if (options.hang?.(n)) {
        const entry: FakeRequest = { method, path, status: 0, abandoned: false };
        requests.push(entry);
        req.socket.once("close", () => (entry.abandoned = true));
        return;
      }
      const fault = options.fault?.(n, { method, path, body: text });
      if (fault === "reset") {
        requests.push({ method, path, status: 0 });
        req.socket.destroy();
        return;
      }
      if (fault !== undefined) {
        const code = Number(fault);
        requests.push({ method, path, status: code });
        res.writeHead(code, { "content-type": "application/json", ...(code === 429 ? { "retry-after": "0" } : {}) });
        res.end(JSON.stringify(status(code, code === 429 ? "TooManyRequests" : "ServiceUnavailable", code === 429 ? "too many requests, please try again later" : "the server is currently unable to handle the request")));
        return;
      }
      const watched = new RegExp(`^${LEASE_BASE}/namespaces/([^/]+)/leases$`).exec(path);
      if (method === "GET" && watched && url.searchParams.get("watch") === "true" && options.leaseWatch === "forbidden") {
        requests.push({ method, path: `${path}?watch=true`, status: 403 });
        res.writeHead(403, { "content-type": "application/json" });
        res.end(JSON.stringify(status(403, "Forbidden", `leases.coordination.k8s.io is forbidden: User "fake" cannot watch resource "leases" in API group "coordination.k8s.io" in the namespace "${decodeURIComponent(watched[1])}"`)));
        return;
      }
      if (method === "GET" && watched && url.searchParams.get("watch") === "true" && options.leases !== "forbidden") {
        // A watch stays open: the current Lease as ADDED, then each change, until the client goes.
        requests.push({ method, path: `${path}?watch=true`, status: 200 });
        const ns = decodeURIComponent(watched[1]);
        const name = /^metadata\.name=(.+)$/.exec(url.searchParams.get("fieldSelector") ?? "")?.[1];
        res.writeHead(200, { "content-type": "application/json" });
        const entry = { ns, name, res };
        leaseWatches.add(entry);
        res.on("close", () => leaseWatches.delete(entry));
        for (const l of leases.values()) if (l.metadata.namespace === ns && (name === undefined || l.metadata.name === name)) res.write(`${JSON.stringify({ type: "ADDED", object: l })}\n`);
        return;
      }
      let code: number;
      let payload: unknown;
      const contentType = req.headers["content-type"]?.split(";")[0].trim();
      try {
        [code, payload] = handle(method, path, text === "" ? undefined : JSON.parse(text), contentType, url.searchParams);
      } catch (err) {
        [code, payload] = [400, status(400, "BadRequest", String(err))];
      }
      requests.push({ method, path, status: code, ...(chunks.length > 0 && contentType !== undefined ? { contentType } : {}) });
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // client-node refuses a plain-http server unless the cluster sets insecure-skip-tls-verify.
  const kubeconfig = JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "fake", cluster: { server: url, "insecure-skip-tls-verify": true } }],
    users: [{ name: "fake", user: { token: "fake-token" } }],
    contexts: [{ name: "fake", context: { cluster: "fake", user: "fake" } }],
    "current-context": "fake",
  });

  return {
    url,
    kubeconfig,
    requests,
    conflicts: () => requests.filter((r) => r.status === 409).length,
    rejectedPatches: () => requests.filter((r) => r.method === "PATCH" && r.status === 422).length,
    virtualServices: () => [...virtualServices.values()].map((o) => structuredClone(o)).sort((a, b) => key(a.metadata.namespace!, a.metadata.name).localeCompare(key(b.metadata.namespace!, b.metadata.name))),
    leases: () => [...leases.values()].map((o) => structuredClone(o)).sort((a, b) => key(a.metadata.namespace!, a.metadata.name).localeCompare(key(b.metadata.namespace!, b.metadata.name))),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
