/**
 * Every name forkstack makes, in one place: Kubernetes names of copies, labels, route names, Mapping
 * names, fork hosts and URLs. Names that could grow past a Kubernetes limit are shortened
 * deterministically (a prefix plus a hash of the whole), never rejected, so any valid service name
 * and fork id yield valid objects.
 *
 * Limits: Service names are DNS-1035 labels of at most 63 characters
 * (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#rfc-1035-label-names);
 * label values are at most 63 characters
 * (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set).
 */
import { createHash } from "crypto";
import { HostScheme } from "./config/common";

export const MAX_LABEL = 63;

/** Labels and annotations forkstack puts on what it creates. */
export const LABELS = {
  /** On every object a fork creates (and the copy's pods): the fork id. */
  fork: "forkstack.dev/fork",
  managedBy: "app.kubernetes.io/managed-by",
  /** On copies: the shared object they were copied from, `namespace.name` (see copiedFromValue). */
  copiedFrom: "forkstack.dev/copied-from",
  /** On copies and Mappings: when the fork counts as expired (ISO 8601). */
  expiresAt: "forkstack.dev/expires-at",
  /** On everything a fork creates: `project/stack` of the fork stack that owns it (one fork id, one stack). */
  stack: "forkstack.dev/stack",
  /** On a VirtualService forkstack created (not adopted): delete it when its last fork leaves. */
  createdBy: "forkstack.dev/created-by",
} as const;

export const MANAGED_BY = "forkstack";

/**
 * Pod labels that enrol a pod in the mesh and select nobody's traffic: a copy keeps them as they are
 * so it gets its sidecar like the shared pods (https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/#controlling-the-injection-policy),
 * and the fork policy admits them unchanged for the same reason. Every other pod label value of a copy ends in
 * `-forkstack-<fork>` (FORK_LABEL_SUFFIX, forkLabelValue).
 */
export const MESH_POD_LABELS: readonly string[] = ["sidecar.istio.io/inject", "istio.io/rev"];

/** Every route forkstack owns in a VirtualService starts with this; nothing else is touched. */
export const ROUTE_PREFIX = "forkstack-";

/** Short, stable hash of the whole input. */
export function shortHash(text: string, length = 8): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/**
 * Joins parts with "-" into a DNS label of at most `max` characters. When too long, keeps a prefix
 * and appends `-<hash of the full name>`, so distinct inputs stay distinct.
 */
export function boundedName(parts: readonly string[], max = MAX_LABEL): string {
  const full = parts.filter((p) => p !== "").join("-");
  if (full.length <= max) return full;
  const hash = shortHash(full);
  const head = full.slice(0, max - hash.length - 1).replace(/-+$/, "");
  return `${head}-${hash}`;
}

/**
 * `<base><separator><fork>` in at most `max` characters, always ending in `<separator><fork>`: when
 * too long, the base is cut and a hash of the whole inserted (`<head>-<hash><separator><fork>`), so
 * distinct inputs stay distinct. The separator is `-` for names (copyName) and FORK_LABEL_SUFFIX for
 * label values (forkLabelValue). The admission policies (forkPolicy.ts) check that suffix on the server.
 * A fork id is at most 30 characters (config MAX_FORK_ID_LENGTH), which leaves the head room.
 */
export function forkSuffixed(base: string, forkId: string, max = MAX_LABEL, separator = "-"): string {
  const tail = `${separator}${forkId}`;
  const full = `${base}${tail}`;
  if (full.length <= max) return full;
  const hash = shortHash(full);
  const head = base.slice(0, max - tail.length - hash.length - 1).replace(/[^A-Za-z0-9]+$/, "");
  // A hash is hex, so the result still starts with an alphanumeric when nothing of the base fits.
  return head === "" ? `${hash}${tail}` : `${head}-${hash}${tail}`;
}

/**
 * Kubernetes name of a fork's copy of a Service or Deployment: `<name>-<fork>`, at most 63, ending in
 * `-<fork>` (the fork policy checks `name.endsWith('-' + fork)`). Names keep this short suffix;
 * pod label values end in FORK_LABEL_SUFFIX instead (forkLabelValue).
 */
export function copyName(name: string, forkId: string): string {
  return forkSuffixed(name, forkId);
}

/**
 * What every pod label value of a copy ends in, before the fork id: the admission policy
 * (forkPolicy.ts) checks `value.endsWith(FORK_LABEL_SUFFIX + fork)` for every pod label of a copy
 * but the mesh ones (MESH_POD_LABELS). A bare `-<fork>` would be forgeable: a shared selector value
 * such as `web-api` already ends in `-api`, so whoever owns fork `api` could give its pods that value
 * and be selected by the shared Service. No app team's label value plausibly ends in `-forkstack-<fork>`.
 */
export const FORK_LABEL_SUFFIX = "-forkstack-";

/**
 * The value a copy's pods carry for a label of the shared pods, so no shared selector matches them
 * (selectors are equality-only): `<value>-forkstack-<fork>`, e.g. `api` → `api-forkstack-alice`.
 * At most 63 characters and a valid label value, always ending in `-forkstack-<fork>`; when too long,
 * `<head>-<hash>-forkstack-<fork>` (see forkSuffixed).
 */
export function forkLabelValue(sharedValue: string, forkId: string): string {
  // Label values must start with an alphanumeric character (a fork id ends with one); an empty
  // value still gets a head, so the result is `fork-forkstack-<fork>` and ends like every other.
  const base = sharedValue.replace(/^[^A-Za-z0-9]+/, "");
  return forkSuffixed(base === "" ? "fork" : base, forkId, MAX_LABEL, FORK_LABEL_SUFFIX);
}

/**
 * Value of the LABELS.copiedFrom label: `namespace.name` (label values cannot contain "/"), at most
 * 63 characters, shortened with a hash of the full value like boundedName.
 */
export function copiedFromValue(namespace: string, name: string): string {
  const full = `${namespace}.${name}`;
  if (full.length <= MAX_LABEL) return full;
  const hash = shortHash(full);
  return `${full.slice(0, MAX_LABEL - hash.length - 1).replace(/[^A-Za-z0-9]+$/, "")}-${hash}`;
}

export function serviceFqdn(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

/** Name of a fork's route in a VirtualService; `index` > 0 for the fork's variants of further app routes. */
export function routeName(forkId: string, index = 0): string {
  return index === 0 ? `${ROUTE_PREFIX}${forkId}` : `${ROUTE_PREFIX}${forkId}--${index}`;
}

const RETIRED = "--gone";

/**
 * The name a leaving fork gives its route before it is removed (fork/routePatch.ts): still the
 * fork's route (`forkstack-<fork>--…`), marked so that any fork leaving at the same moment may
 * remove it with its own.
 */
export function retiredRouteName(name: string): string {
  return name.endsWith(RETIRED) ? name : `${name}${RETIRED}`;
}

export function isRetiredRouteName(name: string | undefined): boolean {
  return name !== undefined && name.endsWith(RETIRED);
}

/** Whether a VirtualService route belongs to this fork (fork ids contain no "--"). */
export function isRouteOfFork(name: string | undefined, forkId: string): boolean {
  const base = routeName(forkId);
  return name === base || (name !== undefined && name.startsWith(`${base}--`));
}

/** Whether a route is any fork's route. */
export function isForkRoute(name: string | undefined): boolean {
  return name !== undefined && name.startsWith(ROUTE_PREFIX);
}

/** The fork id a route name belongs to, or undefined for routes forkstack does not own. */
export function forkOfRoute(name: string | undefined): string | undefined {
  if (!isForkRoute(name)) return undefined;
  return name!.slice(ROUTE_PREFIX.length).split("--")[0];
}

/**
 * The Lease forks of a Service take turns with to write its routes (fork/routeTurn.ts), in the
 * Service's namespace. A Service name is a DNS-1035 label (≤ 63), so this is a valid Lease name.
 */
export const TURN_LEASE_PREFIX = "forkstack-routes.";
export function turnLeaseName(service: string): string {
  return `${TURN_LEASE_PREFIX}${service}`;
}

/**
 * A writer's place in the queue for a Service's turn (fork/routeTurn.ts): the turn Lease's name, a
 * dot, and the writer (`<fork>/<random>` → `<fork>.<random>`). Within the turn prefix, so the
 * fork role's Lease policy covers it; never a turn Lease itself, as a Service name has no dot.
 */
export function turnTicketName(service: string, holder: string): string {
  return `${turnLeaseName(service)}.${holder.toLowerCase().replace(/\//g, ".").replace(/[^a-z0-9.-]/g, "-")}`.slice(0, 253);
}

/** Name of a VirtualService forkstack creates for a shared Service that has none. */
export function virtualServiceName(service: string): string {
  return boundedName(["forkstack", service]);
}

/** A host as a name fragment: `shop.dev.example.com` → `shop-dev-example-com`. */
export function hostSlug(host: string): string {
  return host.replace(/\./g, "-");
}

/**
 * A DNS name (a host or a `*.` wildcard) as a logical-name fragment: `*.shop.dev.example.com` →
 * `wildcard-shop-dev-example-com`, so a wildcard and its host never collide.
 */
export function dnsNameSlug(name: string): string {
  return name.startsWith("*.") ? `wildcard-${hostSlug(name.slice(2))}` : hostSlug(name);
}

/** The public host of a fork for an upstream host. */
export function forkHost(forkId: string, upstreamHost: string, scheme: HostScheme): string {
  if (scheme === "subdomain") return `${forkId}.${upstreamHost}`;
  const [first, ...rest] = upstreamHost.split(".");
  return [`${forkId}--${first}`, ...rest].join(".");
}

/** The wildcard that covers every fork host of an upstream, for DNS records and certificates. */
export function wildcardHost(upstreamHost: string, scheme: HostScheme): string {
  if (scheme === "subdomain") return `*.${upstreamHost}`;
  const [, ...rest] = upstreamHost.split(".");
  return `*.${rest.join(".")}`;
}

export function forkUrl(forkId: string, upstreamHost: string, scheme: HostScheme): string {
  return `https://${forkHost(forkId, upstreamHost, scheme)}/`;
}

/** Kubernetes name of the Mapping of a fork (or of the shared host, forkId undefined) for an upstream. */
export function mappingName(upstreamHost: string, forkId?: string): string {
  return forkId === undefined ? boundedName(["shared", hostSlug(upstreamHost)]) : boundedName(["fork", forkId, hostSlug(upstreamHost)]);
}

/** Kubernetes name of the Emissary Host for an upstream's shared or wildcard fork host. */
export function hostResourceName(upstreamHost: string, wildcard: boolean): string {
  return boundedName([wildcard ? "forks" : "shared", hostSlug(upstreamHost)]);
}

/** Name of the TLS Secret / certificate for an upstream (cert-manager mode). */
export function tlsSecretName(upstreamHost: string): string {
  return boundedName(["tls", hostSlug(upstreamHost)]);
}
