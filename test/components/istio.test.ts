import * as k8s from "@pulumi/kubernetes";
import { chartSource, Istio, istioCharts, ISTIO_NAMESPACE } from "../../components/istio";
import { DEFAULTS } from "../../components/config";
import { SimulatedCluster } from "../../render/cluster";
import { runStack } from "../../render/runtime";

async function run(args: { chartRepo?: string; hub?: string } = {}) {
  let istio: Istio | undefined;
  const result = await runStack({
    stack: "dev",
    config: {},
    cluster: new SimulatedCluster(),
    program: () => {
      istio = new Istio("istio", { version: DEFAULTS.istioVersion, chartRepo: args.chartRepo ?? DEFAULTS.istioChartRepo, hub: args.hub ?? DEFAULTS.istioHub });
      return {};
    },
  });
  const releases = result.resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release");
  return { ...result, releases, istio: istio! };
}

describe("Istio", () => {
  it("installs base before istiod", () => {
    expect(istioCharts("docker.io/istio").map((c) => c.chart)).toEqual(["base", "istiod"]);
  });

  it("pins both charts to 1.31.x from blob.istio.io in istio-system by default", async () => {
    const { releases } = await run();
    expect(releases.map((r) => [r.plainInputs.name, r.plainInputs.chart, r.plainInputs.version, (r.plainInputs.repositoryOpts as any).repo, r.plainInputs.namespace])).toEqual([
      ["istio-base", "base", "1.31.1", "https://blob.istio.io/istio-release/charts", ISTIO_NAMESPACE],
      ["istiod", "istiod", "1.31.1", "https://blob.istio.io/istio-release/charts", ISTIO_NAMESPACE],
    ]);
  });

  it("gives both charts the image registry docker.io/istio as global.hub by default", async () => {
    const { releases } = await run();
    expect(releases.map((r) => (r.plainInputs.values as any).global.hub)).toEqual(["docker.io/istio", "docker.io/istio"]);
  });

  it("addresses each chart under an oci:// path without a repository, with the configured hub", async () => {
    const { releases } = await run({ chartRepo: "oci://ghcr.io/istio/release/charts", hub: "mirror.example.com:5000/istio" });
    expect(releases.map((r) => [r.plainInputs.chart, r.plainInputs.repositoryOpts, (r.plainInputs.values as any).global.hub])).toEqual([
      ["oci://ghcr.io/istio/release/charts/base", undefined, "mirror.example.com:5000/istio"],
      ["oci://ghcr.io/istio/release/charts/istiod", undefined, "mirror.example.com:5000/istio"],
    ]);
  });

  it("never points at Istio's retired Google Cloud locations", () => {
    const sources = JSON.stringify([DEFAULTS, istioCharts(DEFAULTS.istioHub), chartSource(DEFAULTS.istioChartRepo, "base")]);
    expect(sources).not.toMatch(/googleapis\.com|gcr\.io/);
  });

  it("waits for its resources, so dependents see the CRDs", async () => {
    const { releases } = await run();
    expect(releases.map((r) => r.plainInputs.skipAwait)).toEqual([false, false]);
  });

  it("exposes both releases for dependsOn", async () => {
    const { istio } = await run();
    expect(istio.ready.map((r) => r instanceof k8s.helm.v3.Release)).toEqual([true, true]);
  });
});
