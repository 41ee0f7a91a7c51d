import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { SimulatedCluster } from "../../render/cluster";
import { runStack } from "../../render/runtime";

const seed = `
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop, uid: 1234, resourceVersion: "77" }
spec: { selector: { app: api }, ports: [{ port: 80 }], clusterIP: 10.0.0.12 }
`;

describe("mock runtime", () => {
  it("answers .get reads from the simulated cluster and writes created objects into it", async () => {
    const cluster = new SimulatedCluster();
    cluster.seedYaml(seed);
    const result = await runStack({
      stack: "t",
      config: {},
      cluster,
      program: () => {
        const shared = k8s.core.v1.Service.get("shared", "shop/api");
        const copy = new k8s.core.v1.Service("copy", {
          metadata: { name: "api-alice", namespace: "shop" },
          spec: { selector: shared.spec.selector.apply((s) => ({ ...s, app: "api-forkstack-alice" })), ports: [{ port: 80 }] },
        });
        return { copyName: copy.metadata.name };
      },
    });
    expect(result.outputs.copyName).toBe("api-alice");
    expect(cluster.get("v1", "Service", "shop", "api-alice")?.spec).toEqual({ selector: { app: "api-forkstack-alice" }, ports: [{ port: 80 }] });
    expect(result.resources.find((r) => r.name === "shared")?.read).toBe(true);
  });

  it("fails a read of an object the cluster does not have", async () => {
    const cluster = new SimulatedCluster();
    await expect(
      runStack({
        stack: "t",
        config: {},
        cluster,
        program: () => {
          const svc = k8s.core.v1.Service.get("shared", "shop/nope");
          return { x: svc.metadata.name };
        },
      }),
    ).rejects.toThrow(/Service shop\/nope does not exist/);
  });

  it("answers a StackReference with an earlier stack's outputs and masks secrets", async () => {
    const cluster = new SimulatedCluster();
    const result = await runStack({
      stack: "alice",
      config: { "forkstack:baseStack": "organization/forkstack/dev" },
      cluster,
      stackOutputs: { dev: { headerName: "x-fork-identifier", kubeconfig: "secret-kc" } },
      program: async () => {
        const ref = new pulumi.StackReference("organization/forkstack/dev");
        const details = await ref.getOutputDetails("headerName");
        new k8s.core.v1.Secret("s", { metadata: { name: "s", namespace: "x" }, stringData: { kc: ref.requireOutput("kubeconfig") as pulumi.Output<string> } });
        return { header: details.value };
      },
    });
    expect(result.outputs.header).toBe("x-fork-identifier");
    const secret = result.resources.find((r) => r.type === "kubernetes:core/v1:Secret")!;
    expect(JSON.stringify(secret.inputs)).not.toContain("secret-kc");
    expect(cluster.get("v1", "Secret", "x", "s")?.stringData).toEqual({ kc: "secret-kc" });
  });
});
