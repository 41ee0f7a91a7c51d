import { getClusterAccess, resetClusterAccessFactory, setClusterAccessFactory } from "../../components/kube/access";
import { simulatedAccess } from "../../render/simulatedApi";
import { SimulatedCluster } from "../../render/cluster";

describe("cluster access factory", () => {
  afterEach(() => resetClusterAccessFactory());

  it("hands the kubeconfig and context to the factory that was set", async () => {
    const seen: [string, string | undefined][] = [];
    const access = simulatedAccess(new SimulatedCluster());
    setClusterAccessFactory(async (kubeconfig, context) => {
      seen.push([kubeconfig, context]);
      return access;
    });
    expect([await getClusterAccess("apiVersion: v1", "staging"), seen]).toEqual([access, [["apiVersion: v1", "staging"]]]);
  });

  it("goes back to client-node after a reset", async () => {
    setClusterAccessFactory(async () => simulatedAccess(new SimulatedCluster()));
    resetClusterAccessFactory();
    // client-node cannot be loaded inside Jest (ESM through vm): reaching that failure proves the
    // default factory is in place; test/kube/clientNode.test.ts runs it for real in a child process.
    await expect(getClusterAccess("")).rejects.toThrow("--experimental-vm-modules");
  });
});
