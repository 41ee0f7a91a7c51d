import * as pulumi from "@pulumi/pulumi";
import { eksKubeconfig, SharedCluster, subnetCidr, subnetLayout } from "../../components/cluster";
import { ClusterConfig, DEFAULTS } from "../../components/config";
import { SimulatedCluster } from "../../render/cluster";
import { runStack } from "../../render/runtime";

const eks: ClusterConfig = { mode: "eks", eks: { ...DEFAULTS.eks } };

function run(config: ClusterConfig, kubeconfig?: string) {
  let component: SharedCluster | undefined;
  const result = runStack({
    stack: "dev",
    config: {},
    cluster: new SimulatedCluster(),
    program: () => {
      component = new SharedCluster("cluster", { config, kubeconfig: kubeconfig === undefined ? undefined : pulumi.secret(kubeconfig) });
      return { kubeconfig: component.kubeconfig, clusterName: component.clusterName };
    },
  });
  return result.then((r) => ({ ...r, component: component! }));
}

describe("subnet layout", () => {
  it("cuts /20s out of the VPC in order", () => {
    expect(subnetCidr("10.0.0.0/16", 4, 0)).toBe("10.0.0.0/20");
    expect(subnetCidr("10.0.0.0/16", 4, 3)).toBe("10.0.48.0/20");
  });

  it("puts public subnets first and private ones after them", () => {
    expect(subnetLayout("10.0.0.0/16", 2)).toEqual({ public: ["10.0.0.0/20", "10.0.16.0/20"], private: ["10.0.32.0/20", "10.0.48.0/20"] });
  });

  it("refuses a subnet outside the VPC", () => {
    expect(() => subnetCidr("10.0.0.0/16", 4, 16)).toThrow(/has no subnet 16/);
  });
});

describe("EKS kubeconfig", () => {
  it("authenticates with aws eks get-token for the cluster and region", () => {
    const kc = JSON.parse(eksKubeconfig({ clusterName: "c1", endpoint: "https://x", certificateAuthority: "Q0E=", region: "eu-west-1" }));
    expect(kc.users[0].user.exec.command).toBe("aws");
    expect(kc.users[0].user.exec.args).toEqual(["eks", "get-token", "--cluster-name", "c1", "--region", "eu-west-1", "--output", "json"]);
    expect(kc.clusters[0].cluster).toEqual({ server: "https://x", "certificate-authority-data": "Q0E=" });
  });
});

describe("SharedCluster in eks mode", () => {
  it("creates a public and a private subnet in each of two zones", async () => {
    const { resources } = await run(eks);
    const subnets = resources.filter((r) => r.type === "aws:ec2/subnet:Subnet").map((r) => [r.name, r.plainInputs.availabilityZone, r.plainInputs.cidrBlock]);
    expect(subnets).toEqual(
      expect.arrayContaining([
        ["cluster-public-0", "eu-west-1a", "10.0.0.0/20"],
        ["cluster-public-1", "eu-west-1b", "10.0.16.0/20"],
        ["cluster-private-0", "eu-west-1a", "10.0.32.0/20"],
        ["cluster-private-1", "eu-west-1b", "10.0.48.0/20"],
      ]),
    );
    expect(subnets).toHaveLength(4);
  });

  it("routes private subnets through a NAT gateway and public ones through the internet gateway", async () => {
    const { resources } = await run(eks);
    const tables = Object.fromEntries(resources.filter((r) => r.type === "aws:ec2/routeTable:RouteTable").map((r) => [r.name, (r.plainInputs.routes as any[])[0]]));
    expect(tables["cluster-public"].gatewayId).toMatch(/^cluster-igw-/);
    expect(tables["cluster-private"].natGatewayId).toMatch(/^cluster-nat-/);
  });

  it("pins the cluster version and protects the cluster", async () => {
    const { resources, component } = await run(eks);
    expect(resources.find((r) => r.type === "aws:eks/cluster:Cluster")?.plainInputs.version).toBe(DEFAULTS.eks.version);
    expect((component.eksCluster as any).__protect).toBe(true);
  });

  it("runs a managed node group in the private subnets", async () => {
    const { resources } = await run(eks);
    const group = resources.find((r) => r.type === "aws:eks/nodeGroup:NodeGroup")!;
    expect((group.plainInputs.subnetIds as string[]).every((id) => id.startsWith("cluster-private-"))).toBe(true);
    expect(group.plainInputs.scalingConfig).toEqual({ desiredSize: 3, minSize: 2, maxSize: 6 });
    expect(group.plainInputs.instanceTypes).toEqual(["t3.large"]);
  });

  it("registers the cluster's OIDC issuer as an IAM OIDC provider for sts", async () => {
    const { resources } = await run(eks);
    const oidc = resources.find((r) => r.type === "aws:iam/openIdConnectProvider:OpenIdConnectProvider")!;
    expect(oidc.plainInputs.url).toMatch(/^https:\/\/oidc\.eks\.eu-west-1\.amazonaws\.com\/id\//);
    expect(oidc.plainInputs.clientIdLists).toEqual(["sts.amazonaws.com"]);
  });

  it("attaches the EKS policies to the cluster and node roles", async () => {
    const { resources } = await run(eks);
    const policies = resources.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((r) => String(r.plainInputs.policyArn).split("/").pop());
    expect(policies.sort()).toEqual(["AmazonEC2ContainerRegistryReadOnly", "AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"]);
  });

  it("exports a kubeconfig whose only way in is the runner's own aws eks get-token", async () => {
    const { outputs, resources } = await run(eks);
    const kc = JSON.parse(outputs.kubeconfig as string);
    expect(kc.users).toEqual([{ name: outputs.clusterName, user: { exec: expect.objectContaining({ command: "aws" }) } }]);
    expect(kc.users[0].user.exec.args).toContain(outputs.clusterName);
    const provider = resources.find((r) => r.type === "pulumi:providers:kubernetes")!;
    expect(JSON.parse(provider.plainInputs.kubeconfig as string)).toEqual(kc);
  });
});

describe("SharedCluster in kubeconfig mode", () => {
  const kubeconfigMode: ClusterConfig = { mode: "kubeconfig", context: "kind-dev", eks: { ...DEFAULTS.eks } };

  it("creates no AWS resources", async () => {
    const { resources } = await run(kubeconfigMode, "apiVersion: v1");
    expect(resources.filter((r) => r.type.startsWith("aws:"))).toEqual([]);
  });

  it("uses the secret kubeconfig and the configured context, and never exports it", async () => {
    const adminKubeconfig = "apiVersion: v1\nusers: [{ name: admin, user: { token: s3cr3t-admin-token } }]";
    const { resources, outputs } = await run(kubeconfigMode, adminKubeconfig);
    const provider = resources.find((r) => r.type === "pulumi:providers:kubernetes")!;
    expect(provider.plainInputs.context).toBe("kind-dev");
    expect(provider.inputs.kubeconfig).toBe("[secret]");
    expect(provider.plainInputs.kubeconfig).toBe(adminKubeconfig);
    expect(outputs.kubeconfig).toBe("");
    expect(JSON.stringify(outputs)).not.toContain("s3cr3t-admin-token");
  });

  it("falls back to the ambient kubeconfig and exports an empty one", async () => {
    const { resources, outputs } = await run({ mode: "kubeconfig", eks: { ...DEFAULTS.eks } });
    const provider = resources.find((r) => r.type === "pulumi:providers:kubernetes")!;
    expect(provider.plainInputs.kubeconfig).toBeUndefined();
    expect(outputs.kubeconfig).toBe("");
  });
});
