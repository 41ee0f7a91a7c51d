/**
 * The fork stack end to end under the SDK's mocks: the real index.ts program, a simulated cluster
 * seeded with what a live cluster returns (test/fixtures/fork/shop.yaml), the base stack's outputs
 * answered through the StackReference, and the fork's route claims applied by the same
 * read-modify-write the live dynamic provider runs.
 */
import { requestTimeoutSeconds } from "../../components/forkProgram";
import * as path from "path";
import { forkRoutesHandler } from "../../render/simulatedApi";
import { resetClusterAccessFactory, setClusterAccessFactory } from "../../components/kube/access";
import { SimulatedCluster } from "../../render/cluster";
import { runStack, StackResult } from "../../render/runtime";
import { simulatedAccess } from "../../render/simulatedApi";
import { validateAgainstSchema } from "../helpers/schemas";
import { validateEmissary } from "../helpers/emissary";
import { explainRequest, selectRoute } from "../../render/explain";
import { sharedMapping } from "../../components/mappings";
import program = require("../../index");
import { SHOP_BASE_OUTPUTS } from "../helpers/baseOutputs";

const FIXTURE = path.join(__dirname, "../fixtures/fork/shop.yaml");
const PAYMENTS = path.join(__dirname, "../fixtures/fork/payments.yaml");
const BASE_OUTPUTS: Record<string, unknown> & typeof SHOP_BASE_OUTPUTS = { ...SHOP_BASE_OUTPUTS, kubeconfig: "" };

function selects(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

async function runFork(cluster: SimulatedCluster, fork: unknown, base: Record<string, unknown> = BASE_OUTPUTS, stack?: string): Promise<StackResult> {
  const id = (fork as { id: string }).id;
  return runStack({
    stack: stack ?? id,
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
    // The newer fork's route is inserted first (fork/routePatch.ts).
    expect(names).toEqual(["forkstack-bob", "forkstack-alice", "default"]);
    const alice = (vss[0].spec as any).http[1];
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
      'stack v2-alice: forkstack:fork.services[0].deployment: "api.shop" would be copied to Deployment shop/api-v2-alice, which fork "alice" (stack forkstack/alice) owns; choose another fork id, or name another Deployment with `deployment:`',
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

  it("bounds every request of its Kubernetes provider, also on the ambient cluster (kubeconfig \"\"): 70 s, or PULUMI_K8S_CLIENT_TIMEOUT", async () => {
    const result = await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }] });
    const providers = result.resources.filter((r) => r.type === "pulumi:providers:kubernetes");
    // The SDK hands the provider its kubeClientSettings as JSON text.
    expect(providers.map((p) => [p.name, p.plainInputs.kubeconfig, JSON.parse(String(p.plainInputs.kubeClientSettings))])).toEqual([["shared-cluster", undefined, { timeout: 70 }]]);
    expect([requestTimeoutSeconds({ PULUMI_K8S_CLIENT_TIMEOUT: "5" }), requestTimeoutSeconds({}), requestTimeoutSeconds({ PULUMI_K8S_CLIENT_TIMEOUT: "" })]).toEqual([5, 70, 70]);
    process.env.PULUMI_K8S_CLIENT_TIMEOUT = "soon";
    try {
      const err = await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }] }).then(() => undefined, (e: Error) => e);
      expect(err?.message).toBe(`stack alice: PULUMI_K8S_CLIENT_TIMEOUT: "soon" is not a whole number of seconds; set it to e.g. 60, or unset it for forkstack's 70`);
    } finally {
      delete process.env.PULUMI_K8S_CLIENT_TIMEOUT;
    }
    for (const bad of ["soon", "0", "1.5", "-3"]) {
      expect(() => requestTimeoutSeconds({ PULUMI_K8S_CLIENT_TIMEOUT: bad })).toThrow(`PULUMI_K8S_CLIENT_TIMEOUT: ${JSON.stringify(bad)} is not a whole number of seconds; set it to e.g. 60, or unset it for forkstack's 70`);
    }
  });

  it("on the ambient cluster finds the kubeconfig and context as the default provider would: the stack's kubernetes:* config first", async () => {
    const result = await runStack({
      stack: "alice",
      config: { "forkstack:baseStack": "organization/forkstack/dev", "forkstack:fork": { id: "alice", services: [{ name: "api", namespace: "shop" }] }, "kubernetes:kubeconfig": "/home/alice/.kube/dev", "kubernetes:context": "kind-dev" },
      cluster,
      stackOutputs: { dev: BASE_OUTPUTS },
      program,
      dynamicHandlers: { ForkRoutes: forkRoutesHandler },
    });
    const [provider] = result.resources.filter((r) => r.type === "pulumi:providers:kubernetes");
    expect([provider.plainInputs.kubeconfig, provider.plainInputs.context]).toEqual(["/home/alice/.kube/dev", "kind-dev"]);
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

/** Follows a request through the rendered objects (render/explain.ts), as a user would. */
function follow(cluster: SimulatedCluster, host: string, calls: string[]) {
  return explainRequest(cluster.all(), { host, calls });
}
const refusal = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e.message);
const madeBy = (cluster: SimulatedCluster, fork: string) => cluster.all().filter((o) => o.metadata.labels?.["forkstack.dev/fork"] === fork);
const ledger = { name: "ledger", namespace: "payments" };

describe("ForkStack keeps every fork isolated (payments: three Services over one Deployment, a gateway-bound and a delegating VirtualService)", () => {
  let cluster: SimulatedCluster;
  beforeEach(() => {
    process.env.FORKSTACK_NOW = "2026-11-23T10:00:00Z";
    cluster = SimulatedCluster.fromFiles([FIXTURE, PAYMENTS]);
    // The base stack's shared Mapping, so requests to the shared host can be followed too.
    cluster.put(sharedMapping(BASE_OUTPUTS.upstreams[0], { ambassadorId: "fork-proxy-ambassador", namespace: "emissary", headerName: "x-fork-identifier" }));
    setClusterAccessFactory(async () => simulatedAccess(cluster));
  });
  afterEach(() => resetClusterAccessFactory());

  it("keeps shared callers of a second Service (selecting app.kubernetes.io/name only) on the shared pods", async () => {
    await runFork(cluster, { id: "alice", services: [ledger] });
    const { hops, problems } = follow(cluster, "shop.dev.example.com", ["ledger-grpc.payments"]);
    expect([hops[1].deployment, problems]).toEqual(["ledger", []]);
  });

  it("keeps a headless metrics Service over the forked Deployment on the shared pods", async () => {
    await runFork(cluster, { id: "alice", services: [ledger] });
    const { hops, problems } = follow(cluster, "shop.dev.example.com", ["ledger-metrics.payments"]);
    expect([hops[1].deployment, problems]).toEqual(["ledger", []]);
  });

  it("takes the copy's pods out of the shared PodDisruptionBudget and NetworkPolicy", async () => {
    await runFork(cluster, { id: "alice", services: [ledger] });
    const pods = (cluster.get("apps/v1", "Deployment", "payments", "ledger-alice")!.spec as any).template.metadata.labels;
    const pdb = (cluster.get("policy/v1", "PodDisruptionBudget", "payments", "ledger")!.spec as any).selector.matchLabels;
    expect([selects(pdb, pods), pods.app]).toEqual([false, "ledger-forkstack-alice"]);
  });

  it("sends a fork request to the copy and a shared request to the shared pods", async () => {
    await runFork(cluster, { id: "alice", services: [ledger] });
    const fork = follow(cluster, "alice.shop.dev.example.com", ["ledger.payments"]);
    const shared = follow(cluster, "shop.dev.example.com", ["ledger.payments"]);
    expect([fork.hops[1].deployment, shared.hops[1].deployment, fork.problems, shared.problems]).toEqual(["ledger-alice", "ledger", [], []]);
  });

  it("applies the fork route to sidecars only on a VirtualService bound to a public gateway", async () => {
    await runFork(cluster, { id: "alice", services: [ledger] });
    const vs = cluster.get("networking.istio.io/v1", "VirtualService", "payments", "ledger")!;
    const header = { "x-fork-identifier": "alice" };
    expect([selectRoute(vs, header, "/", "payments/public-gw")?.route.name, selectRoute(vs, header, "/", "mesh")?.route.name]).toEqual(["ledger-default", "forkstack-alice"]);
  });

  const checkout = { name: "checkout", namespace: "payments" };
  const vsOf = (name: string) => cluster.get("networking.istio.io/v1", "VirtualService", "payments", name)!;

  it("puts the fork's route for a delegating Service inside the delegate", async () => {
    await runFork(cluster, { id: "alice", services: [checkout] });
    expect((vsOf("checkout-routes").spec as any).http.map((r: any) => r.name)).toEqual(["forkstack-alice", "checkout-default"]);
  });

  it("leaves the delegating root VirtualService as it was", async () => {
    const before = vsOf("checkout").spec;
    await runFork(cluster, { id: "alice", services: [checkout] });
    expect(vsOf("checkout").spec).toEqual(before);
  });

  it("sends a fork request through the delegate to the copy and a shared one to the shared pods", async () => {
    await runFork(cluster, { id: "alice", services: [checkout] });
    const fork = follow(cluster, "alice.shop.dev.example.com", ["checkout.payments"]);
    const shared = follow(cluster, "shop.dev.example.com", ["checkout.payments"]);
    expect([fork.hops[1].deployment, shared.hops[1].deployment, fork.problems, shared.problems]).toEqual(["checkout-alice", "checkout", [], []]);
  });

  it("keeps the delegate valid against the Istio schema", async () => {
    await runFork(cluster, { id: "alice", services: [checkout] });
    expect(() => validateAgainstSchema(vsOf("checkout-routes"))).not.toThrow();
  });

  it("refuses a VirtualService that mixes delegated and direct routes, before anything is created", async () => {
    const root = vsOf("checkout");
    cluster.put({ ...root, spec: { ...(root.spec as any), http: [{ name: "health", match: [{ uri: { exact: "/healthz" } }], route: [{ destination: { host: "checkout" } }] }, ...(root.spec as any).http] } });
    const err = await refusal(runFork(cluster, { id: "alice", services: [checkout] }));
    expect(err).toBe(
      'stack alice: forkstack:fork.services[0].name: "checkout.payments" cannot get fork routes: VirtualService payments/checkout mixes routes delegated to payments/checkout-routes with routes of its own; forkstack places fork routes in one delegate only when every route delegates there; let every route of the VirtualService delegate to one delegate, or move the delegate\'s routes into it, or do not fork this Service',
    );
    expect(madeBy(cluster, "alice")).toEqual([]);
  });

  it("refuses a Deployment whose pods a selector without a changeable label picks, naming it", async () => {
    cluster.put({ apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "backend-egress", namespace: "payments" }, spec: { podSelector: { matchExpressions: [{ key: "app", operator: "Exists" }] }, policyTypes: ["Egress"] } });
    const err = await refusal(runFork(cluster, { id: "alice", services: [ledger] }));
    expect(err).toMatch(/^stack alice: forkstack:fork\.services\[0\]\.deployment: "ledger\.payments" cannot be copied safely: NetworkPolicy payments\/backend-egress would still select the copy's pods/);
    expect(madeBy(cluster, "alice")).toEqual([]);
  });

  it("forks two Services over one Deployment with exactly one Deployment copy", async () => {
    await runFork(cluster, { id: "alice", services: [ledger, { name: "ledger-grpc", namespace: "payments", deployment: "ledger" }] });
    expect(madeBy(cluster, "alice").filter((o) => o.kind === "Deployment").map((o) => o.metadata.name)).toEqual(["ledger-alice"]);
  });

  it("sends fork requests to either forked Service to the one Deployment copy", async () => {
    await runFork(cluster, { id: "alice", services: [ledger, { name: "ledger-grpc", namespace: "payments", deployment: "ledger" }] });
    const { hops, problems } = follow(cluster, "alice.shop.dev.example.com", ["ledger.payments", "ledger-grpc.payments"]);
    expect([hops[1].deployment, hops[2].deployment, problems]).toEqual(["ledger-alice", "ledger-alice", []]);
  });

  it("produces objects that validate against the real schemas for the payments fork", async () => {
    await runFork(cluster, { id: "alice", services: [ledger, { name: "ledger-grpc", namespace: "payments", deployment: "ledger" }] });
    const made = cluster.all().filter((o) => o.metadata.labels?.["forkstack.dev/fork"] === "alice" || o.kind === "VirtualService");
    for (const o of made) {
      if (o.apiVersion.startsWith("getambassador.io/")) validateEmissary(o);
      else validateAgainstSchema(o);
    }
    expect(made.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(expect.arrayContaining(["Deployment/ledger-alice", "Service/ledger-alice", "Service/ledger-grpc-alice", "VirtualService/ledger", "VirtualService/forkstack-ledger-grpc"]));
  });
});

describe("ForkStack refuses names and hosts it does not own", () => {
  let cluster: SimulatedCluster;
  beforeEach(() => {
    process.env.FORKSTACK_NOW = "2026-11-23T10:00:00Z";
    cluster = SimulatedCluster.fromFiles([FIXTURE]);
    setClusterAccessFactory(async () => simulatedAccess(cluster));
  });
  afterEach(() => resetClusterAccessFactory());
  const up = (host: string) => ({ host, service: { name: "frontend", namespace: "shop", port: 80 } });

  it("refuses a Deployment copy name another team's Deployment holds, naming it and the way out", async () => {
    const svc = cluster.get("v1", "Service", "shop", "api")!;
    const dep = cluster.get("apps/v1", "Deployment", "shop", "api")!;
    cluster.put({ ...svc, metadata: { ...svc.metadata, name: "search" } });
    cluster.put({ ...dep, metadata: { ...dep.metadata, name: "search-api" } });
    cluster.put({ ...dep, metadata: { ...dep.metadata, name: "search-api-alice", labels: { "app.kubernetes.io/managed-by": "Helm" } } });
    const err = await refusal(runFork(cluster, { id: "alice", services: [{ name: "search", namespace: "shop", deployment: "search-api" }] }));
    expect(err).toBe(
      'stack alice: forkstack:fork.services[0].deployment: "search-api.shop" would be copied to Deployment shop/search-api-alice, which already exists and is not a fork\'s copy (managed by Helm); choose another fork id, or name another Deployment with `deployment:`',
    );
    expect(madeBy(cluster, "alice")).toEqual([]);
  });

  it("refuses a fork id another stack already uses, naming both stacks", async () => {
    await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }] }, BASE_OUTPUTS, "alice");
    const err = await refusal(runFork(cluster, { id: "alice" }, BASE_OUTPUTS, "alice-copy"));
    expect(err).toMatch(/^stack alice-copy: forkstack:fork\.id: "alice" is already used by stack forkstack\/alice \(.+\), not by this stack forkstack\/alice-copy; choose another fork id, or run `pulumi destroy` on stack forkstack\/alice first$/);
  });

  it("updates its own fork when the same stack runs again", async () => {
    await runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }] });
    await expect(runFork(cluster, { id: "alice", services: [{ name: "api", namespace: "shop" }] })).resolves.toBeDefined();
  });

  it("refuses a fork whose host is a nested shared upstream host (fork api of shop.X next to api.shop.X)", async () => {
    const base = { ...BASE_OUTPUTS, upstreams: [up("shop.dev.example.com"), up("api.shop.dev.example.com")] };
    const err = await refusal(runFork(cluster, { id: "api" }, base));
    expect(err).toBe(
      'stack api: forkstack:fork.id: "api" makes the fork host api.shop.dev.example.com, which is the shared upstream host api.shop.dev.example.com: Emissary would send shared traffic to the fork; choose another fork id',
    );
    expect(cluster.list("getambassador.io/v3alpha1", "Mapping")).toEqual([]);
  });

  it("refuses a flat-scheme fork host that is a shared upstream host", async () => {
    const base = { ...BASE_OUTPUTS, hostScheme: "flat", upstreams: [up("shop.dev.example.com"), up("alice--shop.dev.example.com")] };
    const err = await refusal(runFork(cluster, { id: "alice" }, base));
    expect(err).toMatch(/makes the fork host alice--shop\.dev\.example\.com, which is the shared upstream host/);
  });

  it("refuses a fork host a Mapping it does not own already serves", async () => {
    cluster.put({ apiVersion: "getambassador.io/v3alpha1", kind: "Mapping", metadata: { name: "legacy-alice", namespace: "emissary" }, spec: { hostname: "alice.shop.dev.example.com", prefix: "/", service: "legacy.shop:80" } });
    const err = await refusal(runFork(cluster, { id: "alice" }));
    expect(err).toBe('stack alice: forkstack:fork.id: "alice" makes the fork host alice.shop.dev.example.com, which Mapping emissary/legacy-alice already serves; choose another fork id');
  });

  it("refuses a Mapping name another fork's Mapping holds (fork a-b on shop.X, fork a on b-shop.X)", async () => {
    const base = { ...BASE_OUTPUTS, upstreams: [up("shop.dev.example.com"), up("b-shop.dev.example.com")] };
    await runFork(cluster, { id: "a-b" }, base);
    const err = await refusal(runFork(cluster, { id: "a" }, base));
    expect(err).toMatch(/^stack a: forkstack:fork\.id: "a" names its Mapping for b-shop\.dev\.example\.com emissary\/fork-a-b-shop-dev-example-com, which Mapping emissary\/fork-a-b-shop-dev-example-com already uses; choose another fork id$/);
  });

  it("refuses a fork host longer than 253 characters", async () => {
    const long = `${Array.from({ length: 3 }, () => "x".repeat(60)).join(".")}.${"y".repeat(40)}.dev.example.com`;
    expect(long.length).toBe(239);
    const err = await refusal(runFork(cluster, { id: "alice-in-wonder" }, { ...BASE_OUTPUTS, upstreams: [up(long)] }));
    expect(err).toMatch(/^stack alice-in-wonder: forkstack:fork\.id: "alice-in-wonder" makes the host alice-in-wonder\.x+… 255 characters long, over DNS's 253; use a fork id of at most 13 characters$/);
  });
});

describe("explain follows a delegating VirtualService (payments/checkout)", () => {
  it("names the delegate's route and lands on the shared checkout", () => {
    const cluster = SimulatedCluster.fromFiles([FIXTURE, PAYMENTS]);
    cluster.put(sharedMapping(BASE_OUTPUTS.upstreams[0], { ambassadorId: "fork-proxy-ambassador", namespace: "emissary", headerName: "x-fork-identifier" }));
    const { hops, problems } = follow(cluster, "shop.dev.example.com", ["checkout.payments"]);
    expect([hops[1].decidedBy, hops[1].deployment, problems]).toEqual(["VirtualService payments/checkout route to-checkout-team → delegate payments/checkout-routes route checkout-default", "checkout", []]);
  });
});
