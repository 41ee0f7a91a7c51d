/**
 * A base stack's config: the cluster, the hosted zone, the entry points of the shared environment,
 * the Istio and Emissary installs, TLS, pricing and fork access (./access.ts), with defaults applied.
 */
import { ConfigError } from "../errors";
import { ForkAccessConfig, parseForkAccess } from "./access";
import {
  asObject,
  DEFAULTS,
  DNS_LABEL,
  DnsMode,
  HEADER_NAME,
  HostScheme,
  isDnsName,
  isDnsSubdomain,
  isNamespaceName,
  key,
  MAX_REPLICAS,
  optionalPositiveInt,
  optionalString,
  parseBoolean,
  parseChartRepo,
  parseImageRegistry,
  parseServiceRef,
  TlsMode,
  Upstream,
} from "./common";
import { FORBIDDEN_HEADERS } from "./fork";
import { knownKeys } from "./keys";

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
  /** The zone of the shared hosts, e.g. `dev.example.com`; with `dns: route53` a Route53 hosted zone. */
  readonly domain: string;
  /** Who publishes the DNS records of the shared hosts and fork wildcards. @default "route53" */
  readonly dns: DnsMode;
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
  readonly tls: TlsConfig;
  /** Deploy the sample shop (examples/) into the shared cluster. */
  readonly sampleApp: boolean;
  /** The most replicas a fork's copy may run. @default 3 */
  readonly maxForkReplicas: number;
  /** What the cluster's capacity costs, for the price of a fork in `forkctl`'s report; undefined: no price shown. */
  readonly pricing?: Pricing;
  /** Who may run forks, and where (./access.ts; enforced by components/forkPolicy.ts). */
  readonly forkAccess: ForkAccessConfig;
}

/** `forkstack:tls`: where TLS ends and where its certificates come from. */
export interface TlsConfig {
  /** @default "acm" */
  readonly mode: TlsMode;
  /** The ACME account e-mail of forkstack's own Let's Encrypt ClusterIssuer (cert-manager without `issuer`). */
  readonly email?: string;
  /**
   * cert-manager mode: the name of an existing ClusterIssuer (ACME, CA, self-signed, Vault...). The
   * platform runs cert-manager and the issuer; forkstack creates only the Certificates, installs no
   * cert-manager and creates no issuer. Undefined: forkstack installs cert-manager and a Let's
   * Encrypt ClusterIssuer solving DNS-01 in Route53.
   */
  readonly issuer?: string;
  /**
   * secret mode: each upstream host → the name of an existing TLS Secret in the gateway namespace
   * covering the host and its fork wildcard. forkstack creates no certificate.
   */
  readonly secrets?: Readonly<Record<string, string>>;
}

/** Prices of requested capacity, in `currency` per hour. */
export interface Pricing {
  readonly vcpuHour: number;
  readonly gibHour: number;
  /** ISO 4217 code, e.g. USD. @default USD */
  readonly currency: string;
}

/**
 * Validates and defaults a base stack's config.
 * @param raw values keyed without the `forkstack:` prefix, as `pulumi.Config#getObject` returns them.
 */
export function parseBaseConfig(raw: Record<string, unknown>): BaseConfig {
  const cluster = parseCluster(raw.cluster);

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
  // The gateway adds the fork header to each fork request; Envoy will not add these (see FORBIDDEN_HEADERS).
  if (FORBIDDEN_HEADERS.includes(headerName)) {
    throw new ConfigError(key("headerName"), headerName, "is a header the gateway cannot set for a fork (host or hop-by-hop)", `use an x- header of your own, e.g. "${DEFAULTS.headerName}"`);
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
  if (!isNamespaceName(gatewayNamespace)) throw new ConfigError(key("emissary.namespace"), gatewayNamespace, "is not a namespace name", `use e.g. "${DEFAULTS.gatewayNamespace}"`);
  const dns = parseDnsMode(raw.dns);
  const tls = parseTls(tlsRaw, dns, upstreams, gatewayNamespace);
  const sampleApp = parseBoolean(key("sampleApp"), raw.sampleApp, false);
  const maxForkReplicas = optionalPositiveInt(key("maxForkReplicas"), raw.maxForkReplicas, DEFAULTS.maxForkReplicas);
  if (maxForkReplicas > MAX_REPLICAS) {
    throw new ConfigError(key("maxForkReplicas"), maxForkReplicas, `is more than ${MAX_REPLICAS}`, `forks are for trying changes, not for load: use at most ${MAX_REPLICAS}`);
  }
  const pricing = raw.pricing === undefined || raw.pricing === null ? undefined : parsePricing(raw.pricing);
  const forkAccess = parseForkAccess(raw.forkAccess, cluster.mode);

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
    dns,
    tls,
    sampleApp,
    maxForkReplicas,
    ...(pricing === undefined ? {} : { pricing }),
    forkAccess,
  };
}

/** `forkstack:cluster`: the mode, the kubeconfig context and the EKS cluster to create. */
function parseCluster(value: unknown): ClusterConfig {
  const clusterRaw = value === undefined ? {} : asObject(key("cluster"), value, "set forkstack:cluster.mode to eks or kubeconfig");
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
  checkEksVersion(eks.version);
  checkInstanceType(eks.instanceType);
  checkVpcCidr(eks.vpcCidr, eks.zones);
  if (eks.minSize > eks.desiredSize || eks.desiredSize > eks.maxSize) {
    throw new ConfigError(key("cluster.eks"), { minSize: eks.minSize, desiredSize: eks.desiredSize, maxSize: eks.maxSize }, "has sizes out of order", "keep minSize <= desiredSize <= maxSize");
  }
  return {
    mode,
    context: optionalString(key("cluster.context"), clusterRaw.context, "name a context of your kubeconfig"),
    eks,
  };
}

/**
 * `cluster.eks.vpcCidr`: an IPv4 network (host bits zero) from /16 to /24. AWS takes a VPC IPv4
 * block from /16 to /28 (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html);
 * forkstack cuts it into 2 × zones subnets of 4 more bits, and a subnet is at least a /28, so at most
 * a /24 and at most 8 zones.
 */
function checkVpcCidr(cidr: string, zones: number): void {
  const field = key("cluster.eks.vpcCidr");
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : -1;
  if (!m || octets.some((o) => o > 255) || prefix > 32) {
    throw new ConfigError(field, cidr, "is not an IPv4 network from /16 to /24", `use e.g. "${DEFAULTS.eks.vpcCidr}"`);
  }
  if (prefix < 16) {
    throw new ConfigError(field, cidr, "is larger than a /16, the largest IPv4 block AWS allows for a VPC", `use a /16 to /24 network, e.g. "${DEFAULTS.eks.vpcCidr}"`);
  }
  if (prefix > 24) {
    throw new ConfigError(field, cidr, "is smaller than a /24", `forkstack cuts the VPC into 16 subnets of at least a /28 (the smallest AWS allows): use a /16 to /24 network, e.g. "${DEFAULTS.eks.vpcCidr}"`);
  }
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  if (address % 2 ** (32 - prefix) !== 0) {
    throw new ConfigError(field, cidr, "has host bits set", "use the network address, e.g. 10.0.0.0/16");
  }
  if (zones > 8) throw new ConfigError(key("cluster.eks.zones"), zones, "is more than 8", "use 2 to 8 zones: the VPC is cut into 16 subnets");
}

/**
 * `cluster.eks.version`: a Kubernetes `major.minor`, as EKS takes it; EKS picks the patch itself
 * (https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html).
 */
function checkEksVersion(version: string): void {
  const field = key("cluster.eks.version");
  if (/^\d+\.\d+$/.test(version)) return;
  const patch = /^v?(\d+\.\d+)\.\d+/.exec(version);
  if (patch) throw new ConfigError(field, version, "has a patch level, which EKS does not take", `use the minor version "${patch[1]}": EKS applies the latest patch itself`);
  throw new ConfigError(field, version, "is not a Kubernetes version", `use major.minor, e.g. "${DEFAULTS.eks.version}"`);
}

/**
 * An EC2 instance type name, `<family><generation><attributes>.<size>` (t3.large, c6in.2xlarge,
 * u-6tb1.metal, mac2-m2pro.metal, i7ie.metal-24xl):
 * https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html. Whether the type
 * exists in the region is for AWS to say; this catches `large`, `t3`, `t3.Large` and `t3 large`.
 */
const INSTANCE_TYPE = /^(?=[a-z0-9-]*\d)[a-z][a-z0-9]*(?:-[a-z0-9]+)*\.(?:nano|micro|small|medium|large|\d*xlarge|metal(?:-\d+xl)?)$/;

function checkInstanceType(instanceType: string): void {
  if (!INSTANCE_TYPE.test(instanceType)) {
    throw new ConfigError(key("cluster.eks.instanceType"), instanceType, "is not an EC2 instance type", `use <family><generation>.<size> in lowercase, e.g. "${DEFAULTS.eks.instanceType}" or "m7g.xlarge"`);
  }
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

/** `forkstack:dns`: who publishes the records of the shared hosts and fork wildcards. */
function parseDnsMode(value: unknown): DnsMode {
  const dns = value ?? DEFAULTS.dnsMode;
  if (dns !== "route53" && dns !== "external-dns" && dns !== "none") {
    throw new ConfigError(
      key("dns"),
      dns,
      "is not a DNS mode",
      `use "route53" (forkstack writes the records in the Route53 zone forkstack:domain), "external-dns" (external-dns publishes them from the gateway Service) or "none" (you create the records of the output dnsRecords)`,
    );
  }
  return dns;
}

/** A plausible e-mail address: what ACME servers accept as the account contact (`mailto:`). */
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

/**
 * `forkstack:tls`: the mode, and what it needs. ACM certificates and forkstack's own Let's Encrypt
 * issuer are validated with records in Route53, so they need `dns: route53`; on any other cluster
 * the certificates come from the platform's ClusterIssuer (`issuer`) or its TLS Secrets (`secrets`).
 */
function parseTls(tlsRaw: Record<string, unknown>, dns: DnsMode, upstreams: readonly Upstream[], gatewayNamespace: string): TlsConfig {
  const mode = tlsRaw.mode ?? DEFAULTS.tlsMode;
  if (mode !== "acm" && mode !== "cert-manager" && mode !== "secret") {
    throw new ConfigError(
      key("tls.mode"),
      mode,
      "is not a TLS mode",
      `use "acm" (TLS ends at the load balancer), "cert-manager" (TLS ends in the gateway, certificates from a ClusterIssuer) or "secret" (TLS ends in the gateway, your TLS Secrets)`,
    );
  }
  const email = optionalString(key("tls.email"), tlsRaw.email, "set the ACME account e-mail, e.g. platform@example.com");
  if (email !== undefined && !EMAIL.test(email)) {
    throw new ConfigError(key("tls.email"), email, "is not an e-mail address", "set the ACME account e-mail, e.g. platform@example.com");
  }
  const issuer = optionalString(key("tls.issuer"), tlsRaw.issuer, "name an existing ClusterIssuer, e.g. letsencrypt");
  if (issuer !== undefined && !isDnsSubdomain(issuer)) {
    throw new ConfigError(key("tls.issuer"), issuer, "is not a ClusterIssuer name", "name an existing ClusterIssuer in lowercase, e.g. letsencrypt");
  }
  if (issuer !== undefined && mode !== "cert-manager") {
    throw new ConfigError(key("tls.issuer"), issuer, `is only used with tls.mode cert-manager, and tls.mode is "${mode}"`, "remove it, or set forkstack:tls.mode to cert-manager");
  }
  if (tlsRaw.secrets !== undefined && mode !== "secret") {
    throw new ConfigError(key("tls.secrets"), tlsRaw.secrets, `is only used with tls.mode secret, and tls.mode is "${mode}"`, "remove it, or set forkstack:tls.mode to secret");
  }
  if (mode === "acm" && dns !== "route53") {
    throw new ConfigError(
      key("tls.mode"),
      mode,
      `needs forkstack:dns route53 (ACM validates certificates with records in Route53), and forkstack:dns is "${dns}"`,
      "set forkstack:tls.mode to cert-manager with tls.issuer (an existing ClusterIssuer), or to secret with tls.secrets (existing TLS Secrets)",
    );
  }
  if (mode === "cert-manager" && issuer === undefined) {
    if (dns !== "route53") {
      throw new ConfigError(
        key("tls.issuer"),
        issuer,
        `is required with tls.mode cert-manager when forkstack:dns is "${dns}" (forkstack's own Let's Encrypt issuer solves DNS-01 in Route53)`,
        "name an existing ClusterIssuer, e.g. letsencrypt, or set forkstack:dns to route53",
      );
    }
    if (email === undefined) {
      throw new ConfigError(
        key("tls.email"),
        email,
        "is required with tls.mode cert-manager without tls.issuer (forkstack's own Let's Encrypt issuer)",
        "set the ACME account e-mail, e.g. platform@example.com, or name an existing ClusterIssuer in forkstack:tls.issuer",
      );
    }
  }
  const secrets = mode === "secret" ? parseTlsSecrets(tlsRaw.secrets, upstreams, gatewayNamespace) : undefined;
  return { mode, ...(email === undefined ? {} : { email }), ...(issuer === undefined ? {} : { issuer }), ...(secrets === undefined ? {} : { secrets }) };
}

/**
 * `forkstack:tls.secrets`: every upstream host → an existing TLS Secret in the gateway namespace.
 * Emissary reads a dot in a Secret's name as `name.namespace` (the Module's `secret_namespacing`,
 * https://www.getambassador.io/docs/emissary/latest/topics/running/ambassador/), so names are DNS labels.
 */
function parseTlsSecrets(value: unknown, upstreams: readonly Upstream[], gatewayNamespace: string): Record<string, string> {
  const field = key("tls.secrets");
  const example = `{ ${upstreams[0].host}: tls-shop }`;
  if (value === undefined || value === null) {
    throw new ConfigError(field, value, "is required with tls.mode secret", `map each upstream host to its TLS Secret in namespace ${gatewayNamespace}, e.g. ${example}`);
  }
  const obj = asObject(field, value, `map each upstream host to its TLS Secret in namespace ${gatewayNamespace}, e.g. ${example}`);
  const hosts = upstreams.map((u) => u.host);
  for (const [host, name] of Object.entries(obj)) {
    if (!hosts.includes(host)) {
      throw new ConfigError(`${field}.${host}`, host, "is not an upstream host", `list only hosts of forkstack:upstreams: ${hosts.join(", ")}`);
    }
    if (typeof name !== "string" || !isNamespaceName(name)) {
      throw new ConfigError(`${field}.${host}`, name, "is not a Secret name", `name an existing TLS Secret in namespace ${gatewayNamespace}, a lowercase DNS label, e.g. "tls-shop"`);
    }
  }
  const missing = hosts.find((h) => obj[h] === undefined);
  if (missing !== undefined) {
    throw new ConfigError(
      field,
      Object.keys(obj),
      `lacks upstream ${missing}`,
      `add ${missing}: the name of a TLS Secret in namespace ${gatewayNamespace} covering ${missing} and its fork wildcard`,
    );
  }
  return Object.fromEntries(hosts.map((h) => [h, obj[h] as string]));
}
