/**
 * Istio: the `base` (CRDs, cluster roles) and `istiod` (control plane) Helm charts from Istio's chart
 * repository, in `istio-system`, version pinned (https://istio.io/latest/docs/setup/install/helm/).
 * Both releases wait for their resources (`skipAwait: false`), so anything that lists `ready` in
 * `dependsOn` sees Istio's CRDs and a running istiod.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export const ISTIO_NAMESPACE = "istio-system";

export interface IstioArgs {
  /** Exact chart version, e.g. "1.30.4" (https://istio.io/latest/docs/releases/supported-releases/). */
  readonly version: string;
  /** @default DEFAULTS.istioChartRepo */
  readonly chartRepo: string;
}

/** The releases in install order: `base` must exist before `istiod` (Istio's Helm install guide). */
export function istioCharts(): { name: string; chart: string; values: Record<string, unknown> }[] {
  return [
    // defaultRevision: the validating webhook of the default revision, as `helm install istio-base` sets it.
    { name: "istio-base", chart: "base", values: { defaultRevision: "default" } },
    { name: "istiod", chart: "istiod", values: {} },
  ];
}

export class Istio extends pulumi.ComponentResource {
  /** Depend on these to use Istio's CRDs and sidecar injection. */
  public readonly ready: pulumi.Resource[];
  public readonly version: string;

  constructor(name: string, args: IstioArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:istio:Istio", name, {}, opts);
    const releases: k8s.helm.v3.Release[] = [];
    for (const chart of istioCharts()) {
      releases.push(
        new k8s.helm.v3.Release(
          `${name}-${chart.chart}`,
          {
            name: chart.name,
            chart: chart.chart,
            version: args.version,
            repositoryOpts: { repo: args.chartRepo },
            namespace: ISTIO_NAMESPACE,
            createNamespace: true,
            values: chart.values,
            skipAwait: false,
          },
          { parent: this, dependsOn: [...releases] },
        ),
      );
    }
    this.ready = releases;
    this.version = args.version;
    this.registerOutputs({ version: args.version });
  }
}
