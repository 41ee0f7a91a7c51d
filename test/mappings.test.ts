import { Upstream } from "../components/config";
import { ConfigError } from "../components/errors";
import { forkMapping, GatewayContext, MAPPING_TIMEOUT_MS, sharedMapping } from "../components/mappings";
import { LABELS, MANAGED_BY } from "../components/naming";
import type { KubeObject } from "../render/cluster";
import { validateEmissary } from "./helpers/emissary";

const ctx: GatewayContext = { ambassadorId: "fork-proxy-ambassador", namespace: "emissary", headerName: "x-fork-identifier" };
const upstream: Upstream = { host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } };
const copyOfFrontend = { name: "frontend-alice", namespace: "shop", port: 80 };

function fork(over: Partial<Parameters<typeof forkMapping>[0]> = {}) {
  return forkMapping({ upstream, forkId: "alice", headers: {}, target: upstream.service, scheme: "subdomain", ctx, ...over });
}

const spec = (o: KubeObject) => o.spec as Record<string, any>;

describe("sharedMapping", () => {
  const m = sharedMapping(upstream, ctx);

  it("routes the shared host to the entry Service in name.namespace:port form", () => {
    expect(spec(m)).toMatchObject({ hostname: "shop.dev.example.com", prefix: "/", service: "frontend.shop:80" });
  });

  it("removes the fork header so outside clients cannot steer shared traffic into a fork", () => {
    expect(spec(m).remove_request_headers).toEqual(["x-fork-identifier"]);
  });

  it("adds no request headers", () => {
    expect(spec(m).add_request_headers).toBeUndefined();
  });

  it("is scoped to the gateway's ambassador_id and lives in its namespace", () => {
    expect(spec(m).ambassador_id).toEqual(["fork-proxy-ambassador"]);
    expect(m.metadata.namespace).toBe("emissary");
    expect(m.metadata.name).toBe("shared-shop-dev-example-com");
  });

  it("validates against Emissary's v3alpha1 Mapping schema", () => {
    expect(() => validateEmissary(m)).not.toThrow();
  });
});

describe("forkMapping", () => {
  it("overwrites the fork header with append false, so a client's own header cannot switch fork", () => {
    expect(spec(fork()).add_request_headers["x-fork-identifier"]).toEqual({ value: "alice", append: false });
  });

  it("adds the fork's extra headers, each with append false", () => {
    const m = fork({ headers: { "x-feature-flags": "new-checkout=on" } });
    expect(spec(m).add_request_headers).toEqual({
      "x-feature-flags": { value: "new-checkout=on", append: false },
      "x-fork-identifier": { value: "alice", append: false },
    });
  });

  it("rejects an extra header that names the fork header, whatever its case", () => {
    expect(() => fork({ headers: { "X-Fork-Identifier": "bob" } })).toThrow(ConfigError);
    expect(() => fork({ headers: { "X-Fork-Identifier": "bob" } })).toThrow(/^forkstack:fork\.headers\.X-Fork-Identifier: "bob" would overwrite/);
  });

  it("answers on <fork>.<host> with the subdomain scheme", () => {
    expect(spec(fork()).hostname).toBe("alice.shop.dev.example.com");
  });

  it("answers on <fork>--<first label> with the flat scheme", () => {
    expect(spec(fork({ scheme: "flat" })).hostname).toBe("alice--shop.dev.example.com");
  });

  it("targets the fork's copy of the entry service when the fork copied it", () => {
    expect(spec(fork({ target: copyOfFrontend })).service).toBe("frontend-alice.shop:80");
  });

  it("targets the shared entry service when the fork did not copy it", () => {
    expect(spec(fork()).service).toBe("frontend.shop:80");
  });

  it("allows WebSocket upgrades and sets the default timeout", () => {
    expect(spec(fork()).allow_upgrade).toEqual(["websocket"]);
    expect(spec(fork()).timeout_ms).toBe(MAPPING_TIMEOUT_MS);
    expect(MAPPING_TIMEOUT_MS).toBe(30000);
  });

  it("does not remove the fork header it sets", () => {
    expect(spec(fork()).remove_request_headers).toBeUndefined();
  });

  it("is named per fork and upstream, in the gateway namespace, scoped to the ambassador_id", () => {
    const m = fork();
    expect(m.metadata.name).toBe("fork-alice-shop-dev-example-com");
    expect(m.metadata.namespace).toBe("emissary");
    expect(spec(m).ambassador_id).toEqual(["fork-proxy-ambassador"]);
  });

  it("carries the fork and managed-by labels", () => {
    expect(fork().metadata.labels).toEqual({ [LABELS.fork]: "alice", [LABELS.managedBy]: MANAGED_BY });
  });

  it("records the expiry as an annotation when given", () => {
    expect(fork({ expiresAt: "2026-06-01T12:00:00Z" }).metadata.annotations).toEqual({ [LABELS.expiresAt]: "2026-06-01T12:00:00Z" });
  });

  it("has no annotations without an expiry", () => {
    expect(fork().metadata.annotations).toBeUndefined();
  });

  it.each([
    ["subdomain, shared target", {}],
    ["flat, copied target, extra headers, expiry", { scheme: "flat" as const, target: copyOfFrontend, headers: { "x-a": "1" }, expiresAt: "2026-06-01T12:00:00Z" }],
  ])("validates against Emissary's v3alpha1 Mapping schema (%s)", (_label, over) => {
    expect(() => validateEmissary(fork(over))).not.toThrow();
  });
});
