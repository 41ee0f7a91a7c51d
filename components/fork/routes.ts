/**
 * The merge of forks' routes into the one mesh VirtualService of a shared Service. Pure: takes the
 * VirtualService as read (or none) and returns the one to write.
 *
 * Istio honours only one VirtualService per host for sidecars (analyzer message IST0109:
 * https://istio.io/latest/docs/reference/config/analysis/ist0109/), so forks cannot each bring their
 * own: they share it, each owning routes named `forkstack-<fork>[--<n>]` (naming.routeName) placed
 * above every other route, added and removed by name, the way argo-rollouts' Istio router manages
 * its routes (rollout/trafficrouting/istio/istio.go: splitManagedRoutesAndNonManagedRoutes,
 * orderRoutes, removeRoute). Routes are evaluated in order, first match wins
 * (https://istio.io/latest/docs/reference/config/networking/virtual-service/#VirtualService, `http`),
 * so a fork route placed first catches exactly the requests carrying its fork header.
 *
 * Everything that is not a fork route (the app team's routes, retries, timeouts, tcp/tls routes,
 * metadata) is left exactly as it was; removing the last fork restores an adopted VirtualService's
 * spec byte for byte.
 */
import type { KubeObject } from "../kube/objects";
import { DEFAULTS } from "../config";
import { forkOfRoute, isRouteOfFork, LABELS, MANAGED_BY, routeName, serviceFqdn, virtualServiceName } from "../naming";

export interface ForkRouteClaim {
  forkId: string;
  /** The request header that carries the fork id (lowercase: Istio header matches require it). */
  headerName: string;
  /** The shared Service whose VirtualService gets the routes. */
  service: { name: string; namespace: string };
  /** FQDN of the fork's copy */
  targetHost: string;
  /**
   * The delegate VirtualService the routes go into, when the one VirtualService of the Service's
   * host routes every request by `delegate:`: the decision is made in the delegate, so the fork's
   * routes belong there (istio/api virtual_service.proto, `Delegate`). Undefined: the host's own.
   */
  delegate?: { name: string; namespace: string };
}

/** A networking.istio.io/v1 VirtualService. */
export type VirtualService = KubeObject;
export const VS_API_VERSION = "networking.istio.io/v1";

type ServiceId = { name: string; namespace: string };

// The parts of the VirtualService spec the merge reads; everything else passes through untouched.
interface Destination {
  host: string;
  subset?: string;
  [k: string]: unknown;
}
interface RouteDestination {
  destination: Destination;
  weight?: number;
  [k: string]: unknown;
}
interface MatchRequest {
  headers?: Record<string, unknown>;
  gateways?: string[];
  [k: string]: unknown;
}
interface HttpRoute {
  name?: string;
  match?: MatchRequest[];
  route?: RouteDestination[];
  [k: string]: unknown;
}
interface VsSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HttpRoute[];
  [k: string]: unknown;
}

/**
 * A deep copy of plain JSON data. Not structuredClone: under Jest its arrays come from another realm
 * and fail `Array.isArray`, which Pulumi's serializer relies on (see render/cluster.ts).
 */
function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const specOf = (vs: VirtualService): VsSpec => (vs.spec ?? {}) as VsSpec;

/**
 * A VirtualService host or destination as an FQDN. Short names are interpreted in the
 * VirtualService's own namespace ("reviews" → reviews.<ns>.svc.cluster.local, per the `hosts` field
 * docs); `name.ns` and `name.ns.svc` are the forms pods resolve through their DNS search path.
 */
function resolveHost(host: string, vsNamespace: string): string {
  const labels = host.split(".");
  if (labels.length === 1) return serviceFqdn(host, vsNamespace);
  if (labels.length === 2) return `${host}.svc.cluster.local`;
  if (labels.length === 3 && labels[2] === "svc") return `${host}.cluster.local`;
  return host;
}

/** Mesh VirtualServices apply to sidecars: no `gateways`, or `mesh` among them (the `gateways` field docs). */
function isMesh(vs: VirtualService): boolean {
  const gateways = specOf(vs).gateways ?? [];
  return gateways.length === 0 || gateways.includes("mesh");
}

const namespaceOf = (vs: VirtualService) => vs.metadata.namespace ?? "default";

/** Whether a VirtualService host (resolved in the VS's namespace) covers an FQDN, and how. */
function hostCovers(host: string, vsNamespace: string, fqdn: string): "exact" | "wildcard" | undefined {
  const full = resolveHost(host, vsNamespace);
  if (full === fqdn) return "exact";
  if (full === "*" || (full.startsWith("*.") && fqdn.endsWith(full.slice(1)))) return "wildcard";
  return undefined;
}

/** Which mesh VirtualService decides requests to a host: the one answer routing, the plan and explain share. */
export type Coverage =
  | { kind: "none" }
  | { kind: "exact"; virtualService: VirtualService }
  /** Only a wildcard host (e.g. `*.shop.svc.cluster.local`) covers it: Istio applies the most specific wildcard. */
  | { kind: "wildcard"; virtualService: VirtualService; host: string }
  /** Two mesh VirtualServices name the host exactly (or as equally specific wildcards): Istio honours one (IST0109). */
  | { kind: "conflict"; virtualServices: VirtualService[] };

/**
 * The mesh VirtualService (no gateways, or `mesh` among them) that Istio's sidecars apply to `fqdn`.
 * An exact host beats a wildcard; among wildcards the longest (most specific) wins; two at the same
 * level conflict. https://istio.io/latest/docs/reference/config/networking/virtual-service/#VirtualService
 * (`hosts`), https://istio.io/latest/docs/reference/config/analysis/ist0109/.
 */
export function coverageOf(list: readonly VirtualService[], fqdn: string): Coverage {
  const exact: VirtualService[] = [];
  const wildcard: { vs: VirtualService; host: string }[] = [];
  for (const vs of list) {
    if (!isMesh(vs)) continue;
    let best: { how: "exact" | "wildcard"; host: string } | undefined;
    for (const h of specOf(vs).hosts ?? []) {
      const how = hostCovers(h, namespaceOf(vs), fqdn);
      if (how === "exact") best = { how, host: h };
      else if (how === "wildcard" && best?.how !== "exact" && (best === undefined || resolveHost(h, namespaceOf(vs)).length > best.host.length)) {
        best = { how, host: resolveHost(h, namespaceOf(vs)) };
      }
    }
    if (best?.how === "exact") exact.push(vs);
    else if (best !== undefined) wildcard.push({ vs, host: best.host });
  }
  if (exact.length > 1) return { kind: "conflict", virtualServices: exact };
  if (exact.length === 1) return { kind: "exact", virtualService: exact[0] };
  if (wildcard.length === 0) return { kind: "none" };
  const longest = Math.max(...wildcard.map((w) => w.host.length));
  const top = wildcard.filter((w) => w.host.length === longest);
  if (top.length > 1) return { kind: "conflict", virtualServices: top.map((w) => w.vs) };
  return { kind: "wildcard", virtualService: top[0].vs, host: top[0].host };
}

const refOf = (vs: VirtualService) => `${namespaceOf(vs)}/${vs.metadata.name}`;

/** Why forkstack cannot place a fork's routes for a Service: the message names the objects and the way out. */
export class RouteRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RouteRefusal";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}

/**
 * The VirtualService a fork's routes for the Service go into: the one that names its host exactly,
 * or undefined when none covers it (forkstack then creates one). Throws RouteRefusal when two cover
 * it, or when only a wildcard VirtualService does: a header route in it would catch the fork's
 * requests to every host of the wildcard, and a new exact VirtualService would take the host away
 * from the app team's wildcard routes for everyone.
 */
export function findVirtualService(list: readonly VirtualService[], service: ServiceId): VirtualService | undefined {
  return placeRoutes(list, service).target;
}

const isCreatedByForkstack = (vs: VirtualService) => vs.metadata.annotations?.[LABELS.createdBy] === MANAGED_BY;

/**
 * Where a fork's routes for the Service go (`target`, undefined: create one), and VirtualServices
 * forkstack created for the host that are now stale (`stale`): when an app team (re)creates its
 * VirtualService for a host forkstack had created one for, two cover the host; the app's is the one
 * to keep, and each fork moves its routes there from forkstack's on its next update (the last one
 * out deletes it). Throws RouteRefusal for every other conflict and for wildcard-only coverage.
 */
export function placeRoutes(list: readonly VirtualService[], service: ServiceId, delegate?: { name: string; namespace: string }): { target: VirtualService | undefined; stale: VirtualService[] } {
  if (delegate !== undefined) {
    const found = list.find((vs) => vs.metadata.name === delegate.name && namespaceOf(vs) === delegate.namespace);
    if (found === undefined) throw new RouteRefusal(`the delegate VirtualService ${delegate.namespace}/${delegate.name} does not exist`);
    return { target: found, stale: [] };
  }
  const fqdn = serviceFqdn(service.name, service.namespace);
  const c = coverageOf(list, fqdn);
  switch (c.kind) {
    case "none":
      return { target: undefined, stale: [] };
    case "exact":
      return { target: c.virtualService, stale: [] };
    case "conflict": {
      const apps = c.virtualServices.filter((vs) => !isCreatedByForkstack(vs));
      if (apps.length === 1) return { target: apps[0], stale: c.virtualServices.filter(isCreatedByForkstack) };
      throw new RouteRefusal(`VirtualServices ${c.virtualServices.map(refOf).join(" and ")} both cover ${fqdn}`);
    }
    case "wildcard":
      throw new RouteRefusal(
        `only the wildcard VirtualService ${refOf(c.virtualService)} (${c.host}) covers ${fqdn}; a fork route there would catch requests to every host it covers`,
      );
  }
}

/**
 * Throws RouteRefusal when an app route delegates (`delegate: {name, namespace}`): its decisions are
 * made in the delegate VirtualService, and a fork copy of the route would send the fork's requests to
 * the shared delegate's destinations (istio/api virtual_service.proto, `Delegate`).
 */
export function checkNoDelegate(vs: VirtualService): void {
  const delegating = (specOf(vs).http ?? []).filter((r) => r.delegate !== undefined);
  if (delegating.length > 0) {
    const d = delegating[0].delegate as { name?: string; namespace?: string };
    throw new RouteRefusal(
      `VirtualService ${refOf(vs)} delegates route ${delegating[0].name ?? "#" + (specOf(vs).http ?? []).indexOf(delegating[0])} to ${d.namespace ?? namespaceOf(vs)}/${d.name}; forkstack does not place fork routes inside delegates`,
    );
  }
}

/**
 * Whether a route is a fork's route: named `forkstack-<fork>[--n]` AND every match entry requires
 * the fork header to equal that fork. An app team's route that merely starts with `forkstack-` is
 * not one, and is never moved, replaced or removed.
 */
export function forkOfOwnedRoute(route: HttpRoute, headerName: string): string | undefined {
  const fork = forkOfRoute(route.name);
  if (fork === undefined || !isRouteOfFork(route.name, fork)) return undefined;
  const match = route.match ?? [];
  if (match.length === 0) return undefined;
  const ok = match.every((m) => {
    const cond = m.headers?.[headerName] as { exact?: unknown } | undefined;
    return cond !== undefined && cond.exact === fork;
  });
  return ok ? fork : undefined;
}

const isOwned = (r: HttpRoute, headerName: string) => forkOfOwnedRoute(r, headerName) !== undefined;
const isOwnedBy = (r: HttpRoute, forkId: string, headerName: string) => forkOfOwnedRoute(r, headerName) === forkId;

/** A VirtualService for a Service that has none: one default route to the shared Service. */
function createdVirtualService(service: ServiceId): VirtualService {
  const fqdn = serviceFqdn(service.name, service.namespace);
  return {
    apiVersion: VS_API_VERSION,
    kind: "VirtualService",
    metadata: {
      name: virtualServiceName(service.name),
      namespace: service.namespace,
      labels: { [LABELS.managedBy]: MANAGED_BY },
      // Marks it as ours to delete when its last fork leaves (an adopted one is only restored).
      annotations: { [LABELS.createdBy]: MANAGED_BY },
    },
    spec: { hosts: [fqdn], http: [{ name: "default", route: [{ destination: { host: fqdn } }] }] },
  };
}

/**
 * Points destinations at the shared Service to the fork's copy. The `subset` goes: subsets are
 * defined by a DestinationRule for the shared host, which the copy's host does not have (a route to
 * an undefined subset fails with 503). Destinations that became identical are merged, their weights added.
 */
function retarget(route: readonly RouteDestination[], shared: string, vsNamespace: string, targetHost: string): RouteDestination[] {
  const out: RouteDestination[] = [];
  for (const rd of route) {
    if (resolveHost(rd.destination.host, vsNamespace) !== shared) {
      out.push(rd);
      continue;
    }
    const { subset: _subset, ...destination } = rd.destination;
    const next: RouteDestination = { ...rd, destination: { ...destination, host: targetHost } };
    const same = out.find((o) => JSON.stringify(o.destination) === JSON.stringify(next.destination));
    if (same === undefined) out.push(next);
    else if (same.weight !== undefined || next.weight !== undefined) same.weight = (same.weight ?? 0) + (next.weight ?? 0);
  }
  return out;
}

/** The fork's variant of an app route: same route, only for requests with the fork header, to the copy. */
function forkVariant(app: HttpRoute, index: number, claim: ForkRouteClaim, vsNamespace: string, gatewayBound: boolean): HttpRoute | undefined {
  const header = { [claim.headerName]: { exact: claim.forkId } };
  // Match-level `gateways` override the VirtualService's list for that match (istio route.go,
  // sourceMatchHTTP). A fork route must apply to sidecars only: on a VirtualService bound to a
  // gateway, every fork match says `gateways: [mesh]`, or anyone on the internet could pick a
  // fork by sending the header. Entries an app scoped to gateways only do not apply to the mesh at
  // all, so they get no fork variant.
  const meshOnly = (m: MatchRequest): MatchRequest | undefined => {
    if (m.gateways !== undefined && m.gateways.length > 0 && !m.gateways.includes("mesh")) return undefined;
    return gatewayBound || m.gateways !== undefined ? { ...m, gateways: ["mesh"] } : m;
  };
  // Conditions inside one match entry are ANDed, entries are ORed (HTTPMatchRequest docs): add the
  // header to every entry so each original alternative still applies, but only to this fork.
  const entries = app.match !== undefined && app.match.length > 0 ? app.match : [{}];
  const match = entries
    .map((m) => meshOnly({ ...clone(m), headers: { ...(m.headers ?? {}), ...header } }))
    .filter((m): m is MatchRequest => m !== undefined);
  if (match.length === 0) return undefined;
  const variant: HttpRoute = { ...clone(app), name: routeName(claim.forkId, index), match };
  if (app.route !== undefined) {
    variant.route = retarget(clone(app.route), serviceFqdn(claim.service.name, claim.service.namespace), vsNamespace, claim.targetHost);
  }
  return variant;
}

/** The fork's own routes in a VirtualService as they stand, in order (for drift checks). */
export function routesOfFork(vs: VirtualService | undefined, forkId: string, headerName: string): HttpRoute[] {
  return (vs === undefined ? [] : specOf(vs).http ?? []).filter((r) => isOwnedBy(r, forkId, headerName));
}

/**
 * Adds (or replaces, idempotently) the fork's named routes. existing undefined → a new VS named
 * virtualServiceName(service.name) in the service's namespace, hosts [serviceFqdn], annotation
 * LABELS.createdBy = MANAGED_BY, label managed-by, one default route `default` → the shared FQDN.
 * Adopted VS: app-team routes/fields untouched; for EACH non-fork http route R (in order) the fork
 * gets a route named routeName(forkId, i) = R with every match condition AND the fork header,
 * destinations at the shared service → targetHost, everything else of R kept. All fork routes sit
 * above the non-fork routes; among forks existing order is kept, a new fork goes first (where the
 * live write inserts it, fork/routePatch.ts: index 0 is above every app route whatever other forks
 * write meanwhile; among forks order does not matter, each matches only its own header). Never
 * mutates inputs.
 */
export function addForkRoutes(existing: VirtualService | undefined, claim: ForkRouteClaim): VirtualService {
  const vs = existing === undefined ? createdVirtualService(claim.service) : clone(existing);
  checkNoDelegate(vs);
  const spec = specOf(vs);
  const http = spec.http ?? [];
  const gatewayBound = (spec.gateways ?? []).some((g) => g !== "mesh");
  const appRoutes = http.filter((r) => !isOwned(r, claim.headerName));
  const forkRoutes = http.filter((r) => isOwned(r, claim.headerName));
  const variants = appRoutes.length > 0 ? appRoutes.map((r, i) => forkVariant(r, i, claim, namespaceOf(vs), gatewayBound)) : [forkVariant({}, 0, claim, namespaceOf(vs), gatewayBound)];
  const mine = variants.filter((r): r is HttpRoute => r !== undefined);
  // An adopted VirtualService without http routes (tcp/tls only) still gets a header route, sending
  // only the fork's requests to the copy.
  if (appRoutes.length === 0) mine[0].route = [{ destination: { host: claim.targetHost } }];
  const taken = appRoutes.find((r) => mine.some((m) => m.name === r.name));
  if (taken !== undefined) {
    throw new RouteRefusal(`VirtualService ${refOf(vs)} has an app route named ${taken.name}, the name of fork "${claim.forkId}"'s route; rename that route (names starting with forkstack- are reserved)`);
  }

  const merged: HttpRoute[] = [];
  let placed = false;
  for (const r of forkRoutes) {
    if (!isOwnedBy(r, claim.forkId, claim.headerName)) merged.push(r);
    else if (!placed) {
      merged.push(...mine);
      placed = true;
    }
  }
  if (!placed) merged.unshift(...mine);
  spec.http = [...merged, ...appRoutes];
  vs.spec = spec;
  return vs;
}

/**
 * Removes the fork's routes. { action: "delete" } when no fork routes remain AND the VS carries the
 * createdBy annotation; { action: "update", virtualService } otherwise (an adopted VS ends exactly
 * as it was before forks, byte-for-byte in spec); { action: "none" } when the fork had no routes.
 */
export function removeForkRoutes(
  existing: VirtualService,
  forkId: string,
  headerName: string = DEFAULTS.headerName,
): { action: "delete" } | { action: "update"; virtualService: VirtualService } | { action: "none" } {
  const http = specOf(existing).http ?? [];
  if (!http.some((r) => isOwnedBy(r, forkId, headerName))) return { action: "none" };
  const remaining = http.filter((r) => !isOwnedBy(r, forkId, headerName));
  const created = existing.metadata.annotations?.[LABELS.createdBy] === MANAGED_BY;
  if (created && !remaining.some((r) => isOwned(r, headerName))) return { action: "delete" };
  const vs = clone(existing);
  const spec = specOf(vs);
  // The tcp/tls-only case above added `http`; take it out again rather than leave `http: []`.
  if (remaining.length === 0) delete spec.http;
  else spec.http = clone(remaining);
  vs.spec = spec;
  return { action: "update", virtualService: vs };
}

/** Forks present in a VS (from route names), in route order. */
export function forksIn(vs: VirtualService, headerName: string = DEFAULTS.headerName): string[] {
  const forks: string[] = [];
  for (const r of specOf(vs).http ?? []) {
    const fork = forkOfOwnedRoute(r, headerName);
    if (fork !== undefined && !forks.includes(fork)) forks.push(fork);
  }
  return forks;
}

/**
 * Where the fork's routes go when the host's VirtualService delegates: the one delegate all of its
 * http routes name, or undefined when it does not delegate. Refuses (RouteRefusal) a VirtualService
 * that mixes delegating and direct routes, or delegates to more than one: fork routes placed above
 * its routes, or in one delegate, would change which route wins for the fork's requests.
 */
export function delegateOf(vs: VirtualService | undefined): { name: string; namespace: string } | undefined {
  const http = vs === undefined ? [] : specOf(vs).http ?? [];
  const delegating = http.filter((r) => r.delegate !== undefined);
  if (delegating.length === 0) return undefined;
  const refs = [...new Set(delegating.map((r) => {
    const d = r.delegate as { name?: string; namespace?: string };
    return `${d.namespace ?? namespaceOf(vs!)}/${d.name}`;
  }))];
  const direct = http.filter((r) => r.delegate === undefined && forkOfRoute(r.name) === undefined);
  if (direct.length > 0 || refs.length > 1) {
    throw new RouteRefusal(
      `VirtualService ${refOf(vs!)} ${refs.length > 1 ? `delegates to ${refs.join(" and ")}` : `mixes routes delegated to ${refs[0]} with routes of its own`}; forkstack places fork routes in one delegate only when every route delegates there`,
    );
  }
  // A delegate's routes apply wherever the root is bound; whether a match-level `gateways` in a
  // delegate survives the merge with the root's match is not something to bet isolation on.
  if ((specOf(vs!).gateways ?? []).some((g) => g !== "mesh")) {
    throw new RouteRefusal(`VirtualService ${refOf(vs!)} is bound to gateways ${JSON.stringify(specOf(vs!).gateways)} and delegates to ${refs[0]}; a fork route in the delegate could be picked from outside the mesh`);
  }
  const [namespace, name] = refs[0].split("/");
  return { name, namespace };
}
