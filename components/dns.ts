/**
 * Wildcard DNS and certificates of the shared environment's hosts, in the Route53 hosted zone of
 * `forkstack:domain`.
 *
 * A certificate name covers one label (`*.dev.example.com` does not cover
 * `alice.shop.dev.example.com`), so every upstream host U needs `*.U` (subdomain scheme) on a
 * certificate and a DNS record `*.U` → the gateway's load balancer, besides U itself.
 *
 * - WildcardCertificates, ACM mode (default): certificates with DNS validation, at most 10 names
 *   each (ACM's default quota of domain names per certificate:
 *   https://docs.aws.amazon.com/acm/latest/userguide/acm-limits.html), their validation records
 *   and `CertificateValidation`s. TLS ends at the load balancer.
 * - WildcardCertificates, cert-manager mode: a Certificate per upstream in the gateway namespace,
 *   from the platform's ClusterIssuer (`tls.issuer`: the platform runs cert-manager and the issuer),
 *   or else from forkstack's own cert-manager install and Let's Encrypt ClusterIssuer solving DNS-01
 *   in Route53. TLS ends in Emissary.
 * - WildcardDns (`dns: route53`): the records of every shared host and fork wildcard → the load
 *   balancer, in the Route53 hosted zone `forkstack:domain`, whatever the cluster.
 *
 * Nothing here runs for `tls.mode: secret` (the platform's TLS Secrets) or for `dns: external-dns`
 * or `none` (components/base.ts); `dnsRecords` says what to create by hand with `none`.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, HostScheme, TlsMode, Upstream } from "./config";
import { ConfigError } from "./errors";
import { dnsNameSlug, hostSlug, LABELS, MANAGED_BY, tlsSecretName, wildcardHost } from "./naming";

/** ACM's default quota of domain names per certificate. */
export const ACM_NAMES_PER_CERTIFICATE = 10;

/** cert-manager's chart (https://cert-manager.io/docs/installation/helm/), pinned. */
export const CERT_MANAGER = { repo: "https://charts.jetstack.io", chart: "cert-manager", version: "v1.19.1", namespace: "cert-manager" } as const;
export const CLUSTER_ISSUER_NAME = "forkstack-letsencrypt";
export const LETSENCRYPT_SERVER = "https://acme-v02.api.letsencrypt.org/directory";

// --- pure helpers ---------------------------------------------------------------------------------

/**
 * Every name that needs a DNS record: each shared host and each fork wildcard, once. A CNAME cannot
 * live at the zone apex (RFC 1912 2.4), so an upstream host equal to the domain is refused.
 */
export function dnsRecordNames(upstreams: readonly Upstream[], domain: string, scheme: HostScheme): string[] {
  upstreams.forEach((u, i) => {
    if (u.host === domain) {
      throw new ConfigError(`${CONFIG_NAMESPACE}:upstreams[${i}].host`, u.host, "is the zone apex, which cannot hold the gateway's CNAME", `use a host below it, e.g. "shop.${domain}"`);
    }
  });
  return [...new Set(upstreams.flatMap((u) => [u.host, wildcardHost(u.host, scheme)]))];
}

/**
 * The names of each ACM certificate: every fork wildcard and shared host once, an upstream's
 * wildcard and host side by side, at most `max` per certificate. Upstreams are taken sorted by host,
 * so reordering the config changes nothing and a new upstream only touches the chunk it sorts into
 * and the boundaries after it.
 */
export function certificateNameChunks(upstreams: readonly Upstream[], scheme: HostScheme, max = ACM_NAMES_PER_CERTIFICATE): string[][] {
  const hosts = [...new Set(upstreams.map((u) => u.host))].sort();
  const names = [...new Set(hosts.flatMap((host) => [wildcardHost(host, scheme), host]))];
  const chunks: string[][] = [];
  for (let i = 0; i < names.length; i += max) chunks.push(names.slice(i, i + max));
  return chunks;
}

/** ACM validates `*.U` and `U` with the same CNAME record, so records are keyed by the name without `*.`. */
export function validationKey(name: string): string {
  return name.replace(/^\*\./, "");
}

/** The record type pointing a name at the load balancer: A for an IP, CNAME for a DNS name. */
export function recordType(address: string): "A" | "CNAME" {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(address) ? "A" : "CNAME";
}

/** A DNS record the platform team creates by hand (`dns: none`): the base stack's `dnsRecords` output. */
export interface DnsRecord {
  readonly name: string;
  readonly type: "A" | "CNAME";
  readonly target: string;
}

/** The records pointing every name of dnsRecordNames at the gateway's address, as WildcardDns writes them. */
export function dnsRecords(names: readonly string[], address: string): DnsRecord[] {
  return names.map((name) => ({ name, type: recordType(address), target: address }));
}

/**
 * The cert-manager Certificate of an upstream: its shared host and its fork wildcard, issued by
 * `issuer` (a ClusterIssuer), forkstack's own Let's Encrypt issuer by default.
 */
export function upstreamCertificate(upstream: Upstream, scheme: HostScheme, namespace: string, issuer: string = CLUSTER_ISSUER_NAME) {
  const name = tlsSecretName(upstream.host);
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "Certificate",
    metadata: { name, namespace, labels: { [LABELS.managedBy]: MANAGED_BY } },
    spec: {
      secretName: name,
      dnsNames: [upstream.host, wildcardHost(upstream.host, scheme)],
      issuerRef: { group: "cert-manager.io", kind: "ClusterIssuer", name: issuer },
    },
  };
}

/** The ACME ClusterIssuer solving DNS-01 in the Route53 zone (https://cert-manager.io/docs/configuration/acme/dns01/route53/). */
export function clusterIssuer(args: { email: string; domain: string; zoneId: string; region: string }) {
  return {
    apiVersion: "cert-manager.io/v1",
    kind: "ClusterIssuer",
    metadata: { name: CLUSTER_ISSUER_NAME, labels: { [LABELS.managedBy]: MANAGED_BY } },
    spec: {
      acme: {
        email: args.email,
        server: LETSENCRYPT_SERVER,
        privateKeySecretRef: { name: `${CLUSTER_ISSUER_NAME}-account` },
        // Credentials come from the cert-manager pods' ambient AWS identity (node role or IRSA).
        solvers: [{ selector: { dnsZones: [args.domain] }, dns01: { route53: { region: args.region, hostedZoneID: args.zoneId } } }],
      },
    },
  };
}

// --- components -----------------------------------------------------------------------------------

export interface WildcardCertificatesArgs {
  readonly domain: string;
  readonly upstreams: readonly Upstream[];
  readonly hostScheme: HostScheme;
  readonly tlsMode: TlsMode;
  /** cert-manager mode: the ACME account e-mail of forkstack's own issuer (without `issuer`). */
  readonly email?: string;
  /**
   * cert-manager mode: an existing ClusterIssuer. Given: the platform runs cert-manager and the
   * issuer, and only the Certificates are created. @default forkstack installs cert-manager and its
   * own Let's Encrypt ClusterIssuer (Route53 DNS-01)
   */
  readonly issuer?: string;
  /** cert-manager mode: where the Certificates and their Secrets live (the gateway's namespace). */
  readonly namespace: pulumi.Input<string>;
}

export class WildcardCertificates extends pulumi.ComponentResource {
  /** ACM mode: the ARNs of the validated certificates; [] in cert-manager mode. */
  public readonly certificateArns: pulumi.Output<string[]>;
  /** Every name the certificates cover. */
  public readonly names: string[];

  constructor(name: string, args: WildcardCertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:dns:WildcardCertificates", name, {}, opts);
    const parent = { parent: this };
    if (args.tlsMode === "secret") throw new Error("tls.mode secret uses the platform's TLS Secrets: no WildcardCertificates");

    if (args.tlsMode === "acm") {
      const zone = aws.route53.getZoneOutput({ name: args.domain, privateZone: false }, parent);
      const chunks = certificateNameChunks(args.upstreams, args.hostScheme);
      this.names = chunks.flat();
      const records = new Map<string, aws.route53.Record>();
      const validations = chunks.map((names) => {
        // Named after the first name it covers, not its position: a certificate keeps its identity
        // while the chunks before it change. A new first name means a new domainName, which ACM
        // cannot change in place (CloudFormation: "Update requires: Replacement",
        // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-certificatemanager-certificate.html),
        // so a rename never replaces a certificate that would otherwise have stayed.
        const certName = `${name}-${dnsNameSlug(names[0])}`;
        const cert = new aws.acm.Certificate(
          certName,
          { domainName: names[0], subjectAlternativeNames: names.slice(1), validationMethod: "DNS", tags: { "managed-by": MANAGED_BY } },
          parent,
        );
        const fqdns = [...new Set(names.map(validationKey))].map((key) => {
          let record = records.get(key);
          if (record === undefined) {
            const option = cert.domainValidationOptions.apply((opts) => {
              const found = opts.find((o) => validationKey(o.domainName) === key);
              if (found === undefined) throw new pulumi.ResourceError(`ACM returned no validation record for ${key}`, cert);
              return found;
            });
            record = new aws.route53.Record(
              `${name}-validation-${hostSlug(key)}`,
              {
                zoneId: zone.zoneId,
                name: option.resourceRecordName,
                type: option.resourceRecordType,
                records: [option.resourceRecordValue],
                ttl: 60,
                // The same record validates every certificate naming this host, also across stacks.
                allowOverwrite: true,
              },
              parent,
            );
            records.set(key, record);
          }
          return record.fqdn;
        });
        return new aws.acm.CertificateValidation(certName, { certificateArn: cert.arn, validationRecordFqdns: fqdns }, parent);
      });
      // The validated ARN: the load balancer only accepts issued certificates.
      this.certificateArns = pulumi.all(validations.map((v) => v.certificateArn));
      this.registerOutputs({ certificateArns: this.certificateArns });
      return;
    }

    this.names = args.upstreams.flatMap((u) => [u.host, wildcardHost(u.host, args.hostScheme)]);
    this.certificateArns = pulumi.output([]);
    const issuerName = args.issuer ?? CLUSTER_ISSUER_NAME;
    // The platform's own ClusterIssuer: cert-manager runs already, so the Certificates need nothing else.
    const issuerDeps = args.issuer === undefined ? [this.ownIssuer(name, args)] : [];
    for (const upstream of args.upstreams) {
      const cert = upstreamCertificate(upstream, args.hostScheme, "", issuerName);
      new k8s.apiextensions.CustomResource(
        `${name}-${cert.metadata.name}`,
        { apiVersion: cert.apiVersion, kind: cert.kind, metadata: { ...cert.metadata, namespace: args.namespace }, spec: cert.spec },
        { parent: this, dependsOn: issuerDeps },
      );
    }
    this.registerOutputs({ certificateArns: this.certificateArns });
  }

  /** cert-manager and forkstack's Let's Encrypt ClusterIssuer, solving DNS-01 in the Route53 zone. */
  private ownIssuer(name: string, args: WildcardCertificatesArgs): pulumi.Resource {
    const parent = { parent: this };
    const email = args.email;
    if (email === undefined) throw new ConfigError(`${CONFIG_NAMESPACE}:tls.email`, email, "is required with tls.mode cert-manager without tls.issuer", "set the ACME account e-mail");
    const zone = aws.route53.getZoneOutput({ name: args.domain, privateZone: false }, parent);
    const certManager = new k8s.helm.v3.Release(
      `${name}-cert-manager`,
      {
        name: CERT_MANAGER.chart,
        chart: CERT_MANAGER.chart,
        version: CERT_MANAGER.version,
        repositoryOpts: { repo: CERT_MANAGER.repo },
        namespace: CERT_MANAGER.namespace,
        createNamespace: true,
        values: { crds: { enabled: true } },
        skipAwait: false,
      },
      parent,
    );
    const region = aws.getRegionOutput({}, parent).region;
    const issuerObject = pulumi.all([zone.zoneId, region]).apply(([zoneId, r]) => clusterIssuer({ email, domain: args.domain, zoneId, region: r }));
    return new k8s.apiextensions.CustomResource(
      `${name}-issuer`,
      { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: CLUSTER_ISSUER_NAME, labels: { [LABELS.managedBy]: MANAGED_BY } }, spec: issuerObject.spec },
      { parent: this, dependsOn: [certManager] },
    );
  }
}

export interface WildcardDnsArgs {
  readonly domain: string;
  readonly upstreams: readonly Upstream[];
  readonly hostScheme: HostScheme;
  /** The gateway load balancer's DNS name (or IP). */
  readonly address: pulumi.Input<string>;
}

export class WildcardDns extends pulumi.ComponentResource {
  /** The record names created, e.g. ["shop.dev.example.com", "*.shop.dev.example.com"]. */
  public readonly names: string[];
  public readonly records: aws.route53.Record[];

  constructor(name: string, args: WildcardDnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:dns:WildcardDns", name, {}, opts);
    this.names = dnsRecordNames(args.upstreams, args.domain, args.hostScheme);
    const zone = aws.route53.getZoneOutput({ name: args.domain, privateZone: false }, { parent: this });
    const address = pulumi.output(args.address);
    // protect: these are what every developer's URL resolves through; removing one is deliberate.
    this.records = this.names.map(
      (recordName) =>
        new aws.route53.Record(
        `${name}-${dnsNameSlug(recordName)}`,
        { zoneId: zone.zoneId, name: recordName, type: address.apply(recordType), ttl: 300, records: [address] },
        { parent: this, protect: true },
      ),
    );
    this.registerOutputs({ names: this.names });
  }
}
