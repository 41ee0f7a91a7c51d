/**
 * Cross-checks explain's model of the mesh (render/explain.ts meshRoute) against the Envoy routes
 * istiod itself generates for the same objects: the e2e tier's `istio-routes` tool
 * (e2e/go/istio-routes) loads a render's objects into istiod's config generation, asks for the
 * outbound routes of a sidecar, and applies Envoy's matching rules to each request.
 *
 * The requests: every Service a fork could be routed through (no fork label, not headless, a port
 * that carries HTTP), called from a sidecar in its namespace, with each fork's header, with ids that prefix or
 * extend a fork's (`alice` → `alic`, `alice2`), and without the header. For each, explain's
 * answer (route, clusters and weights) must equal istiod's. Emissary's hop (the gateway) is not
 * checked here: it stays forkstack's model.
 *
 * Pure but for `runIstioRoutes`, which runs the tool.
 */
import { spawnSync } from "child_process";
import { LABELS } from "../components/naming";
import { meshRoute } from "./explain";
import type { KubeObject } from "./cluster";

/** One call from a sidecar, as the istio-routes tool takes it. */
export interface MeshRequest {
  id: string;
  /** The calling sidecar's namespace. */
  namespace: string;
  /** The Service called, as an FQDN. */
  host: string;
  port: number;
  path: string;
  /** Lowercase names. */
  headers: Record<string, string>;
}

/** Where a request goes: the Envoy route's name and its clusters (`outbound|port|subset|host`) with weights. */
export interface MeshAnswer {
  outcome: string;
  route?: string;
  clusters: { name: string; weight: number }[];
  detail?: string;
}

export interface Disagreement {
  request: MeshRequest;
  explain: MeshAnswer;
  istio: MeshAnswer;
}

export interface CheckResult {
  /** (request, hop) pairs compared. */
  compared: number;
  /** Requests left out, with why (explain says Istio's behaviour is undefined there, e.g. a host covered twice). */
  skipped: { request: MeshRequest; why: string }[];
  disagreements: Disagreement[];
}

const SUFFIX = ".svc.cluster.local";

/** Ports that carry HTTP as Istio sees them: a name or appProtocol for HTTP, or neither (Istio detects the protocol). */
function httpPorts(service: KubeObject): number[] {
  const ports = ((service.spec as any)?.ports ?? []) as { port: number; name?: string; appProtocol?: string; protocol?: string }[];
  const http = /^(http|http2|grpc|grpc-web|h2c)(-|$)/;
  return ports
    .filter((p) => (p.protocol ?? "TCP") === "TCP")
    .filter((p) => (p.appProtocol !== undefined ? http.test(p.appProtocol) : p.name === undefined || http.test(p.name) || !/^(tcp|tls|https|mongo|mysql|redis)(-|$)/.test(p.name)))
    .map((p) => p.port);
}

/** The fork ids of a render: the fork label of its Deployments and Services. */
export function forksOf(objects: readonly KubeObject[]): string[] {
  return [...new Set(objects.map((o) => o.metadata.labels?.[LABELS.fork]).filter((f): f is string => typeof f === "string"))].sort();
}

/**
 * The requests to check: each shared Service in a namespace that holds a VirtualService or a
 * fork's copy, each of its HTTP ports, with every header value that matters.
 */
export function meshRequests(objects: readonly KubeObject[], headerName: string): MeshRequest[] {
  const forks = forksOf(objects);
  const meshNamespaces = new Set(
    objects.filter((o) => (o.kind === "VirtualService" || (o.kind === "Deployment" && o.metadata.labels?.[LABELS.fork] !== undefined)) && o.metadata.namespace).map((o) => o.metadata.namespace!),
  );
  const values = [...new Set([...forks, ...forks.map((f) => `${f}2`), ...forks.filter((f) => f.length > 1).map((f) => f.slice(0, -1))])].sort();
  const requests: MeshRequest[] = [];
  // Not headless Services: without a virtual IP a sidecar passes their traffic through to the pod
  // called, and no VirtualService applies (Istio builds no route configuration for them).
  const services = objects.filter(
    (o) => o.kind === "Service" && o.apiVersion === "v1" && meshNamespaces.has(o.metadata.namespace ?? "default") && o.metadata.labels?.[LABELS.fork] === undefined && (o.spec as any)?.clusterIP !== "None",
  );
  for (const service of services) {
    const namespace = service.metadata.namespace ?? "default";
    const host = `${service.metadata.name}.${namespace}${SUFFIX}`;
    for (const port of httpPorts(service)) {
      for (const value of [undefined, ...values]) {
        const headers = value === undefined ? {} : { [headerName.toLowerCase()]: value };
        requests.push({ id: `${host}:${port} ${value ?? "(no fork)"}`, namespace, host, port, path: "/", headers });
      }
    }
  }
  return requests;
}

/** explain's answer for a request, in the tool's terms; undefined when the model says Istio's behaviour is undefined there. */
export function explainAnswer(objects: readonly KubeObject[], request: MeshRequest): MeshAnswer | { undefinedBecause: string } {
  const decision = meshRoute(objects, request.host, request.headers, request.path);
  if (decision.problem !== undefined) {
    if (decision.conflicting !== undefined) return { undefinedBecause: decision.problem };
    return { outcome: decision.route === "" ? "no-route" : "broken", clusters: [], detail: decision.problem };
  }
  // istiod names a delegate's route `<root route>-<delegate route>` (pilot/pkg/networking/core/route).
  const route = decision.delegate ? `${decision.route}-${decision.delegate.route}` : decision.route;
  const clusters = decision.destinations.map((d) => ({ name: `outbound|${d.port ?? destinationPort(objects, d.host, request.port)}|${d.subset ?? ""}|${d.host}`, weight: d.weight }));
  return { outcome: "route", route, clusters: sortClusters(clusters) };
}

/**
 * The port of a destination without `port`: the destination Service's only port, else the port
 * called (istiod's rule, pilot/pkg/networking/core/route: a Service with one port needs none).
 */
function destinationPort(objects: readonly KubeObject[], fqdn: string, called: number): number {
  const [name, namespace] = fqdn.split(".");
  const service = objects.find((o) => o.kind === "Service" && o.apiVersion === "v1" && o.metadata.name === name && (o.metadata.namespace ?? "default") === namespace);
  const ports = ((service?.spec as any)?.ports ?? []) as { port: number }[];
  return ports.length === 1 ? ports[0].port : called;
}

const sortClusters = (clusters: { name: string; weight: number }[]) => [...clusters].sort((a, b) => a.name.localeCompare(b.name) || a.weight - b.weight);

/** Whether two answers say the same: the outcome, the clusters with their weights, and the route's name where both name it. */
export function sameAnswer(a: MeshAnswer, b: MeshAnswer): boolean {
  if (a.outcome !== b.outcome) return false;
  if (a.outcome !== "route") return true;
  if (a.route !== undefined && b.route !== undefined && !a.route.startsWith("#") && a.route !== b.route) return false;
  return JSON.stringify(sortClusters(a.clusters)) === JSON.stringify(sortClusters(b.clusters));
}

/** Compares explain's answers for `requests` with istiod's (`istio`, by request id). */
export function compareAnswers(objects: readonly KubeObject[], requests: readonly MeshRequest[], istio: ReadonlyMap<string, MeshAnswer>): CheckResult {
  const result: CheckResult = { compared: 0, skipped: [], disagreements: [] };
  for (const request of requests) {
    const mine = explainAnswer(objects, request);
    if ("undefinedBecause" in mine) {
      result.skipped.push({ request, why: mine.undefinedBecause });
      continue;
    }
    const theirs = istio.get(request.id) ?? { outcome: "missing", clusters: [], detail: "istio-routes gave no answer" };
    result.compared++;
    if (!sameAnswer(mine, theirs)) result.disagreements.push({ request, explain: mine, istio: theirs });
  }
  return result;
}

/** One line per disagreement: the request, explain's hop and istiod's route and clusters. */
export function formatDisagreement(d: Disagreement): string {
  const side = (a: MeshAnswer) =>
    a.outcome === "route" ? `route ${a.route ?? "(unnamed)"} → ${a.clusters.map((c) => `${c.name} (${c.weight})`).join(", ")}` : `${a.outcome}${a.detail ? ` (${a.detail})` : ""}`;
  const headers = Object.entries(d.request.headers).map(([k, v]) => `${k}: ${v}`).join(", ") || "no fork header";
  return `from ${d.request.namespace} to ${d.request.host}:${d.request.port}${d.request.path} (${headers}): explain ${side(d.explain)}; istiod ${side(d.istio)}`;
}

/** What the istio-routes tool printed for one request. */
interface ToolResult {
  id: string;
  outcome: string;
  route?: string;
  clusters?: { name: string; weight: number }[];
  detail?: string;
}

/**
 * Runs the istio-routes tool (its path) on `objects` for `requests`; resolves to its answers by
 * request id. Throws one line when the tool fails or answers nonsense.
 */
export function runIstioRoutes(binary: string, objects: readonly KubeObject[], requests: readonly MeshRequest[], timeoutMs = 300_000): Map<string, MeshAnswer> {
  const run = spawnSync(binary, [], { input: JSON.stringify({ objects, requests }), encoding: "utf8", maxBuffer: 512 * 1024 * 1024, timeout: timeoutMs });
  if (run.error) throw new Error(`istio-routes: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`istio-routes exited ${run.status}: ${(run.stderr || run.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  let parsed: { results?: ToolResult[] };
  try {
    parsed = JSON.parse(run.stdout);
  } catch {
    throw new Error(`istio-routes printed no JSON: ${run.stdout.slice(0, 200)}`);
  }
  const answers = new Map<string, MeshAnswer>();
  for (const r of parsed.results ?? []) answers.set(r.id, { outcome: r.outcome, ...(r.route !== undefined ? { route: r.route } : {}), clusters: r.clusters ?? [], ...(r.detail ? { detail: r.detail } : {}) });
  if (answers.size !== requests.length) throw new Error(`istio-routes answered ${answers.size} of ${requests.length} requests`);
  return answers;
}
