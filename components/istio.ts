/**
 * Istio: the `base` (CRDs, cluster roles) and `istiod` (control plane) Helm charts, in
 * `istio-system`, version pinned (https://istio.io/latest/docs/setup/install/helm/). Both releases
 * wait for their resources (`skipAwait: false`), so anything that lists `ready` in `dependsOn` sees
 * Istio's CRDs and a running istiod.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export const ISTIO_NAMESPACE = "istio-system";

export interface IstioArgs {
  /** Exact chart version, e.g. "1.31.1" (https://istio.io/latest/docs/releases/supported-releases/). @default DEFAULTS.istioVersion */
  readonly version: string;
  /**
   * An `https://` Helm repository or an `oci://` registry path holding both charts.
   * @default DEFAULTS.istioChartRepo
   */
  readonly chartRepo: string;
  /** The image registry the charts pull from, given as `global.hub`. @default DEFAULTS.istioHub */
  readonly hub: string;
}

export interface IstioChart {
  /** Helm release name. */
  readonly name: string;
  /** Chart name in the repository. */
  readonly chart: string;
  readonly values: Record<string, unknown>;
}

/** The releases in install order: `base` must exist before `istiod` (Istio's Helm install guide). */
export function istioCharts(hub: string): IstioChart[] {
  // `global.hub` is where both charts take their image registry from; Istio's 1.31+ images exist
  // only on Docker Hub (istio/istio#61467), so the chart default must not be trusted to be reachable.
  const global = { hub };
  return [
    // defaultRevision: the validating webhook of the default revision, as `helm install istio-base` sets it.
    { name: "istio-base", chart: "base", values: { defaultRevision: "default", global } },
    { name: "istiod", chart: "istiod", values: { global } },
  ];
}

/**
 * Where Helm finds a chart: an HTTP repository is named in `repositoryOpts` with the chart by name;
 * an OCI registry has no index, so the chart is addressed as `oci://<path>/<chart>` and no
 * repository is given (https://helm.sh/docs/topics/registries/).
 */
export function chartSource(chartRepo: string, chart: string): { chart: string; repositoryOpts?: { repo: string } } {
  return chartRepo.startsWith("oci://") ? { chart: `${chartRepo}/${chart}` } : { chart, repositoryOpts: { repo: chartRepo } };
}

export class Istio extends pulumi.ComponentResource {
  /** Depend on these to use Istio's CRDs and sidecar injection. */
  public readonly ready: pulumi.Resource[];
  public readonly version: string;

  constructor(name: string, args: IstioArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:istio:Istio", name, {}, opts);
    const releases: k8s.helm.v3.Release[] = [];
    for (const chart of istioCharts(args.hub)) {
      releases.push(
        new k8s.helm.v3.Release(
          `${name}-${chart.chart}`,
          {
            name: chart.name,
            ...chartSource(args.chartRepo, chart.chart),
            version: args.version,
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
