import { expiryOf, parseBaseConfig, parseForkConfig, parseServiceRef, validateForkId } from "../components/config";
import { configErrorOf } from "./helpers/configError";

const base = {
  domain: "dev.example.com",
  cluster: { mode: "kubeconfig" },
  upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }],
};


describe("base config", () => {
  it("applies the documented defaults", () => {
    const c = parseBaseConfig(base);
    expect(c.headerName).toBe("x-fork-identifier");
    expect(c.hostScheme).toBe("subdomain");
    expect(c.emissary.ambassadorId).toBe("fork-proxy-ambassador");
    expect(c.tls.mode).toBe("acm");
    expect(c.upstreams[0].service).toEqual({ name: "frontend", namespace: "shop", port: 80 });
  });

  it("names forkstack:domain when it is missing", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, domain: undefined }));
    expect(e.field).toBe("forkstack:domain");
    expect(e.message).toMatch(/^forkstack:domain: \(missing\) is required; /);
    expect(e.message).not.toContain("\n");
  });

  it("names the upstream's service field when it is malformed", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, upstreams: [{ host: "shop.dev.example.com", service: "frontend:80" }] }));
    expect(e.field).toBe("forkstack:upstreams[0].service");
    expect(e.message).toContain('"frontend:80"');
    expect(e.message).toContain("name.namespace:port");
  });

  it("rejects duplicate upstream hosts naming both entries", () => {
    const up = { host: "shop.dev.example.com", service: "frontend.shop:80" };
    const e = configErrorOf(() => parseBaseConfig({ ...base, upstreams: [up, up] }));
    expect(e.field).toBe("forkstack:upstreams[1].host");
    expect(e.message).toContain("repeats forkstack:upstreams[0].host");
  });

  it("rejects an upstream host outside the hosted zone", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, upstreams: [{ host: "shop.example.org", service: "frontend.shop:80" }] }));
    expect(e.field).toBe("forkstack:upstreams[0].host");
  });

  it("rejects an unknown cluster mode", () => {
    expect(configErrorOf(() => parseBaseConfig({ ...base, cluster: { mode: "gke" } })).field).toBe("forkstack:cluster.mode");
  });

  it("rejects a port outside 1-65535", () => {
    expect(() => parseServiceRef("f", "a.b:70000")).toThrow(/port outside/);
  });
});

describe("fork config", () => {
  it("defaults deployment to the service name and replicas to one", () => {
    const f = parseForkConfig({ id: "alice", services: [{ name: "api", namespace: "shop" }] });
    expect(f.services[0]).toEqual({ name: "api", namespace: "shop", deployment: "api", image: undefined, env: {}, replicas: 1, deploymentGiven: false });
    expect(f.headers).toEqual({});
  });

  it("treats a fork without services as header-only", () => {
    expect(parseForkConfig({ id: "flags", headers: { "x-feature-flags": "new-checkout=on" } }).services).toEqual([]);
  });

  it.each([
    ["Alice", "is not a lowercase DNS label"],
    ["-alice", "is not a lowercase DNS label"],
    ["a".repeat(31), "is longer than 30 characters"],
    ["pr--1", 'contains "--"'],
    ["", "is required"],
  ])("rejects fork id %j", (id, problem) => {
    const e = configErrorOf(() => validateForkId(id));
    expect(e.field).toBe("forkstack:fork.id");
    expect(e.message).toContain(problem);
  });

  it("rejects a malformed image naming the service's index", () => {
    const e = configErrorOf(() => parseForkConfig({ id: "alice", services: [{ name: "api", namespace: "shop", image: "Registry/API:" }] }));
    expect(e.field).toBe("forkstack:fork.services[0].image");
  });

  it("accepts images with registry ports, tags and digests", () => {
    const digest = "sha256:" + "a".repeat(64);
    for (const image of ["api", "registry.example.com:5000/team/api:alice-1", `ghcr.io/x/api@${digest}`]) {
      expect(parseForkConfig({ id: "a", services: [{ name: "api", namespace: "shop", image }] }).services[0].image).toBe(image);
    }
  });

  it("rejects the same service listed twice", () => {
    const s = { name: "api", namespace: "shop" };
    const e = configErrorOf(() => parseForkConfig({ id: "alice", services: [s, s] }));
    expect(e.field).toBe("forkstack:fork.services[1].name");
    expect(e.message).toContain("repeats forkstack:fork.services[0]");
  });

  it("rejects nested env values", () => {
    expect(configErrorOf(() => parseForkConfig({ id: "a", services: [{ name: "api", namespace: "shop", env: { N: { x: 1 } } }] })).field).toBe("forkstack:fork.services[0].env.N");
  });

  it("computes the expiry from the ttl", () => {
    const f = parseForkConfig({ id: "a", ttl: "72h" });
    expect(expiryOf(f, new Date("2026-11-23T10:00:00Z"))).toBe("2026-11-26T10:00:00Z");
    expect(configErrorOf(() => parseForkConfig({ id: "a", ttl: "3 days" })).field).toBe("forkstack:fork.ttl");
  });
});
