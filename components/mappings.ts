/**
 * The gateway entries (Emissary `Mapping`s, getambassador.io/v3alpha1) of the shared host and of a
 * fork, as plain objects. The base stack creates one shared Mapping per upstream; each fork stack
 * creates one fork Mapping per upstream. Field shapes follow the v3alpha1 CRD Emissary 4.x ships
 * (vendored for tests in test/fixtures/crds/emissary-v3alpha1.yaml).
 *
 * Why no `precedence`: Emissary sorts Mappings by how constrained they are and `precedence` only
 * breaks ties between Mappings that could match the same request; the docs advise it only for
 * `regex_headers`/`host_regex` (https://www.getambassador.io/docs/latest/topics/using/mappings/,
 * "Mapping Evaluation Order"). A Mapping's `hostname` must match the request's `:authority`, and the
 * shared Mapping (`shop.dev.example.com`) and a fork's (`alice.shop.dev.example.com` or
 * `alice--shop.dev.example.com`) use exact, different hostnames, so no request matches both.
 */
import type { KubeObject } from "./kube/objects";
import { DEFAULTS, formatServiceRef, HostScheme, ServiceRef, Upstream } from "./config";
import { ConfigError } from "./errors";
import { forkHost, LABELS, MANAGED_BY, mappingName } from "./naming";

export const MAPPING_API_VERSION = "getambassador.io/v3alpha1";

/** Where the gateway runs and which header carries the fork id (from the base stack's outputs). */
export interface GatewayContext {
  /** Scopes our Mappings to one Emissary install (the CRD: "which Ambassador instances should pay attention to this resource"). */
  ambassadorId: string;
  /** Namespace the Mappings live in (the gateway's). */
  namespace: string;
  /** The request header that carries the fork id, e.g. `x-fork-identifier`. */
  headerName: string;
}

/** `timeout_ms` of every Mapping; overrides the Module's `cluster_request_timeout_ms` (v3alpha1 CRD). */
export const MAPPING_TIMEOUT_MS = DEFAULTS.mappingTimeoutMs;

/**
 * Settings both kinds of Mapping share, so a fork behaves like the shared host apart from its header.
 * `allow_upgrade: [websocket]` lets WebSocket upgrades through (the CRD marks `use_websocket`
 * deprecated in its favour), so a fork's live-reload and socket features work as on the shared host.
 */
function commonSpec(upstream: Upstream, hostname: string, service: ServiceRef, ctx: GatewayContext) {
  return {
    ambassador_id: [ctx.ambassadorId],
    // `hostname`, not the deprecated `host` (the v3alpha1 CRD: "If both Host and Hostname are set ...
    // Host is ignored"). An exact name, not a glob.
    hostname,
    prefix: "/",
    // Emissary's service syntax: `[scheme://]name[.namespace][:port]`.
    service: formatServiceRef(service),
    allow_upgrade: ["websocket"],
    timeout_ms: MAPPING_TIMEOUT_MS,
  };
}

/**
 * The shared host's Mapping: hostname = upstream.host, prefix "/", service = "name.namespace:port",
 * remove_request_headers: [headerName] so outside clients cannot steer shared traffic into a fork.
 *
 * https://documentation.gravitee.io/edge-stack/technical-reference/headers/remove-request-headers — a
 * Mapping's own list replaces the `ambassador` Module's `defaults.httpmapping` list, so anything an
 * operator removes globally must be repeated here (see DESIGN.md).
 */
export function sharedMapping(upstream: Upstream, ctx: GatewayContext): KubeObject {
  return {
    apiVersion: MAPPING_API_VERSION,
    kind: "Mapping",
    metadata: {
      name: mappingName(upstream.host),
      namespace: ctx.namespace,
      labels: { [LABELS.managedBy]: MANAGED_BY },
    },
    spec: {
      ...commonSpec(upstream, upstream.host, upstream.service, ctx),
      remove_request_headers: [ctx.headerName],
    },
  };
}

export interface ForkMappingArgs {
  upstream: Upstream;
  forkId: string;
  /** Extra request headers the gateway adds for this fork (`forkstack:fork.headers`). */
  headers: Readonly<Record<string, string>>;
  /** The fork's copy of the entry Service when it forked it, else the shared entry Service. */
  target: ServiceRef;
  scheme: HostScheme;
  ctx: GatewayContext;
  /** ISO 8601; recorded as an annotation so a reaper can find expired forks. */
  expiresAt?: string;
  /** `project/stack` of the fork stack that owns the Mapping; recorded as LABELS.stack. */
  owner?: string;
}

/**
 * A fork's Mapping for one upstream: hostname = forkHost(forkId, upstream.host, scheme); sets the
 * fork header (and the fork's extra headers) with `append: false`, so a value the client sent is
 * replaced rather than joined ("append" defaults to true:
 * https://documentation.gravitee.io/edge-stack/technical-reference/headers/add-request-headers) and a
 * client can never switch itself into another fork.
 *
 * Throws ConfigError when the fork's extra headers name the fork header itself.
 */
export function forkMapping(args: ForkMappingArgs): KubeObject {
  const { upstream, forkId, headers, target, scheme, ctx, expiresAt, owner } = args;
  const add: Record<string, { value: string; append: boolean }> = {};
  for (const [name, value] of Object.entries(headers)) {
    // Header names are case-insensitive (RFC 9110 §5.1).
    if (name.toLowerCase() === ctx.headerName.toLowerCase()) {
      throw new ConfigError(
        `forkstack:fork.headers.${name}`,
        value,
        "would overwrite the fork header the gateway sets",
        `remove it; the gateway sets ${ctx.headerName}: ${forkId} itself`,
      );
    }
    add[name] = { value, append: false };
  }
  add[ctx.headerName] = { value: forkId, append: false };
  const metadata: KubeObject["metadata"] = {
    name: mappingName(upstream.host, forkId),
    namespace: ctx.namespace,
    labels: { [LABELS.fork]: forkId, [LABELS.managedBy]: MANAGED_BY },
  };
  const annotations: Record<string, string> = {};
  if (owner !== undefined) annotations[LABELS.stack] = owner;
  if (expiresAt !== undefined) annotations[LABELS.expiresAt] = expiresAt;
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return {
    apiVersion: MAPPING_API_VERSION,
    kind: "Mapping",
    metadata,
    spec: {
      ...commonSpec(upstream, forkHost(forkId, upstream.host, scheme), target, ctx),
      add_request_headers: add,
    },
  };
}
