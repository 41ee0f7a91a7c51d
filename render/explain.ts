/**
 * Follows one request through a rendered (or live) cluster: from the Emissary gateway through a
 * chain of in-mesh calls, and says per hop what decided the route (a Mapping, a VirtualService
 * route, or the plain Service) and which Deployment and image serve it. Pure: it takes the objects
 * of a cluster and a request, and returns plain data; `formatExplanation` turns that into a table.
 *
 * What it models, and where it comes from:
 * - Emissary v3alpha1 Mappings: `hostname` (a DNS glob with `*` at the start or end), `prefix`
 *   (longest wins), `remove_request_headers` then `add_request_headers` (`append` defaults to true,
 *   which joins a client-sent value with ours) and `service` (`name[.namespace][:port]`, namespace
 *   defaulting to the Mapping's). https://www.getambassador.io/docs/emissary/latest/topics/using/headers/add_request_headers
 * - Istio mesh VirtualServices (no `gateways`, or `mesh` among them), one per host (IST0109), http
 *   routes evaluated in order, first match wins; a `match` list is an OR of blocks whose conditions
 *   AND; regexes are RE2 full matches. https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPMatchRequest
 * - Service selectors are equality-only subsets of the pod template labels.
 * - Header propagation is the application's job (Envoy never copies inbound headers to outbound
 *   calls); the explainer assumes every service propagates the fork header and says so.
 */
import { DEFAULTS } from "../components/config";
import { coverageOf } from "../components/fork/routes";
import { LABELS } from "../components/naming";
import { wrap } from "./args";
import { KubeObject } from "./cluster";

export interface ExplainRequest {
  /** The public host the client calls, e.g. `alice.shop.dev.example.com` (a port is ignored). */
  host: string;
  /** The request path; default `/`. Also used for `uri` matches of in-mesh hops. */
  path?: string;
  /** Headers the client sends (names are case-insensitive). */
  headers?: Record<string, string>;
  /** The chain of services called after the entry service: `name` (caller's namespace) or `name.namespace`. */
  calls: string[];
}

export interface ExplainOptions {
  /** The fork header, for the assumption line and to show which fork a request carries. @default x-fork-identifier */
  headerName?: string;
  /**
   * formatExplanation: the widest line allowed. The one-row-per-hop table is used when it fits,
   * else one block per hop; long notes are wrapped. @default unlimited (always the table)
   */
  width?: number;
}

export interface Hop {
  /** What was called: the Mapping's service reference for hop 0, the `calls` entry after that. */
  service: string;
  /** `Mapping shop/x`, `VirtualService shop/api route forkstack-alice` or `Service (no VirtualService)`. */
  decidedBy: string;
  /** The Service the request lands on, `namespace/name`. */
  target?: string;
  /** The Deployment(s) behind the target Service. */
  deployment?: string;
  /** The first container image of that Deployment. */
  image?: string;
  /** The fork the serving Deployment belongs to (label forkstack.dev/fork), undefined when shared. */
  fork?: string;
  /** True when this hop cannot be served as intended; see `problems`. */
  broken: boolean;
}

export interface Problem {
  hop: number;
  message: string;
}

export interface Explanation {
  hops: Hop[];
  problems: Problem[];
  /** Headers as the entry service receives them (after the Mapping), lowercase names. */
  headers: Record<string, string>;
  /** The headers the gateway's Mapping added or changed (a fork's own `headers` among them). */
  gatewaySet: Record<string, string>;
  /** Assumptions the answer rests on; printed with it. */
  assumptions: string[];
}

const LOCAL_SUFFIX = ".svc.cluster.local";

/** Parses a `calls` entry or a Mapping service into name and namespace (`fallbackNs` when absent). */
export function parseServiceName(text: string, fallbackNs: string): { name: string; namespace: string } {
  const withoutScheme = text.replace(/^[a-z]+:\/\//, "");
  const host = withoutScheme.split("/")[0].replace(/:\d+$/, "");
  const parts = host.split(".");
  // name, name.ns, name.ns.svc, name.ns.svc.cluster.local all name a Service.
  return { name: parts[0], namespace: parts.length > 1 ? parts[1] : fallbackNs };
}

/** A VirtualService host, resolved relative to the VirtualService's namespace, as an FQDN. */
function hostFqdn(host: string, namespace: string): string {
  const parts = host.split(".");
  if (parts.length === 1) return `${host}.${namespace}${LOCAL_SUFFIX}`;
  if (parts.length === 2) return `${host}${LOCAL_SUFFIX}`;
  if (parts.length === 3 && parts[2] === "svc") return `${host}.cluster.local`;
  return host;
}

function hostnameMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === "*" || p === h) return true;
  // Emissary hostnames are DNS globs with a `*` at the start or at the end.
  if (p.startsWith("*")) return h.endsWith(p.slice(1));
  if (p.endsWith("*")) return h.startsWith(p.slice(0, -1));
  return false;
}

function ns(o: KubeObject): string {
  return o.metadata.namespace ?? "default";
}

function ref(o: KubeObject): string {
  return `${ns(o)}/${o.metadata.name}`;
}

function spec(o: KubeObject): any {
  return (o.spec ?? {}) as any;
}

function lowerKeys(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Applies a Mapping's header changes: removals first, then additions (as Envoy applies them). */
export function applyMappingHeaders(mapping: KubeObject, headers: Record<string, string>): Record<string, string> {
  const out = { ...headers };
  for (const name of (spec(mapping).remove_request_headers ?? []) as string[]) delete out[name.toLowerCase()];
  for (const [rawName, rawValue] of Object.entries((spec(mapping).add_request_headers ?? {}) as Record<string, unknown>)) {
    const name = rawName.toLowerCase();
    const obj = typeof rawValue === "object" && rawValue !== null ? (rawValue as { value?: unknown; append?: unknown }) : { value: rawValue };
    const value = String(obj.value ?? "");
    const append = obj.append === undefined ? true : obj.append === true || obj.append === "true" || obj.append === "True";
    out[name] = append && out[name] !== undefined ? `${out[name]},${value}` : value;
  }
  return out;
}

function stringMatches(cond: any, value: string | undefined): boolean {
  if (cond === null || typeof cond !== "object") return false;
  if (value === undefined) return false;
  if (cond.exact !== undefined) return value === cond.exact;
  if (cond.prefix !== undefined) return value.startsWith(cond.prefix);
  if (cond.regex !== undefined) {
    try {
      return new RegExp(`^(?:${cond.regex})$`).test(value);
    } catch {
      return false; // RE2 syntax JavaScript cannot read: Istio would reject the object anyway.
    }
  }
  // An empty condition (`{}`) matches any value of a present header.
  return true;
}

function matchBlockMatches(block: any, headers: Record<string, string>, path: string, gateway: string): boolean {
  // Match-level gateways override the VirtualService's (istio route.go, sourceMatchHTTP).
  const gateways = block.gateways as string[] | undefined;
  if (gateways !== undefined && gateways.length > 0 && !gateways.includes(gateway)) return false;
  for (const [name, cond] of Object.entries((block.headers ?? {}) as Record<string, unknown>)) {
    if (!stringMatches(cond, headers[name.toLowerCase()])) return false;
  }
  for (const [name, cond] of Object.entries((block.withoutHeaders ?? {}) as Record<string, unknown>)) {
    if (stringMatches(cond, headers[name.toLowerCase()])) return false;
  }
  if (block.uri !== undefined && !stringMatches(block.uri, path)) return false;
  return true;
}

/**
 * The first http route that matches, or undefined when none does (Istio answers 404). `gateway` is
 * where the request is evaluated: `mesh` for a sidecar (default), or `namespace/name` of an Istio
 * gateway the VirtualService is bound to.
 */
export function selectRoute(virtualService: KubeObject, headers: Record<string, string>, path: string, gateway = "mesh"): { route: any; index: number } | undefined {
  const routes = (spec(virtualService).http ?? []) as any[];
  for (let i = 0; i < routes.length; i++) {
    const match = routes[i].match as any[] | undefined;
    if (match === undefined || match.length === 0 || match.some((b) => matchBlockMatches(b, headers, path, gateway))) return { route: routes[i], index: i };
  }
  return undefined;
}

function labelsOf(o: KubeObject): Record<string, string> {
  return o.metadata.labels ?? {};
}

function podLabels(deployment: KubeObject): Record<string, string> {
  return spec(deployment).template?.metadata?.labels ?? {};
}

function forkOf(deployment: KubeObject): string | undefined {
  return labelsOf(deployment)[LABELS.fork] ?? podLabels(deployment)[LABELS.fork];
}

class Index {
  constructor(private readonly objects: readonly KubeObject[]) {}

  /** Objects of a kind in an API group ("" for the core group). */
  of(kind: string, group: string): KubeObject[] {
    return this.objects.filter((o) => o.kind === kind && (group === "" ? !o.apiVersion.includes("/") : o.apiVersion.startsWith(`${group}/`)));
  }

  service(name: string, namespace: string): KubeObject | undefined {
    return this.of("Service", "").find((s) => s.metadata.name === name && ns(s) === namespace);
  }

  /** Deployments in the Service's namespace whose pod labels include every selector pair. */
  backing(service: KubeObject): KubeObject[] {
    const selector = (spec(service).selector ?? {}) as Record<string, string>;
    if (Object.keys(selector).length === 0) return [];
    return this.of("Deployment", "apps")
      .filter((d) => ns(d) === ns(service))
      .filter((d) => Object.entries(selector).every(([k, v]) => podLabels(d)[k] === v));
  }
}

/** Fills a hop's target, Deployment, image and fork from a Service; records problems. */
function land(index: Index, hop: Hop, hopNo: number, name: string, namespace: string, problems: Problem[], missing: string): void {
  const service = index.service(name, namespace);
  if (service === undefined) {
    hop.broken = true;
    problems.push({ hop: hopNo, message: `${missing}, but there is no Service ${namespace}/${name}` });
    return;
  }
  hop.target = ref(service);
  const deployments = index.backing(service);
  if (deployments.length === 0) {
    hop.broken = true;
    problems.push({ hop: hopNo, message: `Service ${ref(service)} selects no Deployment (selector ${JSON.stringify(spec(service).selector ?? {})})` });
    return;
  }
  const forked = deployments.filter((d) => forkOf(d) !== undefined);
  const shared = deployments.filter((d) => forkOf(d) === undefined);
  if (forked.length > 0 && shared.length > 0) {
    hop.broken = true;
    problems.push({
      hop: hopNo,
      message: `Service ${ref(service)} selects both shared and fork pods (${deployments.map((d) => d.metadata.name).join(", ")}): a fork copy must change a selected label`,
    });
  }
  hop.deployment = deployments.map((d) => d.metadata.name).join(", ");
  const first = deployments[0];
  hop.image = spec(first).template?.spec?.containers?.[0]?.image;
  hop.fork = forkOf(first);
}

function gatewayHop(index: Index, req: ExplainRequest, path: string, problems: Problem[]): { hop: Hop; headers: Record<string, string> } {
  const host = req.host.replace(/:\d+$/, "");
  const candidates = index
    .of("Mapping", "getambassador.io")
    .filter((m) => hostnameMatches(String(spec(m).hostname ?? spec(m).host ?? "*"), host))
    .filter((m) => path.startsWith(String(spec(m).prefix ?? "/")));
  const clientHeaders = lowerKeys(req.headers);
  if (candidates.length === 0) {
    problems.push({ hop: 0, message: `no Mapping for host ${host} and path ${path}: the gateway answers 404` });
    return { hop: { service: "(gateway)", decidedBy: "no Mapping", broken: true }, headers: clientHeaders };
  }
  // Longest prefix wins; on a tie an exact hostname beats a glob.
  const score = (m: KubeObject) => String(spec(m).prefix ?? "/").length * 2 + (String(spec(m).hostname ?? "") === host ? 1 : 0);
  const mapping = [...candidates].sort((a, b) => score(b) - score(a))[0];
  const headers = applyMappingHeaders(mapping, clientHeaders);
  const serviceText = String(spec(mapping).service ?? "");
  const target = parseServiceName(serviceText, ns(mapping));
  const hop: Hop = { service: serviceText, decidedBy: `Mapping ${ref(mapping)}`, broken: false };
  land(index, hop, 0, target.name, target.namespace, problems, `Mapping ${ref(mapping)} sends to ${serviceText}`);
  return { hop, headers };
}

/** Where the mesh sends a call to a Service, as forkstack's model of Istio's routing decides it. */
export interface MeshRoute {
  /** The VirtualService covering the host (`namespace/name`); none: the plain Service, or a conflict. */
  virtualService?: string;
  /** The VirtualServices that cover the host at one level (Istio honours only one): nothing is decided. */
  conflicting?: string[];
  /** Its first matching route: the name, or `#<index>` for an unnamed one; "default" without a VirtualService, "" when none matches. */
  route: string;
  /** When that route delegates: the delegate VirtualService and its route that decides. */
  delegate?: { virtualService: string; route: string };
  /** The destinations, as FQDNs, with their subset, port and weight (one destination: 100). */
  destinations: { host: string; subset?: string; port?: number; weight: number }[];
  /** Why the call cannot be routed as intended (Istio answers 404, or routes unpredictably); destinations are then empty. */
  problem?: string;
}

/**
 * The mesh's decision for a call from a sidecar to `fqdn` with `headers` and `path`: the
 * VirtualService covering the host (the same choice the fork's routing makes,
 * components/fork/routes.ts coverageOf: an exact host beats a wildcard, the most specific wildcard
 * the others, two at one level conflict), its first matching http route, a delegate's routes
 * (one level, evaluated only for requests the root route matched: istio/api virtual_service.proto,
 * Delegate), and the route's destinations with short hosts resolved in the deciding
 * VirtualService's namespace.
 */
export function meshRoute(objects: readonly KubeObject[], fqdn: string, headers: Record<string, string>, path: string): MeshRoute {
  const all = objects.filter((o) => o.kind === "VirtualService" && o.apiVersion.startsWith("networking.istio.io/"));
  const coverage = coverageOf(all, fqdn);
  if (coverage.kind === "none") return { route: "default", destinations: [{ host: fqdn, weight: 100 }] };
  if (coverage.kind === "conflict") {
    const refs = coverage.virtualServices.map(ref);
    return { conflicting: refs, route: "", destinations: [], problem: `${refs.length} VirtualServices for host ${fqdn} (${refs.join(", ")}): Istio honours only one per host (IST0109)` };
  }
  const vs = coverage.virtualService;
  const selected = selectRoute(vs, headers, path);
  if (selected === undefined) return { virtualService: ref(vs), route: "", destinations: [], problem: `no route of VirtualService ${ref(vs)} matches this request: Istio answers 404` };
  let decided = selected;
  let decidingVs = vs;
  const route = selected.route.name ?? `#${selected.index}`;
  let via: MeshRoute["delegate"];
  const delegate = selected.route.delegate as { name?: string; namespace?: string } | undefined;
  if (delegate !== undefined) {
    const target = all.find((o) => o.metadata.name === delegate.name && ns(o) === (delegate.namespace ?? ns(vs)));
    const inner = target === undefined ? undefined : selectRoute(target, headers, path);
    if (target === undefined || inner === undefined) {
      const missing = target === undefined ? "does not exist" : "has no route that matches this request";
      return { virtualService: ref(vs), route, destinations: [], problem: `route ${route} of VirtualService ${ref(vs)} delegates to ${delegate.namespace ?? ns(vs)}/${delegate.name}, which ${missing}` };
    }
    decided = inner;
    decidingVs = target;
    via = { virtualService: ref(target), route: inner.route.name ?? `#${inner.index}` };
  }
  const deciding = via?.route ?? route;
  const destinations = ((decided.route.route ?? []) as any[]).map((d) => ({
    host: hostFqdn(String(d.destination?.host ?? ""), ns(decidingVs)),
    ...(d.destination?.subset ? { subset: String(d.destination.subset) } : {}),
    ...(typeof d.destination?.port?.number === "number" ? { port: d.destination.port.number as number } : {}),
    weight: typeof d.weight === "number" ? d.weight : ((decided.route.route ?? []) as any[]).length === 1 ? 100 : 0,
  }));
  const decision = { virtualService: ref(vs), route, ...(via ? { delegate: via } : {}), destinations };
  if (destinations.length === 0) return { ...decision, problem: `route ${deciding} of VirtualService ${ref(decidingVs)} has no destination` };
  return decision;
}

function meshHop(index: Index, call: string, callerNs: string, hopNo: number, headers: Record<string, string>, path: string, problems: Problem[]): Hop {
  const { name, namespace } = parseServiceName(call, callerNs);
  const fqdn = `${name}.${namespace}${LOCAL_SUFFIX}`;
  const hop: Hop = { service: call, decidedBy: "Service (no VirtualService)", broken: false };
  const decision = meshRoute(index.of("VirtualService", "networking.istio.io"), fqdn, headers, path);
  if (decision.conflicting !== undefined) hop.decidedBy = `${decision.conflicting.length} VirtualServices`;
  else if (decision.virtualService !== undefined) {
    hop.decidedBy =
      decision.route === ""
        ? `VirtualService ${decision.virtualService} (no route matches)`
        : `VirtualService ${decision.virtualService} route ${decision.route}${decision.delegate ? ` → delegate ${decision.delegate.virtualService} route ${decision.delegate.route}` : ""}`;
  }
  if (decision.problem !== undefined) {
    hop.broken = true;
    problems.push({ hop: hopNo, message: decision.problem });
    // A host covered twice still lands somewhere: on the Service called, as far as the model can tell.
    if (decision.conflicting !== undefined) land(index, hop, hopNo, name, namespace, problems, `the chain calls ${call}`);
    return hop;
  }
  if (decision.virtualService === undefined) {
    land(index, hop, hopNo, name, namespace, problems, `the chain calls ${call}`);
    return hop;
  }
  // With a weighted split, follow the heaviest destination (the first on a tie).
  const destination = [...decision.destinations].sort((a, b) => b.weight - a.weight)[0];
  const target = parseServiceName(destination.host, namespace);
  const routeLabel = decision.delegate?.route ?? decision.route;
  const decidingVs = decision.delegate?.virtualService ?? decision.virtualService;
  land(index, hop, hopNo, target.name, target.namespace, problems, `route ${routeLabel} of VirtualService ${decidingVs} sends to host ${destination.host}`);
  return hop;
}

/**
 * Follows a request from the gateway through `req.calls`. Hop 0 is the gateway → entry Service
 * hop; hop i is the call to `req.calls[i-1]`, made from the namespace of the previous hop's
 * Service. A missing Mapping ends the walk (the gateway rejects the request); other problems mark
 * their hop broken and the walk goes on, so one run reports every problem of the chain.
 */
export function explainRequest(objects: readonly KubeObject[], req: ExplainRequest, opts: ExplainOptions = {}): Explanation {
  const headerName = (opts.headerName ?? DEFAULTS.headerName).toLowerCase();
  const index = new Index(objects);
  const path = req.path ?? "/";
  const problems: Problem[] = [];
  const assumptions = [`every service propagates the ${headerName} header on its outbound calls (the application's job; Envoy does not copy it)`];
  const gateway = gatewayHop(index, req, path, problems);
  const sent = lowerKeys(req.headers);
  const gatewaySet = Object.fromEntries(Object.entries(gateway.headers).filter(([k, v]) => sent[k] !== v));
  const hops: Hop[] = [gateway.hop];
  if (gateway.hop.decidedBy !== "no Mapping") {
    let callerNs = gateway.hop.target?.split("/")[0] ?? parseServiceName(gateway.hop.service, "default").namespace;
    req.calls.forEach((call, i) => {
      const hop = meshHop(index, call, callerNs, i + 1, gateway.headers, path, problems);
      hops.push(hop);
      callerNs = hop.target?.split("/")[0] ?? parseServiceName(call, callerNs).namespace;
    });
  }
  return { hops, problems, headers: gateway.headers, gatewaySet, assumptions };
}

/**
 * What a person reads: one row per hop (or, when that table is wider than `opts.width`, one block
 * per hop), then the headers the gateway set, problems, assumptions and the verdict.
 */
export function formatExplanation(result: Explanation, opts: ExplainOptions = {}): string {
  const headerName = (opts.headerName ?? DEFAULTS.headerName).toLowerCase();
  const width = opts.width ?? Infinity;
  const header = ["#", "service", "decided by", "serves it", "image", "fork"];
  const rows = result.hops.map((h, i) => [
    String(i),
    h.service,
    h.decidedBy,
    h.target === undefined ? "-" : `${h.deployment ?? "-"} (Service ${h.target})`,
    h.image ?? "-",
    `${h.fork ?? "shared"}${h.broken ? "  BROKEN" : ""}`,
  ]);
  const widths = header.map((_, c) => Math.max(header[c].length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd();
  const table = [line(header), ...rows.map(line)];
  const out = table.every((l) => [...l].length <= width)
    ? table
    : result.hops.flatMap((h, i) => [
        `${i}  ${h.service} → ${h.target === undefined ? "-" : `Service ${h.target}`}  (${h.fork ?? "shared"}${h.broken ? ", BROKEN" : ""})`,
        `   decided by ${h.decidedBy}`,
        ...(h.target === undefined ? [] : [`   served by ${h.deployment ?? "-"}, image ${h.image ?? "-"}`]),
      ]);
  const carried = result.headers[headerName];
  const notes = [`${headerName} after the gateway: ${carried ?? "(not set)"}`];
  const others = Object.entries(result.gatewaySet ?? {}).filter(([k]) => k !== headerName);
  if (others.length > 0) notes.push(`the gateway also sets: ${others.map(([k, v]) => `${k}: ${v}`).join("; ")}`);
  for (const p of result.problems) notes.push(`problem (hop ${p.hop}): ${p.message}`);
  for (const a of result.assumptions) notes.push(`assumption: ${a}`);
  notes.push(result.problems.length === 0 ? "chain ok" : "chain BROKEN");
  return [...out, ...notes.flatMap((n) => ([...n].length <= width ? [n] : wrap(n, width, 2)))].join("\n");
}
