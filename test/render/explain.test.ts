import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { KubeObject } from "../../render/cluster";
import { applyMappingHeaders, explainRequest, formatExplanation, parseServiceName } from "../../render/explain";
import { LABELS, mappingName, routeName } from "../../components/naming";
import { hasSchema, validateAgainstSchema } from "../helpers/schemas";
import { validateEmissary } from "../helpers/emissary";

const FIXTURE = path.join(__dirname, "../fixtures/explain/alice.yaml");

function load(): KubeObject[] {
  return YAML.parseAllDocuments(fs.readFileSync(FIXTURE, "utf8")).map((d) => d.toJS() as KubeObject);
}

const CHAIN = ["api", "catalog"];

function deployment(name: string, podLabels: Record<string, string>, image: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: "shop" },
    spec: { selector: { matchLabels: podLabels }, template: { metadata: { labels: podLabels }, spec: { containers: [{ name, image }] } } },
  };
}

function without(objects: KubeObject[], kind: string, name: string): KubeObject[] {
  return objects.filter((o) => !(o.kind === kind && o.metadata.name === name));
}

describe("the fixture", () => {
  it("holds only Kubernetes and Istio objects that validate against their published schemas", () => {
    const checked = load().filter(hasSchema);
    expect(checked).toHaveLength(11);
    for (const o of checked) expect(() => validateAgainstSchema(o)).not.toThrow();
  });

  it("holds Emissary Mappings that validate against the v3alpha1 CRD schema", () => {
    const mappings = load().filter((o) => o.kind === "Mapping");
    expect(mappings).toHaveLength(2);
    for (const m of mappings) expect(() => validateEmissary(m)).not.toThrow();
  });

  it("uses the names naming.ts gives the Mappings and alice's route", () => {
    const names = load().map((o) => o.metadata.name);
    expect(names).toEqual(expect.arrayContaining([mappingName("shop.dev.example.com"), mappingName("shop.dev.example.com", "alice")]));
    const vs = load().find((o) => o.kind === "VirtualService")!;
    expect((vs.spec as any).http[0].name).toBe(routeName("alice"));
  });
});

describe("explainRequest", () => {
  it("sends a fork request from the gateway to the fork's copy of the entry service when the Mapping targets the copy", () => {
    const { hops } = explainRequest(load(), { host: "alice.shop.dev.example.com", calls: [] });
    expect(hops[0]).toEqual({
      service: "frontend-alice.shop:80",
      decidedBy: "Mapping emissary/fork-alice-shop-dev-example-com",
      target: "shop/frontend-alice",
      deployment: "frontend-alice",
      image: "registry.example.com/frontend:alice-1",
      fork: "alice",
      broken: false,
    });
  });

  it("routes api to alice's copy through her named route", () => {
    const { hops } = explainRequest(load(), { host: "alice.shop.dev.example.com", calls: CHAIN });
    expect(hops[1]).toMatchObject({ service: "api", decidedBy: "VirtualService shop/api route forkstack-alice", target: "shop/api-alice", image: "registry.example.com/api:alice-1", fork: "alice" });
  });

  it("routes catalog, which alice did not copy, to the shared Service", () => {
    const { hops } = explainRequest(load(), { host: "alice.shop.dev.example.com", calls: CHAIN });
    expect(hops[2]).toMatchObject({ service: "catalog", decidedBy: "Service (no VirtualService)", target: "shop/catalog", deployment: "catalog", fork: undefined });
  });

  it("reports no problems for an intact chain", () => {
    expect(explainRequest(load(), { host: "alice.shop.dev.example.com", calls: CHAIN }).problems).toEqual([]);
  });

  it("overwrites a client-sent fork header on a fork host (append: false)", () => {
    const { headers } = explainRequest(load(), { host: "alice.shop.dev.example.com", headers: { "X-Fork-Identifier": "bob" }, calls: [] });
    expect(headers["x-fork-identifier"]).toBe("alice");
  });

  it("strips a client-sent fork header on the shared host, so the request stays on shared services", () => {
    const result = explainRequest(load(), { host: "shop.dev.example.com", headers: { "x-fork-identifier": "alice" }, calls: CHAIN });
    expect(result.headers["x-fork-identifier"]).toBeUndefined();
    expect(result.hops.map((h) => h.target)).toEqual(["shop/frontend", "shop/api", "shop/catalog"]);
    expect(result.hops[1].decidedBy).toBe("VirtualService shop/api route default");
  });

  it("matches the host without the port a client may send", () => {
    expect(explainRequest(load(), { host: "alice.shop.dev.example.com:443", calls: [] }).hops[0].target).toBe("shop/frontend-alice");
  });

  it("resolves a call written name.namespace", () => {
    expect(explainRequest(load(), { host: "alice.shop.dev.example.com", calls: ["api.shop"] }).hops[1].target).toBe("shop/api-alice");
  });

  it("states the header-propagation assumption", () => {
    expect(explainRequest(load(), { host: "shop.dev.example.com", calls: [] }).assumptions[0]).toMatch(/^every service propagates the x-fork-identifier header/);
  });

  describe("reports a broken chain", () => {
    it("when no Mapping serves the host, and stops there", () => {
      const result = explainRequest(load(), { host: "bob.shop.dev.example.com", calls: CHAIN });
      expect(result.problems).toEqual([{ hop: 0, message: "no Mapping for host bob.shop.dev.example.com and path /: the gateway answers 404" }]);
      expect(result.hops).toEqual([{ service: "(gateway)", decidedBy: "no Mapping", broken: true }]);
    });

    it("when two VirtualServices cover one host", () => {
      const extra: KubeObject = {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "api-team", namespace: "shop" },
        spec: { hosts: ["api.shop.svc.cluster.local"], http: [{ route: [{ destination: { host: "api" } }] }] },
      };
      const result = explainRequest([...load(), extra], { host: "alice.shop.dev.example.com", calls: CHAIN });
      expect(result.hops[1].broken).toBe(true);
      expect(result.problems).toEqual([
        { hop: 1, message: "2 VirtualServices for host api.shop.svc.cluster.local (shop/api, shop/api-team): Istio honours only one per host (IST0109)" },
      ]);
    });

    it("ignores a gateway-bound VirtualService for the same host", () => {
      const gatewayBound: KubeObject = {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "api-public", namespace: "shop" },
        spec: { hosts: ["api"], gateways: ["istio-system/public"], http: [{ route: [{ destination: { host: "api" } }] }] },
      };
      expect(explainRequest([...load(), gatewayBound], { host: "alice.shop.dev.example.com", calls: CHAIN }).problems).toEqual([]);
    });

    it("when a Service selects both shared and fork pods", () => {
      const leaky = deployment("catalog-alice", { app: "catalog", [LABELS.fork]: "alice" }, "registry.example.com/catalog:alice-1");
      leaky.metadata.labels = { [LABELS.fork]: "alice" };
      const result = explainRequest([...load(), leaky], { host: "alice.shop.dev.example.com", calls: CHAIN });
      expect(result.hops[2].broken).toBe(true);
      expect(result.problems).toEqual([
        { hop: 2, message: "Service shop/catalog selects both shared and fork pods (catalog, catalog-alice): a fork copy must change a selected label" },
      ]);
    });

    it("when a Service selects no Deployment", () => {
      const result = explainRequest(without(load(), "Deployment", "catalog"), { host: "alice.shop.dev.example.com", calls: CHAIN });
      expect(result.hops[2]).toEqual({ service: "catalog", decidedBy: "Service (no VirtualService)", target: "shop/catalog", broken: true });
      expect(result.problems).toEqual([{ hop: 2, message: `Service shop/catalog selects no Deployment (selector {"app":"catalog"})` }]);
    });

    it("when a route's destination host has no Service", () => {
      const result = explainRequest(without(load(), "Service", "api-alice"), { host: "alice.shop.dev.example.com", calls: CHAIN });
      expect(result.hops[1].broken).toBe(true);
      expect(result.problems).toEqual([
        { hop: 1, message: "route forkstack-alice of VirtualService shop/api sends to host api-alice.shop.svc.cluster.local, but there is no Service shop/api-alice" },
      ]);
    });

    it("when the chain calls a service that does not exist", () => {
      const result = explainRequest(load(), { host: "alice.shop.dev.example.com", calls: ["payments"] });
      expect(result.problems).toEqual([{ hop: 1, message: "the chain calls payments, but there is no Service shop/payments" }]);
    });

    it("when the Mapping's service does not exist", () => {
      const result = explainRequest(without(load(), "Service", "frontend-alice"), { host: "alice.shop.dev.example.com", calls: [] });
      expect(result.problems).toEqual([
        { hop: 0, message: "Mapping emissary/fork-alice-shop-dev-example-com sends to frontend-alice.shop:80, but there is no Service shop/frontend-alice" },
      ]);
    });
  });
});

describe("applyMappingHeaders", () => {
  const mapping = (add: Record<string, unknown>, remove: string[] = []): KubeObject => ({
    apiVersion: "getambassador.io/v3alpha1",
    kind: "Mapping",
    metadata: { name: "m", namespace: "emissary" },
    spec: { add_request_headers: add, remove_request_headers: remove },
  });

  it("joins a client-sent value with the Mapping's when append is absent (Emissary's default)", () => {
    expect(applyMappingHeaders(mapping({ "x-fork-identifier": "alice" }), { "x-fork-identifier": "bob" })).toEqual({ "x-fork-identifier": "bob,alice" });
  });

  it("removes before it adds, so a removed header can be set afresh", () => {
    expect(applyMappingHeaders(mapping({ "x-fork-identifier": { value: "alice" } }, ["x-fork-identifier"]), { "x-fork-identifier": "bob" })).toEqual({ "x-fork-identifier": "alice" });
  });
});

describe("parseServiceName", () => {
  it("reads the namespace from name.namespace.svc.cluster.local with a port", () => {
    expect(parseServiceName("api.shop.svc.cluster.local:80", "default")).toEqual({ name: "api", namespace: "shop" });
  });

  it("uses the fallback namespace for a bare name with a scheme", () => {
    expect(parseServiceName("http://api:8080", "emissary")).toEqual({ name: "api", namespace: "emissary" });
  });
});

describe("formatExplanation", () => {
  const text = formatExplanation(explainRequest(load(), { host: "alice.shop.dev.example.com", calls: CHAIN }));

  it("shows the Deployment and image of every hop", () => {
    const rows = text.split("\n").slice(1, 4);
    expect(rows[0]).toMatch(/frontend-alice \(Service shop\/frontend-alice\)\s+registry\.example\.com\/frontend:alice-1\s+alice$/);
    expect(rows[1]).toMatch(/VirtualService shop\/api route forkstack-alice\s+api-alice \(Service shop\/api-alice\)\s+registry\.example\.com\/api:alice-1\s+alice$/);
    expect(rows[2]).toMatch(/catalog \(Service shop\/catalog\)\s+ghcr\.io\/stefanprodan\/podinfo:6\.7\.1\s+shared$/);
  });

  it("prints the fork header the entry service receives, the assumption and the verdict", () => {
    expect(text).toContain("\nx-fork-identifier after the gateway: alice\n");
    expect(text).toContain("\nassumption: every service propagates the x-fork-identifier header");
    expect(text.endsWith("\nchain ok")).toBe(true);
  });

  it("shows the other headers the fork's Mapping adds", () => {
    expect(text).toContain("\nthe gateway also sets: x-feature-flags: new-checkout=on\n");
  });

  it("does not list a header the client already sent with the same value", () => {
    const same = formatExplanation(explainRequest(load(), { host: "alice.shop.dev.example.com", headers: { "x-feature-flags": "new-checkout=on" }, calls: CHAIN }));
    expect(same).not.toContain("the gateway also sets");
  });

  it("keeps the table when it fits the width", () => {
    expect(formatExplanation(explainRequest(load(), { host: "alice.shop.dev.example.com", calls: CHAIN }), { width: 1000 })).toBe(text);
  });

  describe("narrower than its table", () => {
    const narrow = formatExplanation(explainRequest(load(), { host: "alice.shop.dev.example.com", calls: CHAIN }), { width: 80 });

    it("fits every line in the width", () => {
      expect(narrow.split("\n").filter((l) => [...l].length > 80)).toEqual([]);
    });

    it("gives each hop a block with its target, fork, route, Deployment and image", () => {
      expect(narrow).toContain(
        "1  api → Service shop/api-alice  (alice)\n   decided by VirtualService shop/api route forkstack-alice\n   served by api-alice, image registry.example.com/api:alice-1\n",
      );
    });
  });

  it("marks a broken hop and lists its problem", () => {
    const broken = formatExplanation(explainRequest(load(), { host: "alice.shop.dev.example.com", calls: ["payments"] }));
    expect(broken).toMatch(/^1\s+payments\s+Service \(no VirtualService\)\s+-\s+-\s+shared  BROKEN$/m);
    expect(broken).toContain("problem (hop 1): the chain calls payments, but there is no Service shop/payments");
    expect(broken.endsWith("\nchain BROKEN")).toBe(true);
  });
});

describe("explain and routing agree on which VirtualService covers a host", () => {
  const wildcard = (name: string, http: unknown[]): KubeObject => ({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name, namespace: "shop" },
    spec: { hosts: ["*.shop.svc.cluster.local"], http },
  });

  it("follows a wildcard VirtualService when no exact one names the host", () => {
    const objects = [...without(load(), "VirtualService", "api"), wildcard("all-shop", [{ name: "slow", timeout: "9s", route: [{ destination: { host: "api.shop.svc.cluster.local" } }] }])];
    const { hops } = explainRequest(objects, { host: "alice.shop.dev.example.com", calls: ["api"] });
    expect(hops[1].decidedBy).toBe("VirtualService shop/all-shop route slow");
  });

  it("lets the exact VirtualService win over a wildcard one, as the fork routes do", () => {
    const objects = [...load(), wildcard("all-shop", [{ name: "slow", route: [{ destination: { host: "api.shop.svc.cluster.local" } }] }])];
    const { hops, problems } = explainRequest(objects, { host: "alice.shop.dev.example.com", calls: ["api"] });
    expect([hops[1].decidedBy, problems]).toEqual([`VirtualService shop/api route ${routeName("alice")}`, []]);
  });
});

describe("selectRoute at a gateway", () => {
  const { selectRoute } = require("../../render/explain") as typeof import("../../render/explain");
  const { addForkRoutes } = require("../../components/fork/routes") as typeof import("../../components/fork/routes");
  const bound = addForkRoutes(
    {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "api", namespace: "payments" },
      spec: { hosts: ["api"], gateways: ["mesh", "payments/public-gw"], http: [{ name: "default", route: [{ destination: { host: "api" } }] }] },
    },
    { forkId: "alice", headerName: "x-fork-identifier", service: { name: "api", namespace: "payments" }, targetHost: "api-alice.payments.svc.cluster.local" },
  );
  const fork = { "x-fork-identifier": "alice" };

  it("sends a request with the fork header from the public gateway to the shared route", () => {
    expect(selectRoute(bound, fork, "/", "payments/public-gw")?.route.name).toBe("default");
  });

  it("sends a request with the fork header from a sidecar to the fork's route", () => {
    expect(selectRoute(bound, fork, "/", "mesh")?.route.name).toBe(routeName("alice"));
  });
});
