/**
 * What every part of the stack configuration shares: the `forkstack` namespace, the pinned
 * defaults, the types other modules take (HostScheme, ServiceRef, Upstream) and the small checks
 * each parser is built from. Pure: each check returns the typed value or throws a ConfigError
 * naming the field, the value and the fix.
 */
import { ConfigError } from "../errors";

/** Config keys live in the `forkstack` namespace; the values below are keyed without the prefix. */
export const CONFIG_NAMESPACE = "forkstack";

/** Pinned upstream versions. Change them here (or per stack in config) after reading the release notes. */
export const DEFAULTS = {
  headerName: "x-fork-identifier",
  hostScheme: "subdomain" as HostScheme,
  /**
   * https://istio.io/latest/news/releases/1.31.x/announcing-1.31.1/ — 1.31.1 (2026-09-21) is the
   * current 1.31 patch; 1.31 "is officially supported on Kubernetes versions 1.32 to 1.36"
   * (https://istio.io/latest/news/releases/1.31.x/announcing-1.31/). Checked again 2026-12-07:
   * istio/istio.io's content/en/news/releases/ has no newer 1.31 patch and no 1.32.x.
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
  /** What a base of the previous release did: records in Route53. */
  dnsMode: "route53" as DnsMode,
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
/**
 * Where TLS ends and who issues its certificates: `acm` (at the load balancer, AWS Certificate Manager),
 * `cert-manager` (in Emissary, Certificates of a ClusterIssuer), `secret` (in Emissary, TLS Secrets
 * the platform team provides).
 */
export type TlsMode = "acm" | "cert-manager" | "secret";
/**
 * Who publishes the records of the shared hosts and fork wildcards: `route53` (forkstack, in the
 * hosted zone `forkstack:domain`), `external-dns` (from the gateway Service's annotation), `none`
 * (the platform team, from the base stack's `dnsRecords` output).
 */
export type DnsMode = "route53" | "external-dns" | "none";

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

/** The hard ceiling on forkstack:maxForkReplicas. */
export const MAX_REPLICAS = 20;

// --- names ---------------------------------------------------------------------------------------

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** A lowercase HTTP header name (RFC 9110 token). */
export const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** `forkstack:<name>`: the full name of a config key, as errors print it. */
export const key = (name: string) => `${CONFIG_NAMESPACE}:${name}`;

/** A DNS name with at least two labels, e.g. `dev.example.com`. */
export function isDnsName(value: string): boolean {
  return value.length <= 253 && value.split(".").every((l) => l.length <= 63 && DNS_LABEL.test(l)) && value.includes(".");
}

/** A Kubernetes object name (RFC 1123 subdomain): Deployments, ServiceAccounts, Secrets. */
export function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && value.split(".").every((l) => DNS_LABEL.test(l));
}

/** A namespace name (RFC 1123 label, at most 63 characters). */
export function isNamespaceName(value: string): boolean {
  return DNS_LABEL.test(value) && value.length <= 63;
}

// --- value checks ---------------------------------------------------------------------------------

export function asObject(field: string, value: unknown, fix: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(field, value, "is not an object", fix);
  }
  return value as Record<string, unknown>;
}

export function optionalString(field: string, value: unknown, fix: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "") throw new ConfigError(field, value, "is not a non-empty string", fix);
  return value;
}

export function optionalPositiveInt(field: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
    throw new ConfigError(field, value, `is not a whole number of at least ${min}`, `set it to e.g. ${fallback}`);
  }
  return n;
}

export function parseBoolean(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw new ConfigError(field, value, "is not a boolean", "use true or false");
}

/**
 * A map of names to string values, exactly: `pulumi up` hands the program config as JSON, so a YAML
 * number has already lost its text (`1.10` arrives as 1.1) and a boolean its spelling (`yes`, `on`).
 * Anything but a string is refused with the quoted form to write.
 */
export function stringMap(field: string, value: unknown, keyPattern: RegExp, keyFix: string): Record<string, string> {
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

/**
 * A list whose every entry passes `test`, else a ConfigError naming the list (not a list) or the
 * first entry that fails (`field[i]`). `undefined`/`null` is the empty list.
 */
export function stringList(field: string, value: unknown, test: (s: string) => boolean, problem: string, fix: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ConfigError(field, value, "is not a list", fix);
  return value.map((v, i) => {
    if (typeof v !== "string" || !test(v)) throw new ConfigError(`${field}[${i}]`, v, problem, fix);
    return v;
  });
}

// --- references -----------------------------------------------------------------------------------

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
