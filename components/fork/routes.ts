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
import { forkOfRoute, isForkRoute, isRouteOfFork, LABELS, MANAGED_BY, routeName, serviceFqdn, virtualServiceName } from "../naming";

export interface ForkRouteClaim {
  forkId: string;
  /** The request header that carries the fork id (lowercase: Istio header matches require it). */
  headerName: string;
  /** The shared Service whose VirtualService gets the routes. */
  service: { name: string; namespace: string };
  /** FQDN of the fork's copy */
  targetHost: string;
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

/**
 * Whether a mesh VirtualService (no gateways, or gateways containing "mesh") covers the Service: a
 * host equal to name, name.ns, name.ns.svc or name.ns.svc.cluster.local (short names resolve in the
 * VS's own namespace; https://istio.io/latest/docs/reference/config/networking/virtual-service/#VirtualService).
 * Wildcard hosts do not count: an exact host takes precedence over a wildcard for that host, so a
 * VirtualService forkstack creates for the exact name does not conflict with, nor disturb, a
 * namespace-wide wildcard one.
 */
export function coversService(vs: VirtualService, service: ServiceId): boolean {
  if (!isMesh(vs)) return false;
  const fqdn = serviceFqdn(service.name, service.namespace);
  return (specOf(vs).hosts ?? []).some((h) => resolveHost(h, namespaceOf(vs)) === fqdn);
}

/**
 * The one VirtualService of `list` (all namespaces) that covers the service; undefined if none;
 * throws an Error naming both when two cover it (Istio honours only one: IST0109).
 */
export function findVirtualService(list: readonly VirtualService[], service: ServiceId): VirtualService | undefined {
  const covering = list.filter((vs) => coversService(vs, service));
  if (covering.length > 1) {
    const names = covering.map((vs) => `${namespaceOf(vs)}/${vs.metadata.name}`);
    throw new Error(`VirtualServices ${names.join(" and ")} both cover ${serviceFqdn(service.name, service.namespace)}`);
  }
  return covering[0];
}

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
function forkVariant(app: HttpRoute, index: number, claim: ForkRouteClaim, vsNamespace: string): HttpRoute {
  const header = { [claim.headerName]: { exact: claim.forkId } };
  // Conditions inside one match entry are ANDed, entries are ORed (HTTPMatchRequest docs): add the
  // header to every entry so each original alternative still applies, but only to this fork.
  const match: MatchRequest[] =
    app.match !== undefined && app.match.length > 0 ? app.match.map((m) => ({ ...m, headers: { ...(m.headers ?? {}), ...header } })) : [{ headers: header }];
  const variant: HttpRoute = { ...clone(app), name: routeName(claim.forkId, index), match };
  if (app.route !== undefined) {
    variant.route = retarget(clone(app.route), serviceFqdn(claim.service.name, claim.service.namespace), vsNamespace, claim.targetHost);
  }
  return variant;
}

/**
 * Adds (or replaces, idempotently) the fork's named routes. existing undefined → a new VS named
 * virtualServiceName(service.name) in the service's namespace, hosts [serviceFqdn], annotation
 * LABELS.createdBy = MANAGED_BY, label managed-by, one default route `default` → the shared FQDN.
 * Adopted VS: app-team routes/fields untouched; for EACH non-fork http route R (in order) the fork
 * gets a route named routeName(forkId, i) = R with every match condition AND the fork header,
 * destinations at the shared service → targetHost, everything else of R kept. All fork routes sit
 * above the non-fork routes; among forks existing order is kept, a new fork goes last. Never
 * mutates inputs.
 */
export function addForkRoutes(existing: VirtualService | undefined, claim: ForkRouteClaim): VirtualService {
  const vs = existing === undefined ? createdVirtualService(claim.service) : clone(existing);
  const spec = specOf(vs);
  const http = spec.http ?? [];
  const appRoutes = http.filter((r) => !isForkRoute(r.name));
  const forkRoutes = http.filter((r) => isForkRoute(r.name));
  const mine = appRoutes.length > 0 ? appRoutes.map((r, i) => forkVariant(r, i, claim, namespaceOf(vs))) : [forkVariant({}, 0, claim, namespaceOf(vs))];
  // An adopted VirtualService without http routes (tcp/tls only) still gets a header route, sending
  // only the fork's requests to the copy.
  if (appRoutes.length === 0) mine[0].route = [{ destination: { host: claim.targetHost } }];

  const merged: HttpRoute[] = [];
  let placed = false;
  for (const r of forkRoutes) {
    if (!isRouteOfFork(r.name, claim.forkId)) merged.push(r);
    else if (!placed) {
      merged.push(...mine);
      placed = true;
    }
  }
  if (!placed) merged.push(...mine);
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
): { action: "delete" } | { action: "update"; virtualService: VirtualService } | { action: "none" } {
  const http = specOf(existing).http ?? [];
  if (!http.some((r) => isRouteOfFork(r.name, forkId))) return { action: "none" };
  const remaining = http.filter((r) => !isRouteOfFork(r.name, forkId));
  const created = existing.metadata.annotations?.[LABELS.createdBy] === MANAGED_BY;
  if (created && !remaining.some((r) => isForkRoute(r.name))) return { action: "delete" };
  const vs = clone(existing);
  const spec = specOf(vs);
  // The tcp/tls-only case above added `http`; take it out again rather than leave `http: []`.
  if (remaining.length === 0) delete spec.http;
  else spec.http = clone(remaining);
  vs.spec = spec;
  return { action: "update", virtualService: vs };
}

/** Forks present in a VS (from route names), in route order. */
export function forksIn(vs: VirtualService): string[] {
  const forks: string[] = [];
  for (const r of specOf(vs).http ?? []) {
    const fork = forkOfRoute(r.name);
    if (fork !== undefined && !forks.includes(fork)) forks.push(fork);
  }
  return forks;
}
