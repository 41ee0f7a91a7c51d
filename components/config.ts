/**
 * The stack configuration contract (see ../shared/DESIGN.md, "Contracts"), parsed and validated as
 * plain data. Every function here is pure: it takes what `pulumi.Config` (or a YAML file, in the
 * offline render) holds and returns typed values with defaults applied, or throws a ConfigError
 * naming the key, the value and the fix. Nothing is created before these checks pass.
 */
import { ConfigError } from "./errors";
import type { ForkAccessConfig, ServiceAccountRule } from "./forkPolicy";

/** Config keys live in the `forkstack` namespace; the values below are keyed without the prefix. */
export const CONFIG_NAMESPACE = "forkstack";

/** Pinned upstream versions. Change them here (or per stack in config) after reading the release notes. */
export const DEFAULTS = {
  headerName: "x-fork-identifier",
  hostScheme: "subdomain" as HostScheme,
  /**
   * https://istio.io/latest/news/releases/1.31.x/announcing-1.31.1/ — 1.31.1 (2026-09-21) is the
   * current 1.31 patch; 1.31 "is officially supported on Kubernetes versions 1.32 to 1.36"
   * (https://istio.io/latest/news/releases/1.31.x/announcing-1.31/).
   */
  istioVersion: "1.31.1",
  /**
   * Istio leaves Google Cloud in December 2026 (istio/istio#61467, istio.io blog "retirement of
   * GCP"): the Helm repository on storage.googleapis.com and the images on gcr.io/istio-release go
   * away. Charts stay at this HTTP repository and at oci://ghcr.io/istio/release/charts/<chart>.
   */
  istioChartRepo: "https://blob.istio.io/istio-release/charts",
  /** Images from 1.31 on are published only on Docker Hub; given to the charts as `global.hub`. */
  istioHub: "docker.io/istio",
  /** Emissary 4.x charts ship only as OCI artifacts on GHCR (chart version == app version). */
  emissaryVersion: "4.1.0",
  emissaryCrdsChart: "oci://ghcr.io/emissary-ingress/emissary-crds-chart",
  emissaryChart: "oci://ghcr.io/emissary-ingress/emissary-ingress",
  ambassadorId: "fork-proxy-ambassador",
  gatewayNamespace: "emissary",
  tlsMode: "acm" as TlsMode,
  eks: {
    /**
     * Inside Istio 1.31's supported range, 1.32 to 1.36 (see istioVersion), and in EKS standard
     * support through 2027 (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
     */
    version: "1.35",
    instanceType: "t3.large",
    desiredSize: 3,
    minSize: 2,
    maxSize: 6,
    vpcCidr: "10.0.0.0/16",
    zones: 2,
  },
  replicas: 1,
  /** The base stack's default limit on a fork copy's replicas: forks are for trying, not for load. */
  maxForkReplicas: 3,
  mappingTimeoutMs: 30000,
  /** The Kubernetes group of fork runners (RBAC and admission policies). */
  forkGroup: "forkstack-forkers",
} as const;

export type HostScheme = "subdomain" | "flat";
export type TlsMode = "acm" | "cert-manager";

/** An in-cluster Service reference, written `name.namespace:port` in config. */
export interface ServiceRef {
  readonly name: string;
  readonly namespace: string;
  readonly port: number;
}

/** An entry point of the shared environment: a public host and the Service it enters. */
export interface Upstream {
  /** The shared public host, e.g. `shop.dev.example.com`; forks get `<fork>.<host>`. */
  readonly host: string;
  /** The in-cluster entry Service. */
  readonly service: ServiceRef;
}

export interface EksOptions {
  readonly version: string;
  readonly instanceType: string;
  readonly desiredSize: number;
  readonly minSize: number;
  readonly maxSize: number;
  readonly vpcCidr: string;
  /** How many availability zones get a public and a private subnet (at least 2). */
  readonly zones: number;
}

export interface ClusterConfig {
  /** `eks` creates VPC + EKS + node group; `kubeconfig` adopts an existing cluster. */
  readonly mode: "eks" | "kubeconfig";
  /** kubeconfig mode: the context to use; default the kubeconfig's current context. */
  readonly context?: string;
  readonly eks: EksOptions;
}

export interface BaseConfig {
  readonly cluster: ClusterConfig;
  /** The Route53 hosted zone that holds the wildcard records, e.g. `dev.example.com`. */
  readonly domain: string;
  /** The request header that carries the fork id. */
  readonly headerName: string;
  readonly upstreams: readonly Upstream[];
  /** `subdomain`: `alice.shop.dev.example.com`; `flat`: `alice--shop.dev.example.com`. */
  readonly hostScheme: HostScheme;
  readonly istio: {
    readonly version: string;
    /** `https://…` Helm repository or `oci://…` registry path holding the `base` and `istiod` charts. */
    readonly chartRepo: string;
    /** The image registry the charts pull from (`global.hub`). */
    readonly hub: string;
    /** false: Istio is already installed (by the platform team); forkstack installs no chart. */
    readonly install: boolean;
  };
  readonly emissary: {
    /** false: Emissary and its CRDs already run in `namespace`; forkstack creates neither. */
    readonly install: boolean;
    readonly version: string;
    readonly ambassadorId: string;
    readonly namespace: string;
    readonly crdsChart: string;
    readonly chart: string;
  };
  readonly tls: { readonly mode: TlsMode; readonly email?: string };
  /** Deploy the sample shop (examples/) into the shared cluster. */
  readonly sampleApp: boolean;
  /** The most replicas a fork's copy may run. @default 3 */
  readonly maxForkReplicas: number;
  /** What the cluster's capacity costs, for the price of a fork in `forkctl`'s report; undefined: no price shown. */
  readonly pricing?: Pricing;
  /** Who may run forks, and where (components/forkPolicy.ts). */
  readonly forkAccess: ForkAccessConfig;
}

/** Prices of requested capacity, in `currency` per hour. */
export interface Pricing {
  readonly vcpuHour: number;
  readonly gibHour: number;
  /** ISO 4217 code, e.g. USD. @default USD */
  readonly currency: string;
}

export interface ForkService {
  /** The shared Service to fork. */
  readonly name: string;
  readonly namespace: string;
  /**
   * The shared Deployment behind it; default: the Service's name, or, when no Deployment has that
   * name, the one Deployment whose pods the Service selects (decided by the plan).
   */
  readonly deployment: string;
  /** Whether `deployment` was written in config (false: the default above). */
  readonly deploymentGiven?: boolean;
  /** Replaces the first container's image. */
  readonly image?: string;
  /** Merged into the first container's env. */
  readonly env: Readonly<Record<string, string>>;
  readonly replicas: number;
}

export interface ForkConfig {
  /** Lowercase DNS label: the URL label and the route key. */
  readonly id: string;
  readonly services: readonly ForkService[];
  /** Extra request headers the gateway adds for this fork. */
  readonly headers: Readonly<Record<string, string>>;
  /** How long after a `pulumi up` the fork counts as expired, e.g. `72h`; undefined: never. */
  readonly ttl?: string;
  /**
   * When the fork expires (ISO 8601 UTC), fixed: what `forkctl` stamps when it creates a fork, so
   * later updates keep it. Given together with `ttl`, it wins; `ttl` then only documents intent.
   */
  readonly expiresAt?: string;
}

/** What a fork stack needs to know of its base: the base stack's outputs (see index.ts). */
export interface BaseOutputs {
  readonly headerName: string;
  readonly ambassadorId: string;
  readonly gatewayNamespace: string;
  readonly upstreams: readonly Upstream[];
  readonly hostScheme: HostScheme;
  readonly domain: string;
  /** The most replicas a fork's copy may run (`forkstack:maxForkReplicas` of the base). */
  readonly maxForkReplicas: number;
  /** Namespaces forks may copy into, and how copies there may run (`forkstack:forkAccess.namespaces`). */
  readonly forkNamespaces: Readonly<Record<string, ServiceAccountRule>>;
}

// --- validation helpers -------------------------------------------------------------------------

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** A lowercase HTTP header name (RFC 9110 token). */
export const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
// https://github.com/distribution/reference/blob/main/regexp.go (simplified: lowercase repository,
// optional registry with port, optional tag, optional sha256 digest).
const IMAGE =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const TTL = /^(\d+)(m|h|d)$/;

/** The hard ceiling on forkstack:maxForkReplicas. */
export const MAX_REPLICAS = 20;

/** The longest fork id: leaves room in every name and hostname label built from it. */
export const MAX_FORK_ID_LENGTH = 30;

const key = (name: string) => `${CONFIG_NAMESPACE}:${name}`;

export function isDnsName(value: string): boolean {
  return value.length <= 253 && value.split(".").every((l) => l.length <= 63 && DNS_LABEL.test(l)) && value.includes(".");
}

function asObject(field: string, value: unknown, fix: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(field, value, "is not an object", fix);
  }
  return value as Record<string, unknown>;
}

function optionalString(field: string, value: unknown, fix: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "") throw new ConfigError(field, value, "is not a non-empty string", fix);
  return value;
}

function optionalPositiveInt(field: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
    throw new ConfigError(field, value, `is not a whole number of at least ${min}`, `set it to e.g. ${fallback}`);
  }
  return n;
}

/**
 * A map of names to string values, exactly: `pulumi up` hands the program config as JSON, so a YAML
 * number has already lost its text (`1.10` arrives as 1.1) and a boolean its spelling (`yes`, `on`).
 * Anything but a string is refused with the quoted form to write.
 */
function stringMap(field: string, value: unknown, keyPattern: RegExp, keyFix: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  const obj = asObject(field, value, `write it as a map of name: value`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!keyPattern.test(k)) throw new ConfigError(`${field}.${k}`, k, "is not a valid name", keyFix);
    if (typeof v === "number" || typeof v === "boolean") {
      throw new ConfigError(`${field}.${k}`, v, `is a YAML ${typeof v}, not a string (its original text may already be lost, e.g. 1.10 becomes 1.1)`, `quote it as you mean it, e.g. ${k}: "${String(v)}"`);
    }
    if (typeof v !== "string") throw new ConfigError(`${field}.${k}`, v, "is not a string", `quote the value, e.g. ${k}: "on"`);
    out[k] = v;
  }
  return out;
}

/** Headers Envoy will not let a route add or that belong to one connection (RFC 9110 §7.6.1). */
const FORBIDDEN_HEADERS = ["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate", "proxy-authorization", "content-length"];
export const MAX_HEADER_VALUE = 1024;

/**
 * `forkstack:fork.headers`: lowercase token names that Envoy can add (not `host`, pseudo-headers or
 * hop-by-hop headers: Envoy rejects the whole route configuration otherwise), values without
 * control characters (CR/LF would split the header) and at most MAX_HEADER_VALUE characters.
 * The fork header itself is refused by the plan, which knows the base's header name.
 */
function parseHeaders(field: string, value: unknown): Record<string, string> {
  const headers = stringMap(field, value, /^.+$/, "");
  for (const [name, v] of Object.entries(headers)) {
    const f = `${field}.${name}`;
    if (name.startsWith(":")) throw new ConfigError(f, name, "is a pseudo-header", "remove it: Envoy does not let a route add pseudo-headers");
    if (!HEADER_NAME.test(name)) {
      const fix = HEADER_NAME.test(name.toLowerCase()) ? `write it in lowercase: ${name.toLowerCase()}` : "use a lowercase HTTP header name (letters, digits, '-'), e.g. x-feature-flags";
      throw new ConfigError(f, name, "is not a lowercase HTTP header name", fix);
    }
    if (FORBIDDEN_HEADERS.includes(name)) throw new ConfigError(f, name, "is a header the gateway cannot set for a fork (host or hop-by-hop)", "remove it, or use an x- header of your own");
    if (/[\u0000-\u001f\u007f]/.test(v)) throw new ConfigError(f, v, "contains a control character (CR, LF, NUL, tab…)", "remove it; a header value is one line of visible text");
    if (v.length > MAX_HEADER_VALUE) throw new ConfigError(f, `${v.slice(0, 20)}…`, `is ${v.length} characters long`, `keep it at most ${MAX_HEADER_VALUE}`);
  }
  return headers;
}

/** A copy's replica count: a whole number 1..MAX_REPLICAS (the base stack may allow fewer). */
function parseReplicas(field: string, value: unknown): number {
  if (value === undefined || value === null) return DEFAULTS.replicas;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_REPLICAS) {
    throw new ConfigError(field, value, `is not a whole number from 1 to ${MAX_REPLICAS}`, `set it to e.g. ${DEFAULTS.replicas}; a fork runs one pod by default`);
  }
  return value;
}

/**
 * `cluster.eks.vpcCidr`: an IPv4 network (host bits zero) with room for a /20-sized slice per
 * subnet: 2 × zones subnets of 4 more bits, so at most a /24 and at most 8 zones.
 */
function checkVpcCidr(cidr: string, zones: number): void {
  const field = key("cluster.eks.vpcCidr");
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || prefix < 8 || prefix > 24) {
    throw new ConfigError(field, cidr, "is not an IPv4 network from /8 to /24", `use e.g. "${DEFAULTS.eks.vpcCidr}"`);
  }
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  if (address % 2 ** (32 - prefix) !== 0) {
    throw new ConfigError(field, cidr, "has host bits set", "use the network address, e.g. 10.0.0.0/16");
  }
  if (zones > 8) throw new ConfigError(key("cluster.eks.zones"), zones, "is more than 8", "use 2 to 8 zones: the VPC is cut into 16 subnets");
}

function parseBoolean(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw new ConfigError(field, value, "is not a boolean", "use true or false");
}

/**
 * A Helm chart source: an `https://` (or `http://`, for a mirror inside a private network)
 * repository URL, or an `oci://registry/path` under which each chart is `<path>/<chart>`
 * (https://helm.sh/docs/topics/registries/). Credentials belong in `helm registry login` or the
 * repository config, never in stack config, so a URL with a user or password is refused.
 */
export function parseChartRepo(field: string, value: unknown): string {
  const fix = `use an https:// Helm repository or an oci:// registry path, e.g. "https://blob.istio.io/istio-release/charts" or "oci://ghcr.io/istio/release/charts"`;
  if (typeof value !== "string" || value === "") throw new ConfigError(field, value, "is not a chart repository", fix);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(field, value, "is not a URL", fix);
  }
  if (!["https:", "http:", "oci:"].includes(url.protocol)) throw new ConfigError(field, value, `has the scheme "${url.protocol}"`, fix);
  if (url.username !== "" || url.password !== "") {
    throw new ConfigError(field, "[redacted URL with credentials]", "carries credentials", "remove them from the URL and log in with `helm registry login` or `helm repo add --username`");
  }
  if (url.hostname === "" || url.search !== "" || url.hash !== "" || value.endsWith("/")) {
    throw new ConfigError(field, value, "is not a plain repository address", `${fix} (no query, fragment or trailing "/")`);
  }
  if (url.protocol === "oci:" && (url.pathname === "" || url.pathname === "/")) {
    throw new ConfigError(field, value, "has no repository path", `name the path that holds the charts, e.g. "oci://ghcr.io/istio/release/charts"`);
  }
  return value;
}

// https://github.com/distribution/reference/blob/main/regexp.go: a registry domain with an
// optional port, then lowercase path components; no scheme, tag or digest (the charts append
// `/<image>:<tag>` themselves).
const IMAGE_REGISTRY = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;

/** An image registry and path the charts prefix to image names (`global.hub`), e.g. `docker.io/istio`. */
export function parseImageRegistry(field: string, value: unknown): string {
  const fix = `use a registry and path without scheme or tag, e.g. "docker.io/istio" or "registry.example.com:5000/mirror/istio"`;
  if (typeof value !== "string" || value === "" || value.length > 255 || !IMAGE_REGISTRY.test(value)) {
    throw new ConfigError(field, value, "is not an image registry", fix);
  }
  return value;
}

/** Parses `name.namespace:port` (the upstream `service` field). */
export function parseServiceRef(field: string, value: unknown): ServiceRef {
  const fix = `write it as name.namespace:port, e.g. "frontend.shop:80"`;
  if (typeof value !== "string") throw new ConfigError(field, value, "is not a string", fix);
  const m = /^([a-z0-9-]+)\.([a-z0-9-]+):(\d+)$/.exec(value);
  if (!m || !DNS1035_LABEL.test(m[1]) || !DNS_LABEL.test(m[2])) {
    throw new ConfigError(field, value, "is not a Service reference", fix);
  }
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new ConfigError(field, value, "has a port outside 1-65535", fix);
  return { name: m[1], namespace: m[2], port };
}

export function formatServiceRef(ref: ServiceRef): string {
  return `${ref.name}.${ref.namespace}:${ref.port}`;
}


// --- known keys -----------------------------------------------------------------------------------

/** Every top-level key of a base stack (without the `forkstack:` prefix). */
export const BASE_KEYS = ["cluster", "domain", "headerName", "hostScheme", "upstreams", "istio", "emissary", "tls", "sampleApp", "pricing", "forkAccess", "maxForkReplicas", "kubeconfig"] as const;
/** Every top-level key of a fork stack. */
export const FORK_KEYS = ["fork", "baseStack"] as const;

/**
 * The keys inside each object-valued key, by path (`fork.services[]`: each entry of that list).
 * Exported for test/docs.test.ts, which keeps README.md's table of config keys equal to it.
 */
export const NESTED_KEYS: Readonly<Record<string, readonly string[]>> = {
  cluster: ["mode", "context", "eks"],
  "cluster.eks": ["version", "instanceType", "desiredSize", "minSize", "maxSize", "vpcCidr", "zones"],
  istio: ["version", "chartRepo", "hub", "install"],
  emissary: ["install", "version", "ambassadorId", "namespace"],
  tls: ["mode", "email"],
  "upstreams[]": ["host", "service"],
  fork: ["id", "services", "headers", "ttl", "expiresAt"],
  forkAccess: ["group", "principals", "namespaces"],
  pricing: ["vcpuHour", "gibHour", "currency"],
  "fork.services[]": ["name", "namespace", "deployment", "image", "env", "replicas"],
};

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** The known key closest to `name`. */
export function closestKey(name: string, known: readonly string[]): string {
  return [...known].sort((x, y) => distance(name, x) - distance(name, y))[0];
}

/**
 * Refuses a key forkstack does not know: a misspelled `imgae:` must not silently run the shared
 * image, nor `service:` make a header-only fork. `where` is the path of the object (`fork.services[0]`),
 * `shape` its entry in NESTED_KEYS.
 */
function knownKeys(where: string, obj: Record<string, unknown>, shape: string): void {
  const known = NESTED_KEYS[shape];
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) {
      const near = closestKey(k, known);
      throw new ConfigError(key(`${where}.${k}`), obj[k], "is not a forkstack setting", `did you mean ${key(`${where}.${near}`)}? The keys here are ${known.join(", ")}`);
    }
  }
}

/**
 * Checks the stack's top-level `forkstack:*` keys before anything is parsed: each is known, and a
 * stack is either a fork (fork, baseStack) or a base (everything else), never both.
 * @param keys the keys without the `forkstack:` prefix.
 * @returns whether the stack is a fork stack (the one place that decides it).
 */
export function checkTopLevelKeys(keys: readonly string[]): "fork" | "base" {
  const all = [...BASE_KEYS, ...FORK_KEYS] as readonly string[];
  for (const k of keys) {
    if (!all.includes(k)) {
      throw new ConfigError(key(k), undefined, "is not a forkstack setting", `did you mean ${key(closestKey(k, all))}? Remove or rename it`).withValueHidden();
    }
  }
  const forkKeys = keys.filter((k) => (FORK_KEYS as readonly string[]).includes(k));
  if (forkKeys.length === 0) return "base";
  const baseKey = keys.find((k) => (BASE_KEYS as readonly string[]).includes(k));
  if (baseKey !== undefined) {
    throw new ConfigError(key(baseKey), undefined, `is a base-stack setting, but this stack is a fork stack (it sets ${key(forkKeys[0])})`, "remove it: a fork reads the base stack's settings through forkstack:baseStack").withValueHidden();
  }
  if (!keys.includes("fork")) {
    throw new ConfigError(key("fork"), undefined, "is required in a fork stack (forkstack:baseStack is set)", "add forkstack:fork with at least an id, e.g. { id: alice }, or remove forkstack:baseStack for a base stack").withValueHidden();
  }
  return "fork";
}

// --- base stack ---------------------------------------------------------------------------------

/**
 * Validates and defaults a base stack's config.
 * @param raw values keyed without the `forkstack:` prefix, as `pulumi.Config#getObject` returns them.
 */
export function parseBaseConfig(raw: Record<string, unknown>): BaseConfig {
  const clusterRaw = raw.cluster === undefined ? {} : asObject(key("cluster"), raw.cluster, "set forkstack:cluster.mode to eks or kubeconfig");
  knownKeys("cluster", clusterRaw, "cluster");
  const mode = clusterRaw.mode ?? "kubeconfig";
  if (mode !== "eks" && mode !== "kubeconfig") {
    throw new ConfigError(key("cluster.mode"), mode, "is not a cluster mode", `use "eks" (create a cluster) or "kubeconfig" (use an existing one)`);
  }
  const eksRaw = clusterRaw.eks === undefined ? {} : asObject(key("cluster.eks"), clusterRaw.eks, "write it as a map, e.g. { instanceType: t3.large }");
  knownKeys("cluster.eks", eksRaw, "cluster.eks");
  const d = DEFAULTS.eks;
  const eks: EksOptions = {
    version: optionalString(key("cluster.eks.version"), eksRaw.version, `e.g. "${d.version}"`) ?? d.version,
    instanceType: optionalString(key("cluster.eks.instanceType"), eksRaw.instanceType, `e.g. "${d.instanceType}"`) ?? d.instanceType,
    desiredSize: optionalPositiveInt(key("cluster.eks.desiredSize"), eksRaw.desiredSize, d.desiredSize),
    minSize: optionalPositiveInt(key("cluster.eks.minSize"), eksRaw.minSize, d.minSize),
    maxSize: optionalPositiveInt(key("cluster.eks.maxSize"), eksRaw.maxSize, d.maxSize),
    vpcCidr: optionalString(key("cluster.eks.vpcCidr"), eksRaw.vpcCidr, `e.g. "${d.vpcCidr}"`) ?? d.vpcCidr,
    zones: optionalPositiveInt(key("cluster.eks.zones"), eksRaw.zones, d.zones, 2),
  };
  checkVpcCidr(eks.vpcCidr, eks.zones);
  if (eks.minSize > eks.desiredSize || eks.desiredSize > eks.maxSize) {
    throw new ConfigError(key("cluster.eks"), { minSize: eks.minSize, desiredSize: eks.desiredSize, maxSize: eks.maxSize }, "has sizes out of order", "keep minSize <= desiredSize <= maxSize");
  }
  const cluster: ClusterConfig = {
    mode,
    context: optionalString(key("cluster.context"), clusterRaw.context, "name a context of your kubeconfig"),
    eks,
  };

  const domain = raw.domain;
  if (domain === undefined || domain === null || domain === "") {
    throw new ConfigError(key("domain"), domain, "is required", "set it to the Route53 hosted zone for the wildcard records, e.g. `pulumi config set forkstack:domain dev.example.com`");
  }
  if (typeof domain !== "string" || !isDnsName(domain)) {
    throw new ConfigError(key("domain"), domain, "is not a DNS name", `use a lowercase domain such as "dev.example.com"`);
  }

  const headerName = optionalString(key("headerName"), raw.headerName, `e.g. "${DEFAULTS.headerName}"`) ?? DEFAULTS.headerName;
  if (!HEADER_NAME.test(headerName)) {
    throw new ConfigError(key("headerName"), headerName, "is not a lowercase HTTP header name", `use e.g. "${DEFAULTS.headerName}"`);
  }

  const hostScheme = raw.hostScheme ?? DEFAULTS.hostScheme;
  if (hostScheme !== "subdomain" && hostScheme !== "flat") {
    throw new ConfigError(key("hostScheme"), hostScheme, "is not a host scheme", `use "subdomain" (alice.shop.dev.example.com) or "flat" (alice--shop.dev.example.com)`);
  }

  const upstreams = parseUpstreams(raw.upstreams, domain, hostScheme);

  const istioRaw = raw.istio === undefined ? {} : asObject(key("istio"), raw.istio, "write it as { version: 1.31.1 }");
  const emissaryRaw = raw.emissary === undefined ? {} : asObject(key("emissary"), raw.emissary, "write it as { version: 4.1.0 }");
  const tlsRaw = raw.tls === undefined ? {} : asObject(key("tls"), raw.tls, "write it as { mode: acm }");
  knownKeys("istio", istioRaw, "istio");
  knownKeys("emissary", emissaryRaw, "emissary");
  knownKeys("tls", tlsRaw, "tls");
  const version = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
  const istioVersion = optionalString(key("istio.version"), istioRaw.version, `e.g. "${DEFAULTS.istioVersion}"`) ?? DEFAULTS.istioVersion;
  if (!version.test(istioVersion)) throw new ConfigError(key("istio.version"), istioVersion, "is not an exact chart version", `pin an exact version, e.g. "${DEFAULTS.istioVersion}"`);
  const istioChartRepo = parseChartRepo(key("istio.chartRepo"), istioRaw.chartRepo ?? DEFAULTS.istioChartRepo);
  const istioHub = parseImageRegistry(key("istio.hub"), istioRaw.hub ?? DEFAULTS.istioHub);
  const istioInstall = parseBoolean(key("istio.install"), istioRaw.install, true);
  const emissaryInstall = parseBoolean(key("emissary.install"), emissaryRaw.install, true);
  const emissaryVersion = optionalString(key("emissary.version"), emissaryRaw.version, `e.g. "${DEFAULTS.emissaryVersion}"`) ?? DEFAULTS.emissaryVersion;
  if (!version.test(emissaryVersion)) throw new ConfigError(key("emissary.version"), emissaryVersion, "is not an exact chart version", `pin an exact version, e.g. "${DEFAULTS.emissaryVersion}"`);
  if (!/^4\./.test(emissaryVersion)) throw new ConfigError(key("emissary.version"), emissaryVersion, "is not an Emissary 4.x version", `forkstack needs Emissary 4.x, e.g. "${DEFAULTS.emissaryVersion}"`);
  const ambassadorId = optionalString(key("emissary.ambassadorId"), emissaryRaw.ambassadorId, `e.g. "${DEFAULTS.ambassadorId}"`) ?? DEFAULTS.ambassadorId;
  if (!DNS_LABEL.test(ambassadorId)) throw new ConfigError(key("emissary.ambassadorId"), ambassadorId, "is not a lowercase DNS label", `use e.g. "${DEFAULTS.ambassadorId}"`);
  const gatewayNamespace = optionalString(key("emissary.namespace"), emissaryRaw.namespace, `e.g. "${DEFAULTS.gatewayNamespace}"`) ?? DEFAULTS.gatewayNamespace;
  if (!DNS_LABEL.test(gatewayNamespace) || gatewayNamespace.length > 63) throw new ConfigError(key("emissary.namespace"), gatewayNamespace, "is not a namespace name", `use e.g. "${DEFAULTS.gatewayNamespace}"`);
  const tlsMode = tlsRaw.mode ?? DEFAULTS.tlsMode;
  if (tlsMode !== "acm" && tlsMode !== "cert-manager") {
    throw new ConfigError(key("tls.mode"), tlsMode, "is not a TLS mode", `use "acm" (TLS ends at the load balancer) or "cert-manager" (TLS ends in the gateway)`);
  }
  const email = optionalString(key("tls.email"), tlsRaw.email, "set the ACME account e-mail, e.g. platform@example.com");
  if (tlsMode === "cert-manager" && !email) {
    throw new ConfigError(key("tls.email"), email, "is required with tls.mode cert-manager", "set the ACME account e-mail, e.g. platform@example.com");
  }
  const sampleApp = parseBoolean(key("sampleApp"), raw.sampleApp, false);
  const maxForkReplicas = optionalPositiveInt(key("maxForkReplicas"), raw.maxForkReplicas, DEFAULTS.maxForkReplicas);
  if (maxForkReplicas > MAX_REPLICAS) {
    throw new ConfigError(key("maxForkReplicas"), maxForkReplicas, `is more than ${MAX_REPLICAS}`, `forks are for trying changes, not for load: use at most ${MAX_REPLICAS}`);
  }
  const pricing = raw.pricing === undefined || raw.pricing === null ? undefined : parsePricing(raw.pricing);
  const forkAccess = parseForkAccess(raw.forkAccess, mode);

  return {
    cluster,
    domain,
    headerName,
    upstreams,
    hostScheme,
    istio: { version: istioVersion, chartRepo: istioChartRepo, hub: istioHub, install: istioInstall },
    emissary: {
      install: emissaryInstall,
      version: emissaryVersion,
      ambassadorId,
      namespace: gatewayNamespace,
      crdsChart: DEFAULTS.emissaryCrdsChart,
      chart: DEFAULTS.emissaryChart,
    },
    tls: { mode: tlsMode, email },
    sampleApp,
    maxForkReplicas,
    ...(pricing === undefined ? {} : { pricing }),
    forkAccess,
  };
}

/** https://kubernetes.io/docs/reference/access-authn-authz/rbac/ (a group is any non-empty string; keep it printable). */
const GROUP = /^[A-Za-z0-9][A-Za-z0-9:._@-]{0,127}$/;
const IAM_PRINCIPAL = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)\/[\w+=,.@\/-]+$/;

function parseForkAccess(value: unknown, mode: "eks" | "kubeconfig"): ForkAccessConfig {
  const field = key("forkAccess");
  const obj = value === undefined || value === null ? {} : asObject(field, value, "write it as { group: forkstack-forkers, namespaces: { shop: shared } }");
  knownKeys("forkAccess", obj, "forkAccess");
  const group = obj.group ?? DEFAULTS.forkGroup;
  if (typeof group !== "string" || !GROUP.test(group) || group.startsWith("system:")) {
    throw new ConfigError(`${field}.group`, group, "is not a group name forkstack can bind", `use letters, digits and ":._@-", not "system:...", e.g. "${DEFAULTS.forkGroup}"`);
  }
  const principalsRaw = obj.principals ?? [];
  if (!Array.isArray(principalsRaw)) throw new ConfigError(`${field}.principals`, principalsRaw, "is not a list", "list IAM role ARNs, e.g. [arn:aws:iam::123456789012:role/developers]");
  const principals = principalsRaw.map((p, i) => {
    if (typeof p !== "string" || !IAM_PRINCIPAL.test(p)) throw new ConfigError(`${field}.principals[${i}]`, p, "is not an IAM role or user ARN", "use e.g. arn:aws:iam::123456789012:role/developers");
    return p;
  });
  if (principals.length > 0 && mode !== "eks") {
    throw new ConfigError(`${field}.principals`, principals, "needs cluster.mode eks (EKS access entries map them to the group)", "remove them and add the group to your users in the cluster's own identity provider");
  }
  const nsRaw = obj.namespaces === undefined || obj.namespaces === null ? {} : asObject(`${field}.namespaces`, obj.namespaces, "map each forkable namespace to shared or a list of ServiceAccounts, e.g. { shop: shared }");
  const namespaces: Record<string, ServiceAccountRule> = {};
  for (const [ns, rule] of Object.entries(nsRaw)) {
    const f = `${field}.namespaces.${ns}`;
    if (!DNS_LABEL.test(ns) || ns.length > 63 || ns.startsWith("kube-") || ns === "istio-system") {
      throw new ConfigError(f, ns, "is not a namespace forks may use", "name an application namespace, e.g. shop");
    }
    if (rule === "shared") {
      namespaces[ns] = "shared";
    } else if (Array.isArray(rule) && rule.length > 0 && rule.every((s) => typeof s === "string" && isDnsSubdomain(s))) {
      namespaces[ns] = [...rule] as string[];
    } else {
      throw new ConfigError(f, rule, "is not a ServiceAccount rule", 'use "shared" (copies run as the shared ServiceAccount) or a list of ServiceAccounts, e.g. [fork-runner]');
    }
  }
  return { group, principals, namespaces };
}

function parsePricing(value: unknown): Pricing {
  const field = key("pricing");
  const obj = asObject(field, value, "write it as { vcpuHour: 0.04, gibHour: 0.005, currency: USD }");
  knownKeys("pricing", obj, "pricing");
  const price = (name: "vcpuHour" | "gibHour", example: number): number => {
    const v = typeof obj[name] === "string" && /^\d+(\.\d+)?$/.test(obj[name] as string) ? Number(obj[name]) : obj[name];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new ConfigError(`${field}.${name}`, obj[name], "is not a price per hour", `use a non-negative number, e.g. ${example}`);
    }
    return v;
  };
  const currency = obj.currency ?? "USD";
  if (typeof currency !== "string" || !/^[A-Z]{3}$/.test(currency)) {
    throw new ConfigError(`${field}.currency`, currency, "is not an ISO 4217 currency code", `use e.g. "USD" or "EUR"`);
  }
  return { vcpuHour: price("vcpuHour", 0.04), gibHour: price("gibHour", 0.005), currency };
}

function parseUpstreams(value: unknown, domain: string, hostScheme: HostScheme): Upstream[] {
  const field = key("upstreams");
  const example = `e.g. [{ host: shop.${domain}, service: frontend.shop:80 }]`;
  if (value === undefined || value === null) throw new ConfigError(field, value, "is required", `list the entry points of the shared environment, ${example}`);
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError(field, value, "is not a non-empty list", `list the entry points, ${example}`);
  const seen = new Map<string, number>();
  return value.map((entry, i) => {
    const f = `${field}[${i}]`;
    const obj = asObject(f, entry, `write it as { host: shop.${domain}, service: frontend.shop:80 }`);
    knownKeys(`upstreams[${i}]`, obj, "upstreams[]");
    const host = obj.host;
    if (typeof host !== "string" || !isDnsName(host)) {
      throw new ConfigError(`${f}.host`, host, "is not a DNS name", `use a lowercase host inside ${domain}, e.g. "shop.${domain}"`);
    }
    if (host !== domain && !host.endsWith(`.${domain}`)) {
      throw new ConfigError(`${f}.host`, host, `is not inside forkstack:domain ${domain}`, `use a host in the hosted zone, e.g. "shop.${domain}", or change forkstack:domain`);
    }
    if (hostScheme === "flat" && host.split(".").length - domain.split(".").length !== 1) {
      throw new ConfigError(`${f}.host`, host, `is not one label below ${domain}, as hostScheme flat needs`, `use e.g. "shop.${domain}" or hostScheme subdomain`);
    }
    const previous = seen.get(host);
    if (previous !== undefined) {
      throw new ConfigError(`${f}.host`, host, `repeats ${field}[${previous}].host`, "give each upstream its own host, or remove the duplicate");
    }
    seen.set(host, i);
    return { host, service: parseServiceRef(`${f}.service`, obj.service) };
  });
}

// --- fork stack ---------------------------------------------------------------------------------

export function validateForkId(id: unknown): string {
  const field = key("fork.id");
  const fix = `use lowercase letters, digits and single "-" (at most ${MAX_FORK_ID_LENGTH}), e.g. "alice" or "pr-123"`;
  if (id === undefined || id === null || id === "") throw new ConfigError(field, id, "is required", fix);
  if (typeof id !== "string") throw new ConfigError(field, id, `is a ${typeof id}, not a string`, `quote it, e.g. id: "${String(id)}"`);
  const s = id;
  if (!DNS_LABEL.test(s)) throw new ConfigError(field, s, "is not a lowercase DNS label", fix);
  if (s.length > MAX_FORK_ID_LENGTH) throw new ConfigError(field, s, `is longer than ${MAX_FORK_ID_LENGTH} characters`, fix);
  // "--" separates the fork from the upstream label in the flat host scheme and route names.
  if (s.includes("--")) throw new ConfigError(field, s, `contains "--", which forkstack uses as a separator`, fix);
  return s;
}

/** Validates and defaults a fork stack's `forkstack:fork` object. */
export function parseForkConfig(value: unknown): ForkConfig {
  const field = key("fork");
  const obj = asObject(field, value, "write it as { id: alice, services: [...] }");
  knownKeys("fork", obj, "fork");
  const id = validateForkId(obj.id);

  let servicesRaw = obj.services ?? [];
  if (!Array.isArray(servicesRaw)) throw new ConfigError(`${field}.services`, servicesRaw, "is not a list", "list the services to fork, or omit it for a header-only fork");
  const seen = new Map<string, number>();
  const services = servicesRaw.map((entry, i): ForkService => {
    const f = `${field}.services[${i}]`;
    const s = asObject(f, entry, "write it as { name: api, namespace: shop }");
    knownKeys(`fork.services[${i}]`, s, "fork.services[]");
    const name = s.name;
    if (typeof name !== "string" || !DNS1035_LABEL.test(name) || name.length > 63) {
      throw new ConfigError(`${f}.name`, name, "is not a Service name", "name the shared Service to fork, e.g. api");
    }
    const namespace = s.namespace;
    if (typeof namespace !== "string" || !DNS_LABEL.test(namespace) || namespace.length > 63) {
      throw new ConfigError(`${f}.namespace`, namespace, "is not a namespace name", "name the Service's namespace, e.g. shop");
    }
    const deployment = s.deployment ?? name;
    if (typeof deployment !== "string" || !isDnsSubdomain(deployment)) {
      throw new ConfigError(`${f}.deployment`, deployment, "is not a Deployment name", `name the Deployment behind the Service, or omit it to use "${name}"`);
    }
    const image = s.image;
    if (image !== undefined && (typeof image !== "string" || !IMAGE.test(image))) {
      throw new ConfigError(`${f}.image`, image, "is not a container image reference", "use registry/repository:tag, e.g. registry.example.com/api:alice-1");
    }
    const previous = seen.get(`${namespace}/${name}`);
    if (previous !== undefined) {
      throw new ConfigError(`${f}.name`, `${name}.${namespace}`, `repeats ${field}.services[${previous}]`, "list each service once");
    }
    seen.set(`${namespace}/${name}`, i);
    return {
      name,
      namespace,
      deployment,
      deploymentGiven: s.deployment !== undefined && s.deployment !== null,
      image: image as string | undefined,
      env: stringMap(`${f}.env`, s.env, ENV_NAME, "use letters, digits, '_', '-' and '.', not starting with a digit"),
      replicas: parseReplicas(`${f}.replicas`, s.replicas),
    };
  });

  const headers = parseHeaders(`${field}.headers`, obj.headers);
  const ttl = obj.ttl;
  if (ttl !== undefined && (typeof ttl !== "string" || !TTL.test(ttl) || parseTtlMs(ttl) === 0)) {
    throw new ConfigError(`${field}.ttl`, ttl, "is not a duration", `use minutes, hours or days, e.g. "72h" or "7d"`);
  }
  const expiresAt = obj.expiresAt;
  if (expiresAt !== undefined && (typeof expiresAt !== "string" || !ISO_UTC.test(expiresAt) || Number.isNaN(Date.parse(expiresAt)))) {
    throw new ConfigError(`${field}.expiresAt`, expiresAt, "is not an ISO 8601 UTC time", `use e.g. "2026-12-24T18:00:00Z", or set ttl instead`);
  }
  return { id, services, headers, ttl: ttl as string | undefined, ...(expiresAt === undefined ? {} : { expiresAt: expiresAt as string }) };
}

/** An ISO 8601 time in UTC to the second (what expiryOf writes). */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && value.split(".").every((l) => DNS_LABEL.test(l));
}

/** `72h` → milliseconds. */
export function parseTtlMs(ttl: string): number {
  const m = TTL.exec(ttl);
  if (!m) throw new ConfigError(key("fork.ttl"), ttl, "is not a duration", `use e.g. "72h"`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

/**
 * When a fork deployed at `now` expires (ISO 8601, seconds precision): its fixed `expiresAt`, else
 * `now + ttl`, else undefined (never).
 */
export function expiryOf(fork: ForkConfig, now: Date): string | undefined {
  if (fork.expiresAt !== undefined) return fork.expiresAt;
  if (fork.ttl === undefined) return undefined;
  return new Date(now.getTime() + parseTtlMs(fork.ttl)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Validates a fork's `forkstack:baseStack` reference (`org/project/stack`). */
export function parseBaseStack(value: unknown): string {
  const field = key("baseStack");
  const fix = "name the base stack as organization/project/stack, e.g. organization/forkstack/dev";
  if (typeof value !== "string" || value === "") throw new ConfigError(field, value, "is required for a fork stack", fix);
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/.test(value)) throw new ConfigError(field, value, "is not a stack reference", fix);
  return value;
}

// --- the base → fork contract ---------------------------------------------------------------------

/**
 * The base stack's outputs as a fork reads them through its StackReference, checked field by field
 * (a base deployed by another forkstack version, or by hand, must not be half understood).
 * `values` holds each output's value (undefined when the base has none). Throws ConfigError naming
 * `forkstack:baseStack`, the output and what to do.
 */
export function parseBaseOutputs(baseStack: string, values: Readonly<Record<string, unknown>>): { base: BaseOutputs; kubeconfig: string; kubeContext: string } {
  const field = key("baseStack");
  const bad = (output: string, problem: string): never => {
    throw new ConfigError(field, baseStack, `has an output "${output}" that ${problem}`, "run `pulumi up` on the base stack with this version of forkstack, or point forkstack:baseStack at a deployed base stack");
  };
  const required = (name: string): unknown => {
    const v = values[name];
    if (v === undefined || v === null) {
      throw new ConfigError(field, baseStack, `has no output "${name}"`, "run `pulumi up` on the base stack first, or point forkstack:baseStack at a deployed base stack");
    }
    return v;
  };
  const text = (name: string, test: (v: string) => boolean): string => {
    const v = required(name);
    if (typeof v !== "string" || !test(v)) bad(name, `is not valid (${JSON.stringify(v)})`);
    return v as string;
  };
  const optionalText = (name: string): string => {
    const v = values[name];
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") bad(name, "is not a string");
    return v as string;
  };
  const headerName = text("headerName", (v) => HEADER_NAME.test(v));
  const ambassadorId = text("ambassadorId", (v) => DNS_LABEL.test(v));
  const gatewayNamespace = text("gatewayNamespace", (v) => DNS_LABEL.test(v) && v.length <= 63);
  const hostScheme = text("hostScheme", (v) => v === "subdomain" || v === "flat") as HostScheme;
  const domain = text("domain", isDnsName);
  const upstreamsRaw = required("upstreams");
  if (!Array.isArray(upstreamsRaw) || upstreamsRaw.length === 0) bad("upstreams", "is not a non-empty list");
  const upstreams = (upstreamsRaw as unknown[]).map((u, i): Upstream => {
    const o = u as { host?: unknown; service?: { name?: unknown; namespace?: unknown; port?: unknown } } | null;
    const svc = o?.service;
    if (
      o === null || typeof o !== "object" || typeof o.host !== "string" || !isDnsName(o.host) ||
      svc === null || typeof svc !== "object" || typeof svc.name !== "string" || typeof svc.namespace !== "string" ||
      typeof svc.port !== "number" || !Number.isInteger(svc.port) || svc.port < 1 || svc.port > 65535
    ) {
      return bad(`upstreams[${i}]`, "is not { host, service: { name, namespace, port } }");
    }
    return { host: o.host, service: { name: svc.name, namespace: svc.namespace, port: svc.port } };
  });
  const maxRaw = values.maxForkReplicas;
  if (maxRaw !== undefined && maxRaw !== null && (typeof maxRaw !== "number" || !Number.isInteger(maxRaw) || maxRaw < 1)) bad("maxForkReplicas", "is not a whole number of at least 1");
  const maxForkReplicas = typeof maxRaw === "number" ? maxRaw : DEFAULTS.maxForkReplicas;
  const nsRaw = required("forkNamespaces");
  if (typeof nsRaw !== "object" || Array.isArray(nsRaw)) bad("forkNamespaces", "is not a map of namespace to ServiceAccount rule");
  const forkNamespaces: Record<string, ServiceAccountRule> = {};
  for (const [ns, rule] of Object.entries(nsRaw as Record<string, unknown>)) {
    if (rule === "shared") forkNamespaces[ns] = "shared";
    else if (Array.isArray(rule) && rule.length > 0 && rule.every((s) => typeof s === "string")) forkNamespaces[ns] = rule as string[];
    else bad(`forkNamespaces.${ns}`, "is not shared or a list of ServiceAccounts");
  }
  return {
    base: { headerName, ambassadorId, gatewayNamespace, upstreams, hostScheme, domain, maxForkReplicas, forkNamespaces },
    kubeconfig: optionalText("kubeconfig"),
    kubeContext: optionalText("kubeContext"),
  };
}

/** Every output parseBaseOutputs reads. */
export const BASE_OUTPUT_NAMES = ["headerName", "ambassadorId", "gatewayNamespace", "upstreams", "hostScheme", "domain", "maxForkReplicas", "forkNamespaces", "kubeconfig", "kubeContext"] as const;
