import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { SimulatedCluster } from "../render/cluster";
import { RecordedResource, runStack } from "../render/runtime";
import { validateEmissary } from "./helpers/emissary";
import { hasSchema, validateAgainstSchema } from "./helpers/schemas";
import program = require("../index");

const base = {
  "forkstack:domain": "dev.example.com",
  "forkstack:cluster": { mode: "kubeconfig" },
  "forkstack:upstreams": [
    { host: "shop.dev.example.com", service: "frontend.shop:80" },
    { host: "api.dev.example.com", service: "gateway.api:8080" },
  ],
};

/**
 * Runs the base program once per distinct config and shares the (read-only) result between the
 * tests that use it: the program is deterministic for a config, and most tests read the default run.
 */
const runs = new Map<string, Promise<Awaited<ReturnType<typeof runFresh>>>>();
async function runFresh(config: Record<string, unknown>) {
  const cluster = new SimulatedCluster();
  const result = await runStack({ stack: "dev", cluster, program, config });
  return { ...result, cluster };
}
function run(config: Record<string, unknown> = base) {
  const key = JSON.stringify(config);
  if (!runs.has(key)) runs.set(key, runFresh(config));
  return runs.get(key)!;
}

const ofType = (resources: RecordedResource[], type: string) => resources.filter((r) => r.type === type);

describe("base stack outputs", () => {
  it("publish the contract fork stacks read", async () => {
    const { outputs } = await run();
    expect(outputs).toMatchObject({
      headerName: "x-fork-identifier",
      ambassadorId: "fork-proxy-ambassador",
      gatewayNamespace: "emissary",
      hostScheme: "subdomain",
      domain: "dev.example.com",
      upstreams: [
        { host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } },
        { host: "api.dev.example.com", service: { name: "gateway", namespace: "api", port: 8080 } },
      ],
      forkHostPatterns: ["*.shop.dev.example.com", "*.api.dev.example.com"],
    });
    expect(outputs.gatewayHostname).toMatch(/^forkstack-gateway-.*\.elb\.eu-west-1\.amazonaws\.com$/);
  });
});

describe("cluster modes", () => {
  it("creates no EKS or VPC resources in kubeconfig mode", async () => {
    const { resources } = await run();
    expect(resources.filter((r) => r.type.startsWith("aws:eks") || r.type.startsWith("aws:ec2"))).toEqual([]);
  });

  it("hands forks the kubeconfig context it uses, in kubeconfig mode", async () => {
    const { outputs } = await run({ ...base, "forkstack:cluster": { mode: "kubeconfig", context: "dev-admin" } });
    expect(outputs.kubeContext).toBe("dev-admin");
    expect((await run()).outputs.kubeContext).toBe("");
  });

  it("creates the VPC, cluster, node group and OIDC provider in eks mode", async () => {
    const { resources } = await run({ ...base, "forkstack:cluster": { mode: "eks" } });
    const types = new Set(resources.map((r) => r.type));
    for (const t of ["aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:iam/openIdConnectProvider:OpenIdConnectProvider"]) {
      expect(types).toContain(t);
    }
  });
});

describe("charts", () => {
  it("installs Istio base and istiod and Emissary's CRDs and gateway at their pinned versions", async () => {
    const { resources } = await run();
    const releases = ofType(resources, "kubernetes:helm.sh/v3:Release").map((r) => [r.plainInputs.name, r.plainInputs.chart, r.plainInputs.version]);
    expect(releases).toEqual(
      expect.arrayContaining([
        ["istio-base", "base", "1.31.1"],
        ["istiod", "istiod", "1.31.1"],
        ["emissary-crds", "oci://ghcr.io/emissary-ingress/emissary-crds-chart", "4.1.0"],
        ["emissary-ingress", "oci://ghcr.io/emissary-ingress/emissary-ingress", "4.1.0"],
      ]),
    );
  });

  it("takes versions from config", async () => {
    const { resources } = await run({ ...base, "forkstack:istio": { version: "1.31.0" }, "forkstack:emissary": { version: "4.0.0" } });
    const versions = Object.fromEntries(ofType(resources, "kubernetes:helm.sh/v3:Release").map((r) => [r.plainInputs.name, r.plainInputs.version]));
    expect(versions).toMatchObject({ istiod: "1.31.0", "emissary-ingress": "4.0.0" });
  });

  it("takes Istio's charts from blob.istio.io and its images from docker.io/istio by default", async () => {
    const { resources } = await run();
    const istiod = ofType(resources, "kubernetes:helm.sh/v3:Release").find((r) => r.plainInputs.name === "istiod")!;
    expect([(istiod.plainInputs.repositoryOpts as any).repo, (istiod.plainInputs.values as any).global.hub]).toEqual([
      "https://blob.istio.io/istio-release/charts",
      "docker.io/istio",
    ]);
  });

  it("takes an oci:// chart repository and another hub from forkstack:istio", async () => {
    const istio = { chartRepo: "oci://registry.example.com/mirror/istio/charts", hub: "registry.example.com/mirror/istio" };
    const { resources } = await run({ ...base, "forkstack:istio": istio });
    const istiod = ofType(resources, "kubernetes:helm.sh/v3:Release").find((r) => r.plainInputs.name === "istiod")!;
    expect([istiod.plainInputs.chart, istiod.plainInputs.repositoryOpts, (istiod.plainInputs.values as any).global.hub]).toEqual([
      "oci://registry.example.com/mirror/istio/charts/istiod",
      undefined,
      "registry.example.com/mirror/istio",
    ]);
  });

  it("refuses an invalid Istio chart repository or hub in one line naming the key", async () => {
    for (const [istio, field] of [
      [{ chartRepo: "ftp://mirror.example.com/charts" }, "forkstack:istio.chartRepo"],
      [{ hub: "https://docker.io/istio" }, "forkstack:istio.hub"],
    ] as const) {
      const err = await run({ ...base, "forkstack:istio": istio }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(new RegExp(`^stack dev: ${field.replace(".", "\\.")}: `));
      expect((err as Error).message.split("\n")).toHaveLength(1);
    }
  });

  it("installs no chart, namespace or wait when the platform already runs Istio and Emissary", async () => {
    const { resources } = await run({ ...base, "forkstack:istio": { install: false }, "forkstack:emissary": { install: "false" } });
    expect(ofType(resources, "kubernetes:helm.sh/v3:Release")).toHaveLength(0);
    expect(ofType(resources, "kubernetes:core/v1:Namespace").map((r) => r.name)).not.toContain("gateway-namespace");
    // Its own objects still go into the existing gateway namespace.
    const mappings = ofType(resources, "kubernetes:getambassador.io/v3alpha1:Mapping");
    expect(mappings.map((m) => (m.plainInputs.metadata as any).namespace)).toEqual(["emissary", "emissary"]);
  });
});

describe("sample shop", () => {
  it("is deployed only when forkstack:sampleApp is true", async () => {
    const without = await run();
    expect(ofType(without.resources, "forkstack:sample:SampleShop")).toHaveLength(0);
    const { resources, cluster } = await run({ ...base, "forkstack:sampleApp": true });
    expect(ofType(resources, "forkstack:sample:SampleShop")).toHaveLength(1);
    expect(cluster.get("v1", "Namespace", undefined, "shop")?.metadata.labels?.["istio-injection"]).toBe("enabled");
    expect(cluster.get("apps/v1", "Deployment", "shop", "frontend")).toBeDefined();
  });
});

describe("gateway", () => {
  it("runs in a namespace without sidecar injection (the first-hop decision)", async () => {
    const { cluster } = await run();
    expect(cluster.get("v1", "Namespace", undefined, "emissary")?.metadata.labels?.["istio-injection"]).toBe("disabled");
  });

  it("strips the fork header on every shared host's Mapping", async () => {
    const { cluster } = await run();
    const mappings = cluster.list("getambassador.io/v3alpha1", "Mapping", "emissary").map((m) => m.spec as any);
    expect(mappings.map((m) => [m.hostname, m.service, m.remove_request_headers])).toEqual(
      expect.arrayContaining([
        ["shop.dev.example.com", "frontend.shop:80", ["x-fork-identifier"]],
        ["api.dev.example.com", "gateway.api:8080", ["x-fork-identifier"]],
      ]),
    );
    expect(mappings).toHaveLength(2);
  });

  it("strips a configured header name instead of the default", async () => {
    const { cluster } = await run({ ...base, "forkstack:headerName": "x-env" });
    const mappings = cluster.list("getambassador.io/v3alpha1", "Mapping", "emissary").map((m) => (m.spec as any).remove_request_headers);
    expect(mappings).toEqual([["x-env"], ["x-env"]]);
  });

  it("declares only objects that validate against their published schemas", async () => {
    const { cluster } = await run();
    const objects = cluster.all();
    expect(objects.length).toBeGreaterThan(0);
    for (const obj of objects) {
      if (obj.apiVersion.startsWith("getambassador.io/")) validateEmissary(obj);
      else if (hasSchema(obj)) validateAgainstSchema(obj);
      else throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
    }
  });
});

describe("DNS and certificates", () => {
  it("points every upstream's host and fork wildcard at the load balancer", async () => {
    const { resources, outputs } = await run();
    const records = ofType(resources, "aws:route53/record:Record").filter((r) => r.name.startsWith("dns-"));
    expect(records.map((r) => [r.plainInputs.name, r.plainInputs.records])).toEqual(
      expect.arrayContaining([
        ["*.shop.dev.example.com", [outputs.gatewayHostname]],
        ["shop.dev.example.com", [outputs.gatewayHostname]],
        ["*.api.dev.example.com", [outputs.gatewayHostname]],
        ["api.dev.example.com", [outputs.gatewayHostname]],
      ]),
    );
  });

  it("covers every fork wildcard with an ACM certificate served by the load balancer", async () => {
    const { resources, cluster } = await run();
    const certs = ofType(resources, "aws:acm/certificate:Certificate").map((r) => [r.plainInputs.domainName, ...((r.plainInputs.subjectAlternativeNames as string[]) ?? [])]);
    expect(certs.flat()).toEqual(expect.arrayContaining(["*.shop.dev.example.com", "*.api.dev.example.com"]));
    const svc = cluster.get("v1", "Service", "emissary", "forkstack-gateway")!;
    expect(svc.metadata.annotations?.["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]).toMatch(/^arn:aws:mock:.*Certificate/);
  });

  it("keeps each certificate within 10 names with 12 upstreams", async () => {
    const upstreams = Array.from({ length: 12 }, (_, i) => ({ host: `app${i}.dev.example.com`, service: `app${i}.shop:80` }));
    const { resources } = await run({ ...base, "forkstack:upstreams": upstreams });
    const sizes = ofType(resources, "aws:acm/certificate:Certificate").map((r) => 1 + ((r.plainInputs.subjectAlternativeNames as string[]) ?? []).length);
    expect(sizes.sort()).toEqual([10, 10, 4]);
  });

  it("issues a cert-manager Certificate per upstream through a Route53 DNS-01 ClusterIssuer in cert-manager mode", async () => {
    const { cluster, resources } = await run({ ...base, "forkstack:tls": { mode: "cert-manager", email: "platform@example.com" } });
    const issuer = cluster.get("cert-manager.io/v1", "ClusterIssuer", undefined, "forkstack-letsencrypt")!;
    expect((issuer.spec as any).acme.solvers[0].dns01.route53.hostedZoneID).toMatch(/^Z/);
    const certs = cluster.list("cert-manager.io/v1", "Certificate", "emissary").map((c) => (c.spec as any).dnsNames);
    expect(certs).toEqual(
      expect.arrayContaining([
        ["shop.dev.example.com", "*.shop.dev.example.com"],
        ["api.dev.example.com", "*.api.dev.example.com"],
      ]),
    );
    expect(ofType(resources, "aws:acm/certificate:Certificate")).toEqual([]);
  });
});

describe("invalid base config", () => {
  it("names forkstack:domain when it is missing", async () => {
    const { "forkstack:domain": _omit, ...rest } = base;
    await expect(run(rest)).rejects.toThrow(/^stack dev: forkstack:domain: \(missing\) is required; /);
  });

  it("names the upstream's service when it is malformed", async () => {
    await expect(run({ ...base, "forkstack:upstreams": [{ host: "shop.dev.example.com", service: "frontend:80" }] })).rejects.toThrow(
      /^stack dev: forkstack:upstreams\[0\]\.service: "frontend:80" is not a Service reference; write it as name\.namespace:port/,
    );
  });

  it("names the repeated host", async () => {
    const dup = [
      { host: "shop.dev.example.com", service: "frontend.shop:80" },
      { host: "shop.dev.example.com", service: "other.shop:80" },
    ];
    await expect(run({ ...base, "forkstack:upstreams": dup })).rejects.toThrow(/^stack dev: forkstack:upstreams\[1\]\.host: "shop\.dev\.example\.com" repeats forkstack:upstreams\[0\]\.host/);
  });

  it("reports the error on one line", async () => {
    const err = await run({ ...base, "forkstack:upstreams": [{ host: "shop.dev.example.com", service: 7 }] }).catch((e: Error) => e);
    expect((err as Error).message.split("\n")).toHaveLength(1);
  });
});

describe("project files", () => {
  it("the example Pulumi.dev.yaml is a complete base stack on EKS", async () => {
    const config = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.dev.yaml"), "utf8")).config;
    const { resources, outputs } = await run(config);
    expect(ofType(resources, "aws:eks/cluster:Cluster")).toHaveLength(1);
    expect(outputs.upstreams).toEqual(expect.arrayContaining([{ host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } }]));
  });
});

describe("fork access", () => {
  const withAccess = { ...base, "forkstack:forkAccess": { group: "shop-devs", namespaces: { shop: ["default"], api: { serviceAccounts: ["fork-runner"], secrets: ["api-config"] } } } };

  it("publishes no credential in any output", async () => {
    const admin = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: s3cr3t-admin-token\n    client-key-data: UFJJVkFURSBLRVk=";
    const result = await runStack({ stack: "dev", cluster: new SimulatedCluster(), program, config: { ...withAccess, "forkstack:kubeconfig": admin }, secretKeys: ["forkstack:kubeconfig"] });
    const text = JSON.stringify(result.outputs);
    for (const secret of ["s3cr3t-admin-token", "UFJJVkFURSBLRVk=", "client-key-data", "token"]) expect(text).not.toContain(secret);
    expect(result.secretOutputs).toEqual([]);
    const eks = await run({ ...withAccess, "forkstack:cluster": { mode: "eks" } });
    expect(JSON.stringify(eks.outputs)).not.toMatch(/token"|client-key|password/);
  });

  it("binds the fork role in each forkable namespace and installs the four admission policies", async () => {
    const { cluster } = await run(withAccess);
    const bindings = cluster.all().filter((o) => o.kind === "RoleBinding");
    expect(bindings.map((b) => `${b.metadata.namespace}/${b.metadata.name}`).sort()).toEqual(["api/forkstack-fork", "emissary/forkstack-fork-mappings", "shop/forkstack-fork"]);
    expect(bindings.every((b) => (b as any).subjects[0].name === "shop-devs")).toBe(true);
    const policies = cluster.all().filter((o) => o.kind === "ValidatingAdmissionPolicy");
    expect(policies.map((p) => p.metadata.name).sort()).toEqual(["forkstack-fork-mappings", "forkstack-fork-routes", "forkstack-fork-turns", "forkstack-fork-workloads"]);
    expect(cluster.all().filter((o) => o.kind === "ValidatingAdmissionPolicyBinding")).toHaveLength(4);
  });

  it("publishes the fork group and the forkable namespaces' ServiceAccounts for fork stacks", async () => {
    const { outputs } = await run(withAccess);
    expect([outputs.forkGroup, outputs.forkNamespaces]).toEqual(["shop-devs", { shop: ["default"], api: ["fork-runner"] }]);
  });

  it("publishes the Secrets of the namespaces that limit them, and no container ceiling when none is set", async () => {
    const { outputs } = await run(withAccess);
    expect([outputs.forkSecrets, outputs.forkMaxContainerResources]).toEqual([{ api: ["api-config"] }, undefined]);
  });

  it("publishes the container ceiling for fork stacks", async () => {
    const { outputs } = await run({ ...base, "forkstack:forkAccess": { namespaces: { shop: ["default"] }, maxContainerResources: { cpu: 2, memory: "4Gi" } } });
    expect(outputs.forkMaxContainerResources).toEqual({ cpu: "2", memory: "4Gi" });
  });

  it("maps IAM principals to the group with EKS access entries in eks mode only", async () => {
    const principals = ["arn:aws:iam::123456789012:role/developers", "arn:aws:iam::123456789012:role/ci"];
    const { resources } = await run({ ...withAccess, "forkstack:cluster": { mode: "eks" }, "forkstack:forkAccess": { group: "shop-devs", principals, namespaces: { shop: ["default"] } } });
    const entries = ofType(resources, "aws:eks/accessEntry:AccessEntry").map((r) => [r.plainInputs.principalArn, r.plainInputs.kubernetesGroups]);
    expect(entries).toEqual(principals.map((p) => [p, ["shop-devs"]]));
    await expect(run({ ...withAccess, "forkstack:forkAccess": { principals } })).rejects.toThrow(
      /^stack dev: forkstack:forkAccess\.principals: .* needs cluster\.mode eks/,
    );
  });

  it.each([
    [{ group: "system:masters" }, /forkstack:forkAccess\.group: "system:masters" is not a group name forkstack can bind/],
    [{ namespaces: { "kube-system": ["default"] } }, /forkstack:forkAccess\.namespaces\.kube-system: "kube-system" is not a namespace forks may use/],
    [{ namespaces: { shop: "any" } }, /forkstack:forkAccess\.namespaces\.shop: "any" is not a ServiceAccount rule/],
  ])("refuses %j in one line", async (forkAccess, message) => {
    await expect(run({ ...base, "forkstack:forkAccess": forkAccess })).rejects.toThrow(message);
  });
});
