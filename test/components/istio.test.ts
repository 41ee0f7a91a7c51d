import * as k8s from "@pulumi/kubernetes";
import { Istio, istioCharts, ISTIO_NAMESPACE } from "../../components/istio";
import { DEFAULTS } from "../../components/config";
import { SimulatedCluster } from "../../render/cluster";
import { runStack } from "../../render/runtime";

async function run() {
  let istio: Istio | undefined;
  const result = await runStack({
    stack: "dev",
    config: {},
    cluster: new SimulatedCluster(),
    program: () => {
      istio = new Istio("istio", { version: DEFAULTS.istioVersion, chartRepo: DEFAULTS.istioChartRepo });
      return {};
    },
  });
  return { ...result, istio: istio! };
}

describe("Istio", () => {
  it("installs base before istiod", () => {
    expect(istioCharts().map((c) => c.chart)).toEqual(["base", "istiod"]);
  });

  it("pins both charts to the configured version from Istio's repository in istio-system", async () => {
    const { resources } = await run();
    const releases = resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release").map((r) => r.plainInputs);
    expect(releases.map((r) => [r.name, r.chart, r.version, (r.repositoryOpts as any).repo, r.namespace])).toEqual([
      ["istio-base", "base", "1.30.4", "https://istio-release.storage.googleapis.com/charts", ISTIO_NAMESPACE],
      ["istiod", "istiod", "1.30.4", "https://istio-release.storage.googleapis.com/charts", ISTIO_NAMESPACE],
    ]);
  });

  it("waits for its resources, so dependents see the CRDs", async () => {
    const { resources } = await run();
    const releases = resources.filter((r) => r.type === "kubernetes:helm.sh/v3:Release");
    expect(releases.map((r) => r.plainInputs.skipAwait)).toEqual([false, false]);
  });

  it("exposes both releases for dependsOn", async () => {
    const { istio } = await run();
    expect(istio.ready.map((r) => r instanceof k8s.helm.v3.Release)).toEqual([true, true]);
  });
});
