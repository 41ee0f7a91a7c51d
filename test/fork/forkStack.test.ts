/**
 * The fork stack end to end under the SDK's mocks: the real index.ts program, a simulated cluster
 * seeded with what a live cluster returns (test/fixtures/fork/shop.yaml), the base stack's outputs
 * answered through the StackReference, and the fork's route claims applied by the same
 * read-modify-write the live dynamic provider runs.
 */
import * as path from "path";
import { forkRoutesHandler } from "../../render/simulatedApi";
import { resetClusterAccessFactory, setClusterAccessFactory } from "../../components/kube/access";
import { SimulatedCluster } from "../../render/cluster";
import { runStack, StackResult } from "../../render/runtime";
import { simulatedAccess } from "../../render/simulatedApi";
import { validateAgainstSchema } from "../helpers/schemas";
import { validateEmissary } from "../helpers/emissary";
import program = require("../../index");

const FIXTURE = path.join(__dirname, "../fixtures/fork/shop.yaml");
const BASE_OUTPUTS = {
  headerName: "x-fork-identifier",
  ambassadorId: "fork-proxy-ambassador",
  gatewayNamespace: "emissary",
  upstreams: [{ host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } }],
  hostScheme: "subdomain",
  domain: "dev.example.com",
  kubeconfig: "",
};

function selects(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

async function runFork(cluster: SimulatedCluster, fork: unknown, base: Record<string, unknown> = BASE_OUTPUTS): Promise<StackResult> {
  const id = (fork as { id: string }).id;
  return runStack({
    stack: id,
    config: { "forkstack:baseStack": "organization/forkstack/dev", "forkstack:fork": fork },
    cluster,
    stackOutputs: { dev: base },
    program,
    dynamicHandlers: { ForkRoutes: forkRoutesHandler },
  });
}

describe("ForkStack", () => {
  let cluster: SimulatedCluster;
  beforeEach(() => {
    process.env.FORKSTACK_NOW = "2026-11-23T10:00:00Z";
    cluster = SimulatedCluster.fromFiles([FIXTURE]);
    setClusterAccessFactory(async () => simulatedAccess(cluster));
  });
  afterEach(() => resetClusterAccessFactory());

  it("puts two forks of the same service into one VirtualService above the default route", async () => {
    await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop", image: "registry.example.com/shop/api:alice-1" }] });
    await runFork(cluster, { id: "bob", services: [{ name: "api", namespace: "shop" }] });
    const vss = cluster.list("networking.istio.io/v1", "VirtualService", "shop").filter((v) => (v.spec as any).hosts.includes("api.shop.svc.cluster.local"));
    expect(vss).toHaveLength(1);
    const names = (vss[0].spec as any).http.map((r: any) => r.name);
    expect(names).toEqual(["forkstack-alice", "forkstack-bob", "default"]);
    const alice = (vss[0].spec as any).http[0];
    expect(alice.match).toEqual([{ headers: { "x-fork-identifier": { exact: "alice" } } }]);
    expect(alice.route[0].destination.host).toBe("api-alice.shop.svc.cluster.local");
  });

  it("keeps an adopted app-team VirtualService's retries and timeouts", async () => {
    await runFork(cluster, { id: "alice", services: [{ name: "catalog", namespace: "shop" }] });
    const vs = cluster.get("networking.istio.io/v1", "VirtualService", "shop", "catalog")!;
    const http = (vs.spec as any).http;
    const app = http.filter((r: any) => !r.name.startsWith("forkstack-"));
    expect(app.map((r: any) => [r.name, r.timeout, r.retries.attempts])).toEqual([
      ["catalog-v2-preview", "5s", 3],
      ["catalog-default", "10s", 2],
    ]);
    expect(http.findIndex((r: any) => r.name.startsWith("forkstack-"))).toBe(0);
    expect(vs.metadata.labels).toEqual({ team: "catalog" });
  });

  it("copies the Deployment so the shared Service never selects the fork's pods", async () => {
    await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop", image: "registry.example.com/shop/api:alice-1", env: { FEATURE_X: "on" } }] });
    const shared = cluster.get("v1", "Service", "shop", "api")!;
    const copySvc = cluster.get("v1", "Service", "shop", "api-alice")!;
    const copyDep = cluster.get("apps/v1", "Deployment", "shop", "api-alice")!;
    const podLabels = (copyDep.spec as any).template.metadata.labels;
    expect(selects((shared.spec as any).selector, podLabels)).toBe(false);
    expect(selects((copySvc.spec as any).selector, podLabels)).toBe(true);
    expect((copyDep.spec as any).replicas).toBe(1);
    const [app, sidecar] = (copyDep.spec as any).template.spec.containers;
    expect(app.image).toBe("registry.example.com/shop/api:alice-1");
    expect(app.env).toContainEqual({ name: "FEATURE_X", value: "on" });
    expect(sidecar.image).toBe("registry.example.com/tools/log-shipper:2.0.0");
    expect((copySvc.spec as any).clusterIP).toBeUndefined();
    expect(copyDep.metadata.annotations?.["forkstack.dev/expires-at"]).toBeUndefined();
  });

  it("serves a forked entry service on the first hop and overwrites a client's fork header", async () => {
    const result = await runFork(cluster, { id: "alice", services: [{ name: "frontend", namespace: "shop" }], ttl: "72h" });
    const mapping = cluster.list("getambassador.io/v3alpha1", "Mapping", "emissary")[0] as any;
    expect(mapping.spec.hostname).toBe("alice.shop.dev.example.com");
    expect(mapping.spec.service).toBe("frontend-alice.shop:80");
    expect(mapping.spec.add_request_headers["x-fork-identifier"]).toEqual({ value: "alice", append: false });
    expect(result.outputs.urls).toEqual({ "shop.dev.example.com": "https://alice.shop.dev.example.com/" });
    expect(result.outputs.expiresAt).toBe("2026-11-26T10:00:00Z");
  });

  it("makes a header-only fork of Mappings alone: no pods, no routes", async () => {
    const result = await runFork(cluster, { id: "flags", headers: { "x-feature-flags": "new-checkout=on" } });
    const created = result.resources.filter((r) => !r.read).map((r) => r.type);
    expect(created).not.toContain("kubernetes:apps/v1:Deployment");
    expect(created).not.toContain("pulumi-nodejs:dynamic:Resource");
    const mapping = cluster.list("getambassador.io/v3alpha1", "Mapping", "emissary")[0] as any;
    expect(mapping.spec.service).toBe("frontend.shop:80");
    expect(mapping.spec.add_request_headers["x-feature-flags"]).toEqual({ value: "new-checkout=on", append: false });
    expect(result.outputs.copies).toEqual([]);
  });

  it("yields valid names for a 50-character service in a 25-character fork", async () => {
    const long = "s" + "e".repeat(48) + "x";
    const seed = (cluster.get("v1", "Service", "shop", "api")!);
    const dep = cluster.get("apps/v1", "Deployment", "shop", "api")!;
    cluster.put({ ...seed, metadata: { ...seed.metadata, name: long } });
    cluster.put({ ...dep, metadata: { ...dep.metadata, name: long } });
    const fork = "pr-20261123-checkout-flow";
    expect(fork).toHaveLength(25);
    await runFork(cluster, { id: fork, services: [{ name: long, namespace: "shop", deployment: long }] });
    const copies = cluster.all().filter((o) => o.metadata.labels?.["forkstack.dev/fork"] === fork && o.kind !== "Mapping");
    expect(copies.map((o) => o.kind).sort()).toEqual(["Deployment", "Service"]);
    for (const o of copies) {
      expect(o.metadata.name.length).toBeLessThanOrEqual(63);
      expect(o.metadata.name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  it("produces only objects that validate against the real schemas", async () => {
    await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }, { name: "catalog", namespace: "shop" }, { name: "frontend", namespace: "shop" }], headers: { "x-a": "1" } });
    const made = cluster.all().filter((o) => o.metadata.labels?.["forkstack.dev/fork"] === "alice" || o.kind === "VirtualService");
    expect(made.length).toBeGreaterThanOrEqual(8);
    for (const o of made) {
      if (o.apiVersion.startsWith("getambassador.io/")) validateEmissary(o);
      else validateAgainstSchema(o);
    }
  });

  it("refuses a copy name another fork's copy already holds", async () => {
    const dep = cluster.get("apps/v1", "Deployment", "shop", "api")!;
    const svc = cluster.get("v1", "Service", "shop", "api")!;
    cluster.put({ ...svc, metadata: { ...svc.metadata, name: "api-v2" } });
    cluster.put({ ...dep, metadata: { ...dep.metadata, name: "api-v2" } });
    await runFork(cluster, { id: "alice", services: [{ name: "api-v2", namespace: "shop" }] });
    const err = await runFork(cluster, { id: "v2-alice", services: [{ name: "api", namespace: "shop" }] }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toBe(
      'stack v2-alice: forkstack:fork.services[0].name: "api.shop" would be copied to Service shop/api-v2-alice, which fork "alice" owns; choose another fork id',
    );
  });

  it("refuses a fork id that makes a flat-scheme host label longer than 63 characters", async () => {
    const id = "a".repeat(30);
    const upstreams = [{ host: `${"s".repeat(33)}.dev.example.com`, service: { name: "frontend", namespace: "shop", port: 80 } }];
    const err = await runFork(cluster, { id }, { ...BASE_OUTPUTS, hostScheme: "flat", upstreams }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^stack a{30}: forkstack:fork\.id: "a{30}" makes the host label "a{30}--s{33}" longer than 63 characters; use a fork id of at most 28 characters$/);
    expect(cluster.list("getambassador.io/v3alpha1", "Mapping")).toEqual([]);
  });

  it("reaches the cluster with the base stack's kubeconfig context", async () => {
    const seen: (string | undefined)[] = [];
    setClusterAccessFactory(async (_kubeconfig, context) => {
      seen.push(context);
      return simulatedAccess(cluster);
    });
    const result = await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }] }, { ...BASE_OUTPUTS, kubeContext: "dev-admin" });
    expect(seen).toContain("dev-admin");
    const provider = result.resources.find((r) => r.type === "pulumi:providers:kubernetes");
    expect(provider?.plainInputs.context).toBe("dev-admin");
    const routes = result.resources.find((r) => r.type === "pulumi-nodejs:dynamic:Resource");
    expect(routes?.plainInputs.context).toBe("dev-admin");
  });

  it("says in one line when the base stack's cluster cannot be reached", async () => {
    setClusterAccessFactory(async () => {
      throw new Error("connect ECONNREFUSED 10.0.0.1:443\n    at TCPConnectWrap.afterConnect");
    });
    const err = await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }] }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toBe(
      'stack alice: forkstack:baseStack: "organization/forkstack/dev" gives a cluster forkstack cannot read (connect ECONNREFUSED 10.0.0.1:443); check that the cluster is up and your credentials work (kubectl get services -A)',
    );
  });

  it("refuses extra headers that would overwrite the fork header, before registering any resource", async () => {
    const result = runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }], headers: { "x-fork-identifier": "bob" } });
    const err = await result.then(() => undefined, (e: Error) => e);
    expect(err?.message).toBe(
      'stack alice: forkstack:fork.headers.x-fork-identifier: "bob" would overwrite the fork header the gateway sets; remove it; the gateway sets x-fork-identifier: alice itself',
    );
    expect(cluster.all().filter((o) => o.metadata.labels?.["forkstack.dev/fork"] === "alice")).toEqual([]);
  });

  it("rejects an unparseable FORKSTACK_NOW in one line", async () => {
    process.env.FORKSTACK_NOW = "next tuesday";
    const err = await runFork(cluster, { id: "alice" }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toBe('stack alice: FORKSTACK_NOW: "next tuesday" is not a date; use ISO 8601, e.g. 2026-11-23T10:00:00Z, or unset it');
  });

  it("stops on an unknown service with one line naming the field, before creating anything", async () => {
    const err = await runFork(cluster, { id: "alice", services: [{ name: "apx", namespace: "shop" }] }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toBe(
      "stack alice: forkstack:fork.services[0].name: \"apx.shop\" is not a Service in the shared cluster; check the name and namespace (kubectl get services -n shop)",
    );
    expect(cluster.all().filter((o) => o.metadata.labels?.["forkstack.dev/fork"] === "alice")).toEqual([]);
  });
});
