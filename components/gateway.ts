/**
 * AmbassadorGateway: Emissary-ingress 4.x in its own namespace, from its OCI charts (the CRDs chart,
 * then the gateway), scoped to one `ambassador_id`, behind a public LoadBalancer Service, with its
 * Listeners, a Host per shared host and per fork wildcard, and the shared-host Mapping of every
 * upstream (which strips the fork header). The objects are built in gatewayObjects.ts and
 * mappings.ts; this component only wires them to resources. See gatewayNamespace() for the first-hop
 * decision (no sidecar on the gateway).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { HostScheme, TlsMode, Upstream } from "./config";
import {
  ambassadorModule,
  EMISSARY_CRDS_RELEASE,
  EMISSARY_RELEASE,
  emissaryCrdsValues,
  emissaryValues,
  GatewayObjectContext,
  gatewayHosts,
  gatewayListeners,
  gatewayNamespace,
  gatewayService,
  externalDnsAnnotations,
  loadBalancerAnnotations,
} from "./gatewayObjects";
import { sharedMapping } from "./mappings";
import { applyObject } from "./kube/applyObject";

export interface AmbassadorGatewayArgs {
  /** Namespace of the gateway. @default DEFAULTS.gatewayNamespace */
  readonly namespace: string;
  /** Scopes every Emissary object to this install. @default DEFAULTS.ambassadorId */
  readonly ambassadorId: string;
  /** Chart version of both charts (chart version == Emissary version in 4.x). @default DEFAULTS.emissaryVersion */
  readonly version: string;
  readonly crdsChart: string;
  readonly chart: string;
  /**
   * false: Emissary and its CRDs already run in `namespace` (installed by the platform team);
   * forkstack then creates neither the namespace nor the charts, only its own objects in it.
   * @default true
   */
  readonly install?: boolean;
  /** The fork header the shared-host Mappings strip. */
  readonly headerName: string;
  readonly upstreams: readonly Upstream[];
  readonly hostScheme: HostScheme;
  readonly tlsMode: TlsMode;
  /** ACM mode: the validated certificates the load balancer serves. */
  readonly certificateArns?: pulumi.Input<string[]>;
  /** secret mode: each upstream host → the platform's TLS Secret in `namespace` (`forkstack:tls.secrets`). */
  readonly tlsSecrets?: Readonly<Record<string, string>>;
  /**
   * `dns: external-dns`: the names external-dns publishes for the load balancer (the Service's
   * `external-dns.alpha.kubernetes.io/hostname`). @default none: no annotation
   */
  readonly externalDnsNames?: readonly string[];
  /** Resources the gateway waits for (Istio's releases). */
  readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}


export class AmbassadorGateway extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly ambassadorId: string;
  /** The load balancer's DNS name, or its IP where the platform gives one (kind, MetalLB). */
  public readonly address: pulumi.Output<string>;

  constructor(name: string, args: AmbassadorGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:gateway:AmbassadorGateway", name, {}, opts);
    const ctx: GatewayObjectContext = { namespace: args.namespace, ambassadorId: args.ambassadorId, tlsMode: args.tlsMode, hostScheme: args.hostScheme, tlsSecrets: args.tlsSecrets };

    const install = args.install ?? true;
    this.ambassadorId = args.ambassadorId;
    // Objects that must wait for the CRDs and the namespace; the Service waits for the gateway itself.
    let crdDeps: pulumi.Resource[] = [];
    let serviceDeps: pulumi.Input<pulumi.Resource>[] = [];
    if (install) {
      const ns = gatewayNamespace(args.namespace);
      const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, { metadata: ns.metadata }, { parent: this });
      this.namespace = namespace.metadata.name;
      const crds = new k8s.helm.v3.Release(
        `${name}-crds`,
        {
          name: EMISSARY_CRDS_RELEASE,
          chart: args.crdsChart,
          version: args.version,
          namespace: this.namespace,
          values: emissaryCrdsValues(ctx),
          skipAwait: false,
        },
        { parent: this },
      );
      const emissary = new k8s.helm.v3.Release(
        `${name}-emissary`,
        {
          name: EMISSARY_RELEASE,
          chart: args.chart,
          version: args.version,
          namespace: this.namespace,
          values: emissaryValues(ctx),
          skipAwait: false,
        },
        { parent: this, dependsOn: [crds, ...(args.dependsOn ?? [])] },
      );
      crdDeps = [crds, namespace];
      serviceDeps = [emissary];
    } else {
      this.namespace = pulumi.output(args.namespace);
      serviceDeps = [...(args.dependsOn ?? [])];
    }

    // Emissary objects need the CRDs; they are config, so they do not wait for the pods.
    const crdOpts = { parent: this, dependsOn: crdDeps };
    // The Module is the install's own (there is one per ambassador_id); a platform-run Emissary
    // (install: false) keeps its Module, which should strip the fork header the same way.
    if (install) applyObject(`${name}-module`, ambassadorModule(ctx, args.headerName), crdOpts);
    for (const listener of gatewayListeners(ctx)) applyObject(`${name}-listener-${listener.metadata.name}`, listener, crdOpts);
    for (const host of gatewayHosts(args.upstreams, ctx)) applyObject(`${name}-host-${host.metadata.name}`, host, crdOpts);
    const mappingCtx = { ambassadorId: args.ambassadorId, namespace: args.namespace, headerName: args.headerName };
    for (const upstream of args.upstreams) {
      const mapping = sharedMapping(upstream, mappingCtx);
      applyObject(`${name}-mapping-${mapping.metadata.name}`, mapping, crdOpts);
    }

    // Our own LoadBalancer Service rather than a `.get` of the chart's: its status is an output the
    // Kubernetes provider awaits until the load balancer has an address
    // (https://www.pulumi.com/registry/packages/kubernetes/api-docs/core/v1/service/), and it works
    // the same under the offline render, where Helm charts are not expanded.
    const dnsAnnotations = args.externalDnsNames === undefined ? {} : externalDnsAnnotations(args.externalDnsNames);
    const annotations =
      args.tlsMode === "acm"
        ? pulumi.output(args.certificateArns ?? []).apply((arns) => ({ ...loadBalancerAnnotations("acm", arns), ...dnsAnnotations }))
        : pulumi.output({ ...loadBalancerAnnotations(args.tlsMode, []), ...dnsAnnotations });
    const svc = gatewayService(ctx, {});
    const service = new k8s.core.v1.Service(
      `${name}-service`,
      { metadata: { ...svc.metadata, annotations }, spec: svc.spec as k8s.types.input.core.v1.ServiceSpec },
      { parent: this, dependsOn: serviceDeps },
    );
    this.address = service.status.apply((status) => {
      const ingress = status?.loadBalancer?.ingress?.[0];
      const address = ingress?.hostname ?? ingress?.ip;
      if (address === undefined || address === "") {
        throw new pulumi.ResourceError(
          `Service ${args.namespace}/${svc.metadata.name} has no load balancer address; the cluster needs a LoadBalancer implementation (EKS, or MetalLB/cloud-provider-kind locally)`,
          this,
        );
      }
      return address;
    });
    this.registerOutputs({ namespace: this.namespace, ambassadorId: this.ambassadorId, address: this.address });
  }
}
