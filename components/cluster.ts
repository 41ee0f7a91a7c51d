/**
 * SharedCluster: the Kubernetes cluster the shared environment runs in, and the `k8s.Provider` every
 * other component uses.
 *
 * - `mode: eks` creates a VPC (a public and a private subnet in each of `eks.zones` availability
 *   zones, an internet gateway, one NAT gateway), the cluster and node IAM roles, an EKS cluster,
 *   a managed node group in the private subnets and the cluster's IAM OIDC provider (for IAM roles
 *   of service accounts). The kubeconfig authenticates with `aws eks get-token` and is a secret.
 * - `mode: kubeconfig` creates no AWS resources: it adopts an existing cluster (kind, k3d, any
 *   cloud) from the secret config `forkstack:kubeconfig`, or from the ambient kubeconfig.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterConfig } from "./config";

export interface SharedClusterArgs {
  /** The validated `forkstack:cluster` config. */
  readonly config: ClusterConfig;
  /** kubeconfig mode: the secret `forkstack:kubeconfig`; undefined: use the ambient kubeconfig. */
  readonly kubeconfig?: pulumi.Input<string>;
}

// --- pure helpers ---------------------------------------------------------------------------------

/**
 * The `index`-th subnet of `vpcCidr` that is `newBits` longer (Terraform's `cidrsubnet`), e.g.
 * subnetCidr("10.0.0.0/16", 4, 2) = "10.0.32.0/20".
 */
export function subnetCidr(vpcCidr: string, newBits: number, index: number): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(vpcCidr);
  if (!m) throw new Error(`${vpcCidr} is not an IPv4 CIDR`);
  const prefix = Number(m[5]);
  const length = prefix + newBits;
  if (length > 28 || index < 0 || index >= 2 ** newBits) throw new Error(`${vpcCidr} has no subnet ${index} of /${length}`);
  const base = m.slice(1, 5).reduce((acc, octet) => acc * 256 + Number(octet), 0);
  const address = base + index * 2 ** (32 - length);
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256);
  return `${octets.join(".")}/${length}`;
}

/**
 * Public subnets take the first `zones` /20s of the VPC (e.g. a /16), private ones the next
 * `zones`; 4 new bits leave room for 8 zones.
 */
export function subnetLayout(vpcCidr: string, zones: number): { public: string[]; private: string[] } {
  const range = [...Array(zones).keys()];
  return { public: range.map((i) => subnetCidr(vpcCidr, 4, i)), private: range.map((i) => subnetCidr(vpcCidr, 4, zones + i)) };
}

/**
 * A kubeconfig for an EKS cluster that authenticates with `aws eks get-token` (the exec plugin
 * `aws eks update-kubeconfig` writes: https://docs.aws.amazon.com/eks/latest/userguide/create-kubeconfig.html).
 * JSON is valid YAML, and the provider accepts either.
 */
export function eksKubeconfig(args: { clusterName: string; endpoint: string; certificateAuthority: string; region: string }): string {
  const name = args.clusterName;
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server: args.endpoint, "certificate-authority-data": args.certificateAuthority } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
    users: [
      {
        name,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1beta1",
            command: "aws",
            args: ["eks", "get-token", "--cluster-name", name, "--region", args.region, "--output", "json"],
          },
        },
      },
    ],
  });
}

// --- component ------------------------------------------------------------------------------------

const assumeRole = (service: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: "sts:AssumeRole" }] });

const policy = (name: string) => `arn:aws:iam::aws:policy/${name}`;

export class SharedCluster extends pulumi.ComponentResource {
  /** The provider every Kubernetes resource of the stack uses. */
  public readonly provider: k8s.Provider;
  /**
   * The kubeconfig fork stacks use: eks mode, the cluster's endpoint and CA with `aws eks get-token`
   * (no credential: each runner authenticates as itself); kubeconfig mode, "" (forks use their own).
   */
  public readonly kubeconfig: pulumi.Output<string>;
  /** The EKS cluster's name, or the kubeconfig context (or "" for its current context). */
  public readonly clusterName: pulumi.Output<string>;
  /** eks mode only: the cluster (protected) and its OIDC provider. */
  public readonly eksCluster?: aws.eks.Cluster;
  public readonly oidcProvider?: aws.iam.OpenIdConnectProvider;

  constructor(name: string, args: SharedClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("forkstack:cluster:SharedCluster", name, {}, opts);
    const cfg = args.config;

    if (cfg.mode === "kubeconfig") {
      // No kubeconfig: the provider falls back to $KUBECONFIG / ~/.kube/config
      // (https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/#kubeconfig_nodejs).
      this.provider = new k8s.Provider(
        `${name}-provider`,
        { ...(args.kubeconfig !== undefined ? { kubeconfig: args.kubeconfig } : {}), ...(cfg.context !== undefined ? { context: cfg.context } : {}) },
        { parent: this },
      );
      // The adopted kubeconfig holds the base's own (admin) credentials: never handed to forks,
      // which bring their own kubeconfig and use the same context.
      this.kubeconfig = pulumi.output("");
      this.clusterName = pulumi.output(cfg.context ?? "");
      this.registerOutputs({ kubeconfig: this.kubeconfig, clusterName: this.clusterName });
      return;
    }

    const eks = cfg.eks;
    const parent = { parent: this };
    const layout = subnetLayout(eks.vpcCidr, eks.zones);
    const azs = aws.getAvailabilityZonesOutput({ state: "available" }, parent);
    // Fewer zones than asked for is an account/region limit the user must see at once.
    const zone = (i: number) =>
      azs.names.apply((names) => {
        if (names.length < eks.zones) {
          throw new pulumi.ResourceError(`forkstack:cluster.eks.zones: ${eks.zones} zones asked for, the region offers ${names.length}; lower it (at least 2)`, this);
        }
        return names[i];
      });

    const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: eks.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: `${name}-vpc` } }, parent);
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id }, parent);
    // Subnet tags let Kubernetes place internet-facing and internal load balancers
    // (https://docs.aws.amazon.com/eks/latest/userguide/network-load-balancing.html).
    const publicSubnets = layout.public.map(
      (cidrBlock, i) =>
        new aws.ec2.Subnet(`${name}-public-${i}`, { vpcId: vpc.id, cidrBlock, availabilityZone: zone(i), mapPublicIpOnLaunch: true, tags: { "kubernetes.io/role/elb": "1" } }, parent),
    );
    const privateSubnets = layout.private.map(
      (cidrBlock, i) => new aws.ec2.Subnet(`${name}-private-${i}`, { vpcId: vpc.id, cidrBlock, availabilityZone: zone(i), tags: { "kubernetes.io/role/internal-elb": "1" } }, parent),
    );
    // One NAT gateway: a dev environment trades zone redundancy of egress for cost.
    const eip = new aws.ec2.Eip(`${name}-nat-ip`, { domain: "vpc" }, parent);
    const nat = new aws.ec2.NatGateway(`${name}-nat`, { allocationId: eip.id, subnetId: publicSubnets[0].id }, { parent: this, dependsOn: [igw] });
    const publicRoutes = new aws.ec2.RouteTable(`${name}-public`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }] }, parent);
    const privateRoutes = new aws.ec2.RouteTable(`${name}-private`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }] }, parent);
    publicSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: s.id, routeTableId: publicRoutes.id }, parent));
    privateSubnets.forEach((s, i) => new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: s.id, routeTableId: privateRoutes.id }, parent));

    // IAM roles (https://docs.aws.amazon.com/eks/latest/userguide/cluster-iam-role.html,
    // https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html).
    const clusterRole = new aws.iam.Role(`${name}-cluster`, { assumeRolePolicy: assumeRole("eks.amazonaws.com") }, parent);
    const clusterPolicy = new aws.iam.RolePolicyAttachment(`${name}-cluster`, { role: clusterRole.name, policyArn: policy("AmazonEKSClusterPolicy") }, parent);
    const nodeRole = new aws.iam.Role(`${name}-node`, { assumeRolePolicy: assumeRole("ec2.amazonaws.com") }, parent);
    const nodePolicies = ["AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"].map(
      (p) => new aws.iam.RolePolicyAttachment(`${name}-node-${p}`, { role: nodeRole.name, policyArn: policy(p) }, parent),
    );

    // protect: deleting the cluster deletes every fork with it; `pulumi destroy` must be deliberate.
    this.eksCluster = new aws.eks.Cluster(
      `${name}-eks`,
      {
        version: eks.version,
        roleArn: clusterRole.arn,
        vpcConfig: { subnetIds: [...privateSubnets, ...publicSubnets].map((s) => s.id), endpointPublicAccess: true },
        // Access entries, and cluster-admin for whoever runs `pulumi up`
        // (https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html).
        accessConfig: { authenticationMode: "API_AND_CONFIG_MAP", bootstrapClusterCreatorAdminPermissions: true },
      },
      { parent: this, protect: true, dependsOn: [clusterPolicy] },
    );
    const cluster = this.eksCluster;

    new aws.eks.NodeGroup(
      `${name}-nodes`,
      {
        clusterName: cluster.name,
        nodeRoleArn: nodeRole.arn,
        subnetIds: privateSubnets.map((s) => s.id),
        instanceTypes: [eks.instanceType],
        scalingConfig: { desiredSize: eks.desiredSize, minSize: eks.minSize, maxSize: eks.maxSize },
      },
      { parent: this, dependsOn: nodePolicies },
    );

    // The IAM OIDC provider of the cluster's issuer, for IAM roles of service accounts
    // (https://docs.aws.amazon.com/eks/latest/userguide/enable-iam-roles-for-service-accounts.html).
    // AWS no longer checks thumbprints for EKS issuers, so none are pinned.
    this.oidcProvider = new aws.iam.OpenIdConnectProvider(
      `${name}-oidc`,
      { url: cluster.identities.apply((ids) => ids[0].oidcs![0].issuer!), clientIdLists: ["sts.amazonaws.com"] },
      parent,
    );

    const region = aws.getRegionOutput({}, parent).region;
    // Endpoint, CA and `aws eks get-token` for whoever runs it: no credential of its own, so
    // forks may read it; each runner is authorised as itself (its IAM role's access entry).
    this.kubeconfig = pulumi
      .all([cluster.name, cluster.endpoint, cluster.certificateAuthority, region])
      .apply(([clusterName, endpoint, ca, r]) => eksKubeconfig({ clusterName, endpoint, certificateAuthority: ca.data!, region: r }));
    this.clusterName = cluster.name;
    this.provider = new k8s.Provider(`${name}-provider`, { kubeconfig: this.kubeconfig }, parent);
    this.registerOutputs({ kubeconfig: this.kubeconfig, clusterName: this.clusterName });
  }
}
