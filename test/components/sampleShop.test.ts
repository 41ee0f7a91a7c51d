import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { podinfoCommand, SampleShop, SHOP_DEFAULTS, SHOP_SERVICES } from "../../components/sampleShop";
import { KubeObject, SimulatedCluster } from "../../render/cluster";
import { runStack, StackResult } from "../../render/runtime";
import { explainRequest } from "../../render/explain";
import { validateAgainstSchema } from "../helpers/schemas";
import { parseBaseConfig, parseBaseStack, parseForkConfig } from "../../components/config";

const EXAMPLES = path.join(__dirname, "../../examples");

/** A Pulumi.<stack>.yaml's `forkstack:` keys, without the prefix, as index.ts hands them to components/config/. */
function exampleConfig(stack: string): Record<string, unknown> {
  const config = YAML.parse(fs.readFileSync(path.join(EXAMPLES, `Pulumi.${stack}.yaml`), "utf8")).config as Record<string, unknown>;
  return Object.fromEntries(Object.entries(config).filter(([k]) => k.startsWith("forkstack:")).map(([k, v]) => [k.slice("forkstack:".length), v]));
}

// Node's structuredClone (used by SimulatedCluster) returns arrays of the main realm, not of
// Jest's sandbox, and google-protobuf's Struct.fromJavaScript tells arrays apart with
// `instanceof Array`, so mocked resource outputs would come back with arrays turned into
// {"0": …} objects. A sandbox-local clone avoids that here; SimulatedCluster should not need it.
const realmSafeClone = <T>(value: T): T => (value === undefined ? value : JSON.parse(JSON.stringify(value)));
(globalThis as { structuredClone: unknown }).structuredClone = realmSafeClone;

describe("podinfoCommand", () => {
  it("passes one --backend-url per callee, addressed by name.namespace:port", () => {
    expect(podinfoCommand({ name: "api", calls: ["catalog", "cart"] }, "shop")).toEqual([
      "./podinfo",
      "--port=9898",
      "--level=info",
      "--backend-url=http://catalog.shop:80/api/echo",
      "--backend-url=http://cart.shop:80/api/echo",
    ]);
  });
});

describe("SampleShop under the SDK's mocks", () => {
  let cluster: SimulatedCluster;
  let result: StackResult;

  beforeAll(async () => {
    cluster = new SimulatedCluster();
    result = await runStack({
      stack: "dev",
      config: {},
      cluster,
      program: () => {
        const shop = new SampleShop("sample");
        return { entry: shop.entry, namespace: shop.namespace };
      },
    });
  });

  const objects = (): KubeObject[] => cluster.all();

  it("creates the namespace with Istio sidecar injection enabled", () => {
    expect(cluster.get("v1", "Namespace", undefined, "shop")?.metadata.labels).toEqual({ "istio-injection": "enabled" });
  });

  it("creates one Deployment and one plainly named Service per shop service", () => {
    const names = SHOP_SERVICES.map((s) => s.name).sort();
    expect(cluster.list("apps/v1", "Deployment", "shop").map((d) => d.metadata.name).sort()).toEqual(names);
    expect(cluster.list("v1", "Service", "shop").map((s) => s.metadata.name).sort()).toEqual(names);
  });

  it("exposes each Service on port 80 named http, targeting the container's http port", () => {
    expect((cluster.get("v1", "Service", "shop", "api")?.spec as any).ports).toEqual([{ name: "http", port: 80, targetPort: "http" }]);
  });

  it("selects each Deployment's pods by app label only, so a fork copy can change it", () => {
    expect((cluster.get("v1", "Service", "shop", "catalog")?.spec as any).selector).toEqual({ app: "catalog" });
    expect((cluster.get("apps/v1", "Deployment", "shop", "catalog")?.spec as any).template.metadata.labels).toEqual({ app: "catalog" });
  });

  it("runs podinfo with the callee URLs in the first container", () => {
    const container = (cluster.get("apps/v1", "Deployment", "shop", "frontend")?.spec as any).template.spec.containers[0];
    expect(container.image).toBe(SHOP_DEFAULTS.image);
    expect(container.command).toContain("--backend-url=http://api.shop:80/api/echo");
    expect(container.ports).toEqual([{ name: "http", containerPort: 9898 }]);
  });

  it("autoscales catalog with a HorizontalPodAutoscaler", () => {
    expect((cluster.get("autoscaling/v2", "HorizontalPodAutoscaler", "shop", "catalog")?.spec as any).scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "catalog" });
  });

  it("registers the SampleShop component and one Kubernetes resource per object", () => {
    const shop = result.resources.find((r) => r.type === "forkstack:sample:SampleShop");
    expect(shop?.name).toBe("sample");
    expect(result.resources.filter((r) => r.type.startsWith("kubernetes:")).length).toBe(1 + 2 * SHOP_SERVICES.length + 1);
  });

  it("exports the entry Service as the base stack's upstream names it", () => {
    expect(result.outputs).toEqual({ entry: "frontend.shop:80", namespace: "shop" });
  });

  it("produces only objects that validate against their published schemas", () => {
    expect(objects()).toHaveLength(12);
    for (const o of objects()) expect(() => validateAgainstSchema(o)).not.toThrow();
  });

  it("serves the whole chain, frontend to inventory, on shared Deployments", () => {
    const mapping: KubeObject = {
      apiVersion: "getambassador.io/v3alpha1",
      kind: "Mapping",
      metadata: { name: "shared", namespace: "emissary" },
      spec: { hostname: "shop.dev.example.com", prefix: "/", service: "frontend.shop:80" },
    };
    const explained = explainRequest([...objects(), mapping], { host: "shop.dev.example.com", calls: ["api", "catalog", "inventory"] });
    expect(explained.problems).toEqual([]);
    expect(explained.hops.map((h) => h.deployment)).toEqual(["frontend", "api", "catalog", "inventory"]);
  });
});

describe("examples/cluster/shop.yaml", () => {
  const live = YAML.parseAllDocuments(fs.readFileSync(path.join(__dirname, "../../examples/cluster/shop.yaml"), "utf8")).map((d) => d.toJS() as KubeObject);

  it("holds what a live cluster returns for the shop SampleShop deploys", () => {
    const deployments = live.filter((o) => o.kind === "Deployment");
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(SHOP_SERVICES.map((s) => s.name).sort());
    for (const d of deployments) {
      const service = SHOP_SERVICES.find((s) => s.name === d.metadata.name)!;
      expect((d.spec as any).template.spec.containers[0].command).toEqual(podinfoCommand(service, "shop"));
    }
  });

  it("carries the server-set fields a fork copy must drop", () => {
    const api = live.find((o) => o.kind === "Deployment" && o.metadata.name === "api")!;
    expect(Object.keys(api.metadata)).toEqual(expect.arrayContaining(["uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "annotations"]));
    expect(Object.keys(api.metadata.annotations!)).toEqual(["deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"]);
    expect(api.status).toBeDefined();
  });

  it("validates against the published schemas", () => {
    expect(live).toHaveLength(12);
    for (const o of live) expect(() => validateAgainstSchema(o)).not.toThrow();
  });
});

describe("examples/ stack configs", () => {
  it("dev is a valid base stack over the already running sample shop behind shop.dev.example.com", () => {
    const base = parseBaseConfig(exampleConfig("dev"));
    // The demo seeds the shop as a live cluster returns it; deploying it again would overwrite it.
    expect(base.sampleApp).toBe(false);
    expect(base.cluster.mode).toBe("kubeconfig");
    expect(base.upstreams).toEqual([{ host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: SHOP_DEFAULTS.servicePort } }]);
  });

  it("alice forks api with a new image and env, a header and a 72h ttl", () => {
    const fork = parseForkConfig(exampleConfig("alice").fork);
    expect(fork.services.map((s) => [s.name, s.image, s.env])).toEqual([
      ["api", "registry.example.com/shop/api:alice-1", { PODINFO_UI_MESSAGE: "api from alice", FEATURE_CHECKOUT_V2: "on" }],
    ]);
    expect(fork.headers).toEqual({ "x-feature-flags": "new-checkout=on" });
    expect(fork.ttl).toBe("72h");
  });

  it("bob forks api and catalog, overlapping alice on api", () => {
    expect(parseForkConfig(exampleConfig("bob").fork).services.map((s) => s.name)).toEqual(["api", "catalog"]);
  });

  it("flags is a header-only fork that copies nothing", () => {
    const fork = parseForkConfig(exampleConfig("flags").fork);
    expect(fork.services).toEqual([]);
    expect(fork.headers).toEqual({ "x-feature-flags": "new-checkout=on,dark-mode=on" });
  });

  it("every fork names dev as its base stack and forks only services the shop has", () => {
    for (const stack of ["alice", "bob", "flags"]) {
      expect(parseBaseStack(exampleConfig(stack).baseStack)).toBe("organization/forkstack/dev");
      for (const s of parseForkConfig(exampleConfig(stack).fork).services) expect(SHOP_SERVICES.map((x) => x.name)).toContain(s.name);
    }
  });
});
