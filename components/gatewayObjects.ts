/**
 * The gateway's Kubernetes and Emissary objects as plain data: its namespace, Listeners, Hosts, the
 * public LoadBalancer Service and the Helm values of the two Emissary charts. AmbassadorGateway
 * (gateway.ts) only turns these into resources, so every decision here is tested without mocks.
 *
 * Emissary objects are getambassador.io/v3alpha1 with the field shapes of the CRDs Emissary 4.x ships
 * (https://www.getambassador.io/docs/emissary/latest/topics/running/host-crd/ and
 * .../topics/running/listener/).
 */
import type { KubeObject } from "./kube/objects";
import { TlsMode, Upstream, HostScheme } from "./config";
import { hostResourceName, LABELS, MANAGED_BY, tlsSecretName, wildcardHost } from "./naming";

export const EMISSARY_API_VERSION = "getambassador.io/v3alpha1";

/** Helm release names; the chart names its pods after the release (`app.kubernetes.io/instance`). */
export const EMISSARY_RELEASE = "emissary-ingress";
export const EMISSARY_CRDS_RELEASE = "emissary-crds";
/** The chart's `ambassador.name` (its chart name): the pods' `app.kubernetes.io/name`. */
export const EMISSARY_APP_NAME = "emissary-ingress";
/** Our public LoadBalancer Service (the chart's own Service is left as ClusterIP). */
export const GATEWAY_SERVICE_NAME = "forkstack-gateway";

/** The ports Emissary listens on inside the pod (the chart's defaults). */
export const HTTP_PORT = 8080;
export const HTTPS_PORT = 8443;

/** What the gateway objects depend on, all taken from the validated base config. */
export interface GatewayObjectContext {
  readonly namespace: string;
  readonly ambassadorId: string;
  readonly tlsMode: TlsMode;
  readonly hostScheme: HostScheme;
  /** secret mode: each upstream host → the platform's TLS Secret (in `namespace`) covering it and its fork wildcard. */
  readonly tlsSecrets?: Readonly<Record<string, string>>;
}

const managedLabels = { [LABELS.managedBy]: MANAGED_BY };

/** An Emissary object of the gateway: in its namespace, labelled as forkstack's, scoped to its ambassador_id. */
function gatewayObject(kind: string, name: string, ctx: GatewayObjectContext, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: EMISSARY_API_VERSION, kind, metadata: { name, namespace: ctx.namespace, labels: { ...managedLabels } }, spec: { ambassador_id: [ctx.ambassadorId], ...spec } };
}

/**
 * The gateway namespace, labelled `istio-injection: disabled`.
 *
 * FIRST-HOP DECISION (../shared/DESIGN.md, "The first hop"): the gateway runs without an Istio
 * sidecar, so its outbound requests never pass a sidecar and VirtualServices do not decide the
 * gateway → entry-service hop. Emissary's own Istio integration
 * (https://www.getambassador.io/docs/emissary/latest/howtos/istio/) also keeps Emissary's routing
 * out of the sidecar's hands. Instead, a fork's Mapping targets the fork's own copy of the entry
 * service when the fork copies it, and the shared entry service otherwise (components/mappings.ts),
 * and every later hop is routed by the callee's VirtualService in the caller's sidecar. The label
 * makes the decision explicit even where a cluster injects sidecars by default.
 */
export function gatewayNamespace(name: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels: { ...managedLabels, "istio-injection": "disabled" } },
  };
}

/** The pod labels the chart gives Emissary (pinned through `service.selector`, see emissaryValues). */
export function emissarySelector(): Record<string, string> {
  return { "app.kubernetes.io/name": EMISSARY_APP_NAME, "app.kubernetes.io/instance": EMISSARY_RELEASE };
}

/**
 * Listeners. ACM mode: TLS ends at the load balancer, which forwards its port 443 as plain HTTP to
 * 8443 and its port 80 to 8080, so security is decided by port (`SECURE`/`INSECURE`) rather than by
 * X-Forwarded-Proto, which only an L7 load balancer would set. `l7Depth: 1` tells Emissary one
 * L7 proxy sits in front when the load balancer is a classic ELB in HTTP mode.
 * cert-manager mode: TLS ends in Emissary on 8443 (HTTPS); both listeners use the `XFP` model the
 * chart's default listeners use.
 */
export function gatewayListeners(ctx: GatewayObjectContext): KubeObject[] {
  const acm = ctx.tlsMode === "acm";
  const listener = (name: string, port: number, protocol: "HTTP" | "HTTPS", securityModel: "XFP" | "SECURE" | "INSECURE"): KubeObject =>
    gatewayObject("Listener", name, ctx, {
      port,
      protocol,
      securityModel,
      // Mappings and Hosts of any namespace bind to this Listener; ambassador_id still scopes them.
      hostBinding: { namespace: { from: "ALL" } },
      ...(acm ? { l7Depth: 1 } : {}),
    });
  return acm
    ? [listener("forkstack-http", HTTP_PORT, "HTTP", "INSECURE"), listener("forkstack-https", HTTPS_PORT, "HTTP", "SECURE")]
    : [listener("forkstack-http", HTTP_PORT, "HTTP", "XFP"), listener("forkstack-https", HTTPS_PORT, "HTTPS", "XFP")];
}

/**
 * The fork wildcards the gateway serves, once each: `*.U` per upstream in the subdomain scheme, one
 * shared `*.<parent>` in the flat scheme.
 */
export function forkHostPatterns(upstreams: readonly Upstream[], scheme: HostScheme): string[] {
  return [...new Set(upstreams.map((u) => wildcardHost(u.host, scheme)))];
}

/**
 * The TLS Secret a Host serves for an upstream: cert-manager's (named by tlsSecretName) or the
 * platform's (`tls.secrets`); none in ACM mode, where TLS ends at the load balancer.
 */
export function tlsSecretOf(upstreamHost: string, ctx: GatewayObjectContext): string | undefined {
  if (ctx.tlsMode === "cert-manager") return tlsSecretName(upstreamHost);
  if (ctx.tlsMode === "secret") {
    const secret = ctx.tlsSecrets?.[upstreamHost];
    if (secret === undefined) throw new Error(`tls.mode secret: no TLS Secret for ${upstreamHost} (the config parser requires one per upstream)`);
    return secret;
  }
  return undefined;
}

/**
 * Hosts: one per upstream's shared host and one per fork wildcard. Plain HTTP is redirected to
 * HTTPS. ACME is switched off (`authority: none`): certificates come from ACM (at the load
 * balancer), cert-manager or the platform's Secrets (tlsSecret, tlsSecretOf).
 */
export function gatewayHosts(upstreams: readonly Upstream[], ctx: GatewayObjectContext): KubeObject[] {
  const host = (name: string, hostname: string, secretOf: string): KubeObject => {
    const secret = tlsSecretOf(secretOf, ctx);
    return gatewayObject("Host", name, ctx, {
      hostname,
      acmeProvider: { authority: "none" },
      ...(secret === undefined ? {} : { tlsSecret: { name: secret } }),
      requestPolicy: { insecure: { action: "Redirect" } },
    });
  };
  const shared = upstreams.map((u) => host(hostResourceName(u.host, false), u.host, u.host));
  const forks = forkHostPatterns(upstreams, ctx.hostScheme).map((pattern) => {
    // The first upstream with this wildcard owns the certificate (or Secret) that covers it.
    const owner = upstreams.find((u) => wildcardHost(u.host, ctx.hostScheme) === pattern)!;
    return host(hostResourceName(pattern.slice(2), true), pattern, owner.host);
  });
  return [...shared, ...forks];
}

/**
 * Annotations of the public Service. ACM mode: TLS ends at the load balancer on port 443 with the
 * validated ACM certificates and plain HTTP goes to the pods
 * (https://kubernetes.io/docs/reference/labels-annotations-taints/#service-beta-kubernetes-io-aws-load-balancer-ssl-cert
 * and the cloud-provider-aws service annotations). One certificate (up to 5 upstreams): the
 * in-tree classic ELB. More: the AWS Load Balancer Controller's NLB, the only Service load balancer
 * that serves several certificates by SNI (it reads the same annotation as a comma-separated list,
 * https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/#ssl-cert);
 * the controller must then be installed in the cluster.
 * cert-manager and secret modes: a plain TCP load balancer; TLS ends in Emissary.
 */
export function loadBalancerAnnotations(tlsMode: TlsMode, certificateArns: readonly string[]): Record<string, string> {
  if (tlsMode !== "acm") return {};
  if (certificateArns.length === 0) throw new Error("ACM mode needs at least one certificate ARN");
  const tls = {
    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": certificateArns.join(","),
    "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
  };
  if (certificateArns.length === 1) return { ...tls, "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "http" };
  return {
    ...tls,
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
  };
}

/** The annotation external-dns reads on a Service: the names it publishes for the load balancer. */
export const EXTERNAL_DNS_HOSTNAME = "external-dns.alpha.kubernetes.io/hostname";

/**
 * `dns: external-dns`: every shared host and fork wildcard (dnsRecordNames), comma-separated and
 * sorted, so the annotation does not change with the order of the upstreams. external-dns publishes
 * a record for each name, pointing at the Service's load balancer, on any DNS provider
 * (https://github.com/kubernetes-sigs/external-dns/blob/master/docs/annotations/annotations.md,
 * "external-dns.alpha.kubernetes.io/hostname": a comma-separated list, wildcards allowed).
 */
export function externalDnsAnnotations(names: readonly string[]): Record<string, string> {
  return { [EXTERNAL_DNS_HOSTNAME]: [...new Set(names)].sort().join(",") };
}

/** The public LoadBalancer Service in front of Emissary: 80 → 8080 and 443 → 8443 in both modes. */
export function gatewayService(ctx: GatewayObjectContext, annotations: Record<string, string>): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: GATEWAY_SERVICE_NAME, namespace: ctx.namespace, labels: managedLabels, annotations },
    spec: {
      type: "LoadBalancer",
      selector: emissarySelector(),
      ports: [
        { name: "http", port: 80, targetPort: HTTP_PORT, protocol: "TCP" },
        { name: "https", port: 443, targetPort: HTTPS_PORT, protocol: "TCP" },
      ],
    },
  };
}

/**
 * Values of the emissary-ingress chart (4.x, charts/emissary-chart/values.yaml in
 * emissary-ingress/emissary). `env.AMBASSADOR_ID` is how the chart scopes the install: it becomes
 * the pods' AMBASSADOR_ID and the `ambassador_id` of the Module it creates.
 */
export function emissaryValues(ctx: GatewayObjectContext): Record<string, unknown> {
  return {
    replicaCount: 2,
    env: { AMBASSADOR_ID: ctx.ambassadorId },
    // Our own LoadBalancer Service (gatewayService) is the public entry; the chart's stays internal.
    // `service.selector` pins the pod labels our Service selects.
    service: { type: "ClusterIP", selector: emissarySelector() },
    // forkstack creates its own Listeners (gatewayListeners).
    createDefaultListeners: false,
    // No apiext: the CRDs chart is installed without the legacy versions and their conversion webhook.
    waitForApiext: { enabled: false },
    // Another ingress controller may own the "ambassador" IngressClass; forkstack uses CRDs only.
    ingressClassResource: { enabled: false },
    // The first-hop decision (see gatewayNamespace): no sidecar, even where injection is forced.
    podAnnotations: { "sidecar.istio.io/inject": "false" },
    module: { diagnostics: { enabled: false } },
  };
}

/**
 * Values of emissary-crds-chart: only the current versions (v3alpha1 is what forkstack writes), so
 * no conversion webhook (apiext) runs.
 */
export function emissaryCrdsValues(ctx: GatewayObjectContext): Record<string, unknown> {
  return { enableLegacyVersions: false, emissary: { namespace: ctx.namespace } };
}

/**
 * The `ambassador` Module: every Mapping of this install that does not list its own
 * `remove_request_headers` strips the fork header (`defaults.httpmapping`; a Mapping's own list
 * replaces the default: https://www.getambassador.io/docs/emissary/latest/topics/running/ambassador/).
 * So any way in from outside — an app team's Mapping, another Listener or Host — removes a header a
 * client sent; only fork Mappings set it (Envoy removes before it adds, so theirs survives).
 */
export function ambassadorModule(ctx: GatewayObjectContext, headerName: string): KubeObject {
  return gatewayObject("Module", "ambassador", ctx, { config: { defaults: { httpmapping: { remove_request_headers: [headerName] } } } });
}
