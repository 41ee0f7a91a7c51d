import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import {
  addForkRoutes,
  coverageOf,
  findVirtualService,
  ForkRouteClaim,
  forksIn,
  removeForkRoutes,
  VirtualService,
  VS_API_VERSION,
} from "../../components/fork/routes";
import { LABELS, MANAGED_BY } from "../../components/naming";
import { validateAgainstSchema } from "../helpers/schemas";

const appTeamVs = (): VirtualService =>
  YAML.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "live", "shop-api-virtualservice.yaml"), "utf8"));

const api = { name: "api", namespace: "shop" };
const claim = (forkId: string): ForkRouteClaim => ({
  forkId,
  headerName: "x-fork-identifier",
  service: api,
  targetHost: `api-${forkId}.shop.svc.cluster.local`,
});

const http = (vs: VirtualService): any[] => (vs.spec as any).http;
const names = (vs: VirtualService) => http(vs).map((r) => r.name);
const route = (vs: VirtualService, name: string) => http(vs).find((r) => r.name === name);
const vsWith = (name: string, namespace: string, spec: Record<string, unknown>): VirtualService => ({
  apiVersion: VS_API_VERSION,
  kind: "VirtualService",
  metadata: { name, namespace },
  spec,
});

describe("coverageOf", () => {
  const fqdn = "api.shop.svc.cluster.local";
  const kind = (...vss: VirtualService[]) => coverageOf(vss, fqdn).kind;

  it.each(["api", "api.shop", "api.shop.svc", "api.shop.svc.cluster.local"])("matches host %s in the Service's namespace", (host) => {
    expect(kind(vsWith("v", "shop", { hosts: [host] }))).toBe("exact");
  });

  it("resolves a short host in the VirtualService's own namespace", () => {
    expect(kind(vsWith("v", "other", { hosts: ["api"] }))).toBe("none");
  });

  it("matches a fully qualified host from another namespace", () => {
    expect(kind(vsWith("v", "other", { hosts: ["api.shop.svc.cluster.local"] }))).toBe("exact");
  });

  it("ignores a gateway-only VirtualService", () => {
    expect(kind(vsWith("v", "shop", { hosts: ["api"], gateways: ["istio-system/public"] }))).toBe("none");
  });

  it("counts a VirtualService bound to the mesh and a gateway", () => {
    expect(kind(vsWith("v", "shop", { hosts: ["api"], gateways: ["mesh", "istio-system/public"] }))).toBe("exact");
  });

  it("reports a wildcard host that covers the Service", () => {
    expect(kind(vsWith("v", "shop", { hosts: ["*.shop.svc.cluster.local"] }))).toBe("wildcard");
  });

  it("lets an exact host win over a wildcard", () => {
    const c = coverageOf([vsWith("wild", "shop", { hosts: ["*.shop.svc.cluster.local"] }), vsWith("exact", "shop", { hosts: ["api"] })], fqdn);
    expect(c.kind === "exact" && c.virtualService.metadata.name).toBe("exact");
  });

  it("lets the more specific of two wildcards win", () => {
    const c = coverageOf([vsWith("all", "shop", { hosts: ["*.svc.cluster.local"] }), vsWith("shop", "shop", { hosts: ["*.shop.svc.cluster.local"] })], fqdn);
    expect(c.kind === "wildcard" && c.virtualService.metadata.name).toBe("shop");
  });

  it("refuses to fork under a wildcard-only VirtualService", () => {
    expect(() => findVirtualService([vsWith("v", "shop", { hosts: ["*.shop.svc.cluster.local"] })], api)).toThrow(/only the wildcard VirtualService shop\/v/);
  });
});

describe("findVirtualService", () => {
  it("returns the one covering VirtualService", () => {
    const list = [vsWith("web", "shop", { hosts: ["web"] }), appTeamVs()];
    expect(findVirtualService(list, api)?.metadata.name).toBe("api");
  });

  it("returns undefined when none covers the Service", () => {
    expect(findVirtualService([vsWith("web", "shop", { hosts: ["web"] })], api)).toBeUndefined();
  });

  it("throws naming both when two VirtualServices cover the Service", () => {
    const list = [appTeamVs(), vsWith("api-canary", "ops", { hosts: ["api.shop.svc.cluster.local"] })];
    expect(() => findVirtualService(list, api)).toThrow("VirtualServices shop/api and ops/api-canary both cover api.shop.svc.cluster.local");
  });
});

describe("addForkRoutes without an existing VirtualService", () => {
  const vs = addForkRoutes(undefined, claim("alice"));

  it("creates a VirtualService named for the Service in its namespace, for its FQDN", () => {
    expect(vs.apiVersion).toBe("networking.istio.io/v1");
    expect(vs.metadata.name).toBe("forkstack-api");
    expect(vs.metadata.namespace).toBe("shop");
    expect((vs.spec as any).hosts).toEqual(["api.shop.svc.cluster.local"]);
  });

  it("marks it as created by forkstack", () => {
    expect(vs.metadata.annotations).toEqual({ [LABELS.createdBy]: MANAGED_BY });
    expect(vs.metadata.labels).toEqual({ [LABELS.managedBy]: MANAGED_BY });
  });

  it("puts the fork's header route above a default route to the shared Service", () => {
    expect(http(vs)).toEqual([
      {
        name: "forkstack-alice",
        match: [{ headers: { "x-fork-identifier": { exact: "alice" } } }],
        route: [{ destination: { host: "api-alice.shop.svc.cluster.local" } }],
      },
      { name: "default", route: [{ destination: { host: "api.shop.svc.cluster.local" } }] },
    ]);
  });

  it("validates against the VirtualService schema", () => {
    expect(() => validateAgainstSchema(vs)).not.toThrow();
  });
});

describe("addForkRoutes into the app team's VirtualService", () => {
  const original = appTeamVs();
  const vs = addForkRoutes(original, claim("alice"));

  it("adds one fork route per app route, above them, in order", () => {
    expect(names(vs)).toEqual(["forkstack-alice", "forkstack-alice--1", "v2-api", "default"]);
  });

  it("ANDs the fork header into every match alternative of the app route", () => {
    expect(route(vs, "forkstack-alice").match).toEqual([
      { uri: { prefix: "/v2/" }, headers: { "x-fork-identifier": { exact: "alice" } } },
      { headers: { "x-beta": { exact: "1" }, "x-fork-identifier": { exact: "alice" } } },
    ]);
  });

  it("matches only the fork header for an app route without match", () => {
    expect(route(vs, "forkstack-alice--1").match).toEqual([{ headers: { "x-fork-identifier": { exact: "alice" } } }]);
  });

  it("keeps the app route's retries, timeout and rewrite on the fork route", () => {
    const r = route(vs, "forkstack-alice");
    expect(r.retries).toEqual({ attempts: 3, perTryTimeout: "2s", retryOn: "5xx,reset,connect-failure" });
    expect(r.timeout).toBe("5s");
    expect(r.rewrite).toEqual({ uri: "/" });
    expect(route(vs, "forkstack-alice--1").headers).toEqual({ request: { set: { "x-routed-by": "mesh" } } });
  });

  it("sends the shared destination to the fork's copy, dropping its subset and keeping its port", () => {
    expect(route(vs, "forkstack-alice").route).toEqual([{ destination: { host: "api-alice.shop.svc.cluster.local", port: { number: 80 } } }]);
  });

  it("retargets a short-named shared destination and leaves other hosts alone", () => {
    expect(route(vs, "forkstack-alice--1").route).toEqual([
      { destination: { host: "api-alice.shop.svc.cluster.local" }, weight: 90 },
      { destination: { host: "api-legacy.shop.svc.cluster.local" }, weight: 10 },
    ]);
  });

  it("leaves the app team's routes and the rest of the object untouched", () => {
    expect(http(vs).slice(2)).toEqual(http(original));
    expect(vs.metadata).toEqual(original.metadata);
    expect((vs.spec as any).hosts).toEqual(["api"]);
  });

  it("does not mutate its input", () => {
    expect(original).toEqual(appTeamVs());
  });

  it("validates against the VirtualService schema", () => {
    expect(() => validateAgainstSchema(vs)).not.toThrow();
  });
});

describe("several forks", () => {
  const withAlice = addForkRoutes(appTeamVs(), claim("alice"));
  const withBoth = addForkRoutes(withAlice, claim("bob"));

  it("coexist, the newer fork's routes first and all above the app routes", () => {
    expect(names(withBoth)).toEqual(["forkstack-bob", "forkstack-bob--1", "forkstack-alice", "forkstack-alice--1", "v2-api", "default"]);
  });

  it("lists the forks present", () => {
    expect(forksIn(withBoth)).toEqual(["bob", "alice"]);
  });

  it("re-adding a fork is idempotent", () => {
    expect(addForkRoutes(withBoth, claim("alice"))).toEqual(withBoth);
  });

  it("re-adding a fork with a new target replaces its routes in place", () => {
    const moved = addForkRoutes(withBoth, { ...claim("alice"), targetHost: "api-alice-2.shop.svc.cluster.local" });
    expect(names(moved)).toEqual(names(withBoth));
    expect(route(moved, "forkstack-alice").route[0].destination.host).toBe("api-alice-2.shop.svc.cluster.local");
    expect(route(moved, "forkstack-bob")).toEqual(route(withBoth, "forkstack-bob"));
  });

  it("removing one keeps the other's routes", () => {
    const result = removeForkRoutes(withBoth, "alice");
    expect(result.action).toBe("update");
    const vs = (result as { virtualService: VirtualService }).virtualService;
    expect(names(vs)).toEqual(["forkstack-bob", "forkstack-bob--1", "v2-api", "default"]);
    expect(http(vs).slice(0, 2)).toEqual(http(withBoth).slice(0, 2));
  });

  it("every produced VirtualService validates against the schema", () => {
    expect(() => validateAgainstSchema(withBoth)).not.toThrow();
    expect(() => validateAgainstSchema((removeForkRoutes(withBoth, "bob") as { virtualService: VirtualService }).virtualService)).not.toThrow();
  });
});

describe("removeForkRoutes", () => {
  it("returns an adopted VirtualService to its original spec after the last fork leaves", () => {
    const original = appTeamVs();
    const both = addForkRoutes(addForkRoutes(original, claim("alice")), claim("bob"));
    const afterAlice = removeForkRoutes(both, "alice") as { action: "update"; virtualService: VirtualService };
    const afterBob = removeForkRoutes(afterAlice.virtualService, "bob") as { action: "update"; virtualService: VirtualService };
    expect(afterBob.action).toBe("update");
    expect(JSON.stringify(afterBob.virtualService.spec)).toBe(JSON.stringify(original.spec));
    expect(afterBob.virtualService.metadata).toEqual(original.metadata);
  });

  it("deletes a VirtualService forkstack created once its last fork leaves", () => {
    const created = addForkRoutes(addForkRoutes(undefined, claim("alice")), claim("bob"));
    const afterAlice = removeForkRoutes(created, "alice");
    expect(afterAlice.action).toBe("update");
    expect(removeForkRoutes((afterAlice as { virtualService: VirtualService }).virtualService, "bob")).toEqual({ action: "delete" });
  });

  it("does nothing when the fork has no routes", () => {
    expect(removeForkRoutes(addForkRoutes(appTeamVs(), claim("alice")), "carol")).toEqual({ action: "none" });
  });

  it("does not confuse a fork whose id extends another's", () => {
    const vs = addForkRoutes(addForkRoutes(appTeamVs(), claim("al")), claim("alice"));
    const result = removeForkRoutes(vs, "al") as { virtualService: VirtualService };
    expect(forksIn(result.virtualService)).toEqual(["alice"]);
  });

  it("does not mutate its input", () => {
    const vs = addForkRoutes(appTeamVs(), claim("alice"));
    const before = structuredClone(vs);
    removeForkRoutes(vs, "alice");
    expect(vs).toEqual(before);
  });
});

describe("a weighted split between subsets of the shared Service", () => {
  const split = vsWith("api", "shop", {
    hosts: ["api"],
    http: [{ name: "split", route: [{ destination: { host: "api", subset: "v1" }, weight: 80 }, { destination: { host: "api", subset: "v2" }, weight: 20 }] }],
  });

  it("becomes one destination at the copy carrying the whole weight", () => {
    expect(route(addForkRoutes(split, claim("alice")), "forkstack-alice").route).toEqual([{ destination: { host: "api-alice.shop.svc.cluster.local" }, weight: 100 }]);
  });
});

describe("an adopted VirtualService with tcp routes only", () => {
  const tcpOnly = vsWith("api", "shop", { hosts: ["api"], tcp: [{ route: [{ destination: { host: "api" } }] }] });

  it("gets a header route to the copy", () => {
    expect(http(addForkRoutes(tcpOnly, claim("alice")))).toEqual([
      {
        name: "forkstack-alice",
        match: [{ headers: { "x-fork-identifier": { exact: "alice" } } }],
        route: [{ destination: { host: "api-alice.shop.svc.cluster.local" } }],
      },
    ]);
  });

  it("returns to its original spec when the fork leaves", () => {
    const result = removeForkRoutes(addForkRoutes(tcpOnly, claim("alice")), "alice") as { virtualService: VirtualService };
    expect(result.virtualService.spec).toEqual(tcpOnly.spec);
  });
});

describe("fork routes on gateway-bound, delegating and look-alike VirtualServices", () => {
  const gatewayBound = () => vsWith("api", "shop", { hosts: ["api"], gateways: ["mesh", "payments/public-gw"], http: [{ name: "default", route: [{ destination: { host: "api" } }] }] });

  it("makes every fork match mesh-only on a VirtualService bound to a gateway", () => {
    const vs = addForkRoutes(gatewayBound(), claim("alice"));
    expect(route(vs, "forkstack-alice").match).toEqual([{ headers: { "x-fork-identifier": { exact: "alice" } }, gateways: ["mesh"] }]);
  });

  it("gives an app route scoped to gateways only no fork variant", () => {
    const vs = vsWith("api", "shop", {
      hosts: ["api"],
      gateways: ["mesh", "payments/public-gw"],
      http: [
        { name: "public", match: [{ gateways: ["payments/public-gw"], uri: { prefix: "/pub" } }], route: [{ destination: { host: "api" } }] },
        { name: "default", route: [{ destination: { host: "api" } }] },
      ],
    });
    expect(names(addForkRoutes(vs, claim("alice")))).toEqual(["forkstack-alice--1", "public", "default"]);
  });

  it("adds no gateways to fork matches of a mesh-only VirtualService", () => {
    const vs = addForkRoutes(vsWith("api", "shop", { hosts: ["api"], http: [{ name: "default", route: [{ destination: { host: "api" } }] }] }), claim("alice"));
    expect(route(vs, "forkstack-alice").match[0].gateways).toBeUndefined();
  });

  it("validates a gateway-bound VirtualService with fork routes against the Istio schema", () => {
    expect(() => validateAgainstSchema(addForkRoutes(gatewayBound(), claim("alice")))).not.toThrow();
  });

  it("refuses a VirtualService whose route delegates, naming the delegate", () => {
    const vs = vsWith("api", "shop", { hosts: ["api"], http: [{ name: "to-team", match: [{ uri: { prefix: "/" } }], delegate: { name: "api-routes", namespace: "team" } }] });
    expect(() => addForkRoutes(vs, claim("alice"))).toThrow("VirtualService shop/api delegates route to-team to team/api-routes; forkstack does not place fork routes inside delegates");
  });

  it("treats an app route named forkstack-* without the fork header match as the app's", () => {
    const vs = vsWith("api", "shop", { hosts: ["api"], http: [{ name: "forkstack-legacy", route: [{ destination: { host: "api" } }] }] });
    const added = addForkRoutes(vs, claim("alice"));
    expect(names(added)).toEqual(["forkstack-alice", "forkstack-legacy"]);
  });

  it("leaves an app route named forkstack-* in place when a fork leaves", () => {
    const vs = vsWith("api", "shop", { hosts: ["api"], http: [{ name: "forkstack-legacy", route: [{ destination: { host: "api" } }] }] });
    const removed = removeForkRoutes(addForkRoutes(vs, claim("alice")), "alice") as { virtualService: VirtualService };
    expect(names(removed.virtualService)).toEqual(["forkstack-legacy"]);
  });

  it("refuses when an app route already has the fork route's name", () => {
    const vs = vsWith("api", "shop", { hosts: ["api"], http: [{ name: "forkstack-alice", route: [{ destination: { host: "api" } }] }] });
    expect(() => addForkRoutes(vs, claim("alice"))).toThrow(/has an app route named forkstack-alice/);
  });
});

describe("delegateOf", () => {
  const { delegateOf } = require("../../components/fork/routes") as typeof import("../../components/fork/routes");
  const root = (spec: Record<string, unknown>) => vsWith("checkout", "shop", { hosts: ["checkout"], ...spec });

  it("names the one delegate every route delegates to", () => {
    expect(delegateOf(root({ http: [{ name: "a", delegate: { name: "d", namespace: "team" } }] }))).toEqual({ name: "d", namespace: "team" });
  });

  it("takes a delegate without a namespace in the root's namespace", () => {
    expect(delegateOf(root({ http: [{ name: "a", delegate: { name: "d" } }] }))).toEqual({ name: "d", namespace: "shop" });
  });

  it("refuses two delegates", () => {
    expect(() => delegateOf(root({ http: [{ name: "a", match: [{ uri: { prefix: "/a" } }], delegate: { name: "d1" } }, { name: "b", delegate: { name: "d2" } }] }))).toThrow(/delegates to shop\/d1 and shop\/d2/);
  });

  it("refuses a gateway-bound root that delegates", () => {
    expect(() => delegateOf(root({ gateways: ["mesh", "shop/public"], http: [{ name: "a", delegate: { name: "d" } }] }))).toThrow(/is bound to gateways/);
  });

  it("says a VirtualService without delegates has none", () => {
    expect(delegateOf(root({ http: [{ name: "a", route: [{ destination: { host: "checkout" } }] }] }))).toBeUndefined();
  });
});
