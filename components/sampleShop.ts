/**
 * The sample shared environment (examples/): a small shop in one Istio-injected namespace,
 * frontend → api → catalog → inventory, and api → cart. Every service runs podinfo
 * (https://github.com/stefanprodan/podinfo): `POST /api/echo` forwards the body to each
 * `--backend-url`, so one request walks the whole chain.
 *
 * Header propagation: podinfo's echo handler copies only the tracing headers (`x-request-id`,
 * `x-b3-*`, `x-ot-span-context`; pkg/api/http/echo.go `copyTracingHeaders`) to its backend calls,
 * not the fork header. On a live cluster a fork therefore steers the gateway hop (its Mapping targets
 * the fork's copy of the entry service) but not the later hops until the services propagate
 * `x-fork-identifier` themselves. The offline render and `npm run explain` assume they do.
 *
 * Built with @pulumi/kubernetesx 0.1.6 (PodBuilder, Deployment, createService). That package
 * declares a peer range of @pulumi/kubernetes ^3; package.json pins 4.x through `overrides`, and
 * test/components/sampleShop.test.ts shows it registers valid objects under the SDK's mocks.
 */
import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";

/** One service of the shop, as plain data. */
export interface ShopService {
  /** Service, Deployment and container name; pods carry `app: <name>`. */
  readonly name: string;
  /** Services it calls, in its namespace. */
  readonly calls: readonly string[];
}

/** The shop's call graph: the entry service first. */
export const SHOP_SERVICES: readonly ShopService[] = [
  { name: "frontend", calls: ["api"] },
  { name: "api", calls: ["catalog", "cart"] },
  { name: "catalog", calls: ["inventory"] },
  { name: "inventory", calls: [] },
  { name: "cart", calls: [] },
];

export const SHOP_DEFAULTS = {
  namespace: "shop",
  /** A small public image with an HTTP echo chain; https://github.com/stefanprodan/podinfo/releases */
  image: "ghcr.io/stefanprodan/podinfo:6.7.1",
  /** podinfo's default HTTP port. */
  containerPort: 9898,
  /** The Service port; the base stack's upstream is `frontend.shop:80`. */
  servicePort: 80,
  /** The service that gets a HorizontalPodAutoscaler (forks never copy it). */
  autoscaled: "catalog",
} as const;

/** podinfo's command line for a service: its own name as the message, one --backend-url per call. */
export function podinfoCommand(service: ShopService, namespace: string, servicePort: number = SHOP_DEFAULTS.servicePort): string[] {
  return [
    "./podinfo",
    `--port=${SHOP_DEFAULTS.containerPort}`,
    "--level=info",
    ...service.calls.map((callee) => `--backend-url=http://${callee}.${namespace}:${servicePort}/api/echo`),
  ];
}

export interface SampleShopArgs {
  /** Namespace for the shop; created with `istio-injection: enabled`
   * (https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/). @default "shop" */
  readonly namespace?: string;
  /** The image every service runs. @default ghcr.io/stefanprodan/podinfo:6.7.1 */
  readonly image?: string;
}

export class SampleShop extends pulumi.ComponentResource {
  /** The shop's namespace. */
  public readonly namespace: pulumi.Output<string>;
  /** The entry Service as the base stack's upstream names it: `frontend.shop:80`. */
  public readonly entry: pulumi.Output<string>;
  /** Names of the shop's Services. */
  public readonly services: string[];

  constructor(name: string, args: SampleShopArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:sample:SampleShop", name, {}, opts);
    const namespaceName = args.namespace ?? SHOP_DEFAULTS.namespace;
    const image = args.image ?? SHOP_DEFAULTS.image;

    const namespace = new k8s.core.v1.Namespace(
      `${name}-namespace`,
      { metadata: { name: namespaceName, labels: { "istio-injection": "enabled" } } },
      { parent: this },
    );
    this.namespace = namespace.metadata.name;

    for (const service of SHOP_SERVICES) {
      const pod = new kx.PodBuilder({
        containers: [
          {
            name: service.name,
            image,
            command: podinfoCommand(service, namespaceName),
            // Istio picks the protocol from the port name (https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/).
            ports: { http: SHOP_DEFAULTS.containerPort },
            readinessProbe: { httpGet: { path: "/readyz", port: "http" } },
            resources: { requests: { cpu: "10m", memory: "32Mi" } },
          },
        ],
      });
      const deployment = new kx.Deployment(
        `${name}-${service.name}`,
        {
          metadata: { name: service.name, namespace: this.namespace, labels: { app: service.name, "app.kubernetes.io/part-of": "sample-shop" } },
          spec: pod.asDeploymentSpec({ replicas: 1 }),
        },
        // kubernetesx's createService leaves metadata.name unset (so Pulumi would auto-name it
        // `<name>-<random>`); the shop's callers need the plain name, so name it here.
        { parent: this, transformations: [nameServiceAs(service.name)] },
      );
      deployment.createService({ ports: [{ name: "http", port: SHOP_DEFAULTS.servicePort, targetPort: "http" }] });

      if (service.name === SHOP_DEFAULTS.autoscaled) {
        new k8s.autoscaling.v2.HorizontalPodAutoscaler(
          `${name}-${service.name}-hpa`,
          {
            metadata: { name: service.name, namespace: this.namespace },
            spec: {
              scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: service.name },
              minReplicas: 1,
              maxReplicas: 3,
              metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } } }],
            },
          },
          { parent: this, dependsOn: [deployment] },
        );
      }
    }

    this.entry = this.namespace.apply((ns) => `${SHOP_SERVICES[0].name}.${ns}:${SHOP_DEFAULTS.servicePort}`);
    this.services = SHOP_SERVICES.map((s) => s.name);
    this.registerOutputs({ namespace: this.namespace, entry: this.entry, services: this.services });
  }
}

/** A transformation that gives the Service kubernetesx creates a fixed name. */
function nameServiceAs(serviceName: string): pulumi.ResourceTransformation {
  return (args) => {
    if (args.type !== "kubernetes:core/v1:Service") return undefined;
    return { props: { ...args.props, metadata: { ...(args.props.metadata ?? {}), name: serviceName } }, opts: args.opts };
  };
}
