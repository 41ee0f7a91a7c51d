import { validateEmissary } from "./emissary";

const mapping = () => ({
  apiVersion: "getambassador.io/v3alpha1",
  kind: "Mapping",
  metadata: { name: "fork-alice-shop-dev-example-com", namespace: "emissary" },
  spec: {
    ambassador_id: ["fork-proxy-ambassador"],
    hostname: "alice.shop.dev.example.com",
    prefix: "/",
    service: "frontend.shop:80",
    add_request_headers: { "x-fork-identifier": { value: "alice", append: false } },
    remove_request_headers: ["x-debug"],
    allow_upgrade: ["websocket"],
    timeout_ms: 30000,
  },
});

describe("validateEmissary", () => {
  it("accepts a correct v3alpha1 Mapping", () => {
    expect(() => validateEmissary(mapping())).not.toThrow();
  });

  it("rejects an add_request_headers value given as a bare string instead of {value, append}", () => {
    const m = mapping();
    (m.spec as any).add_request_headers = { "x-fork-identifier": "alice" };
    expect(() => validateEmissary(m)).toThrow(/\/spec\/add_request_headers\/x-fork-identifier must be object/);
  });

  it("rejects a spec field the v3alpha1 schema does not define", () => {
    const m = mapping();
    (m.spec as any).hostnme = "alice.shop.dev.example.com";
    expect(() => validateEmissary(m)).toThrow(/must NOT have additional properties \(hostnme\)/);
  });

  it("rejects a Mapping without the required prefix", () => {
    const m = mapping();
    delete (m.spec as any).prefix;
    expect(() => validateEmissary(m)).toThrow(/must have required property 'prefix'/);
  });

  it("rejects a timeout_ms given as a string", () => {
    const m = mapping();
    (m.spec as any).timeout_ms = "30s";
    expect(() => validateEmissary(m)).toThrow(/\/spec\/timeout_ms must be integer/);
  });

  it("rejects another API version", () => {
    expect(() => validateEmissary({ ...mapping(), apiVersion: "getambassador.io/v2" })).toThrow(/is not getambassador.io\/v3alpha1/);
  });

  it("rejects a kind outside Mapping, Host, Listener and Module", () => {
    expect(() => validateEmissary({ ...mapping(), kind: "TCPMapping" })).toThrow(/kind must be one of Mapping, Host, Listener/);
  });

  it("rejects a name that is not a DNS-1123 subdomain", () => {
    const m = mapping();
    m.metadata.name = "Fork_Alice";
    expect(() => validateEmissary(m)).toThrow(/metadata.name "Fork_Alice" is not a DNS-1123 subdomain/);
  });

  it("accepts a Host with a TLS secret and a mapping selector", () => {
    const host = {
      apiVersion: "getambassador.io/v3alpha1",
      kind: "Host",
      metadata: { name: "forks-shop-dev-example-com", namespace: "emissary" },
      spec: {
        ambassador_id: ["fork-proxy-ambassador"],
        hostname: "*.shop.dev.example.com",
        tlsSecret: { name: "tls-shop-dev-example-com" },
        requestPolicy: { insecure: { action: "Redirect" } },
        mappingSelector: { matchLabels: { "forkstack.dev/upstream": "shop" } },
      },
    };
    expect(() => validateEmissary(host)).not.toThrow();
  });

  it("rejects a Host whose insecure action is not in the enum", () => {
    const host = {
      apiVersion: "getambassador.io/v3alpha1",
      kind: "Host",
      metadata: { name: "shared-shop", namespace: "emissary" },
      spec: { hostname: "shop.dev.example.com", requestPolicy: { insecure: { action: "Allow" } } },
    };
    expect(() => validateEmissary(host)).toThrow(/\/spec\/requestPolicy\/insecure\/action must be equal to one of the allowed values/);
  });

  it("rejects a Listener without the required securityModel and hostBinding", () => {
    const listener = {
      apiVersion: "getambassador.io/v3alpha1",
      kind: "Listener",
      metadata: { name: "http-8080", namespace: "emissary" },
      spec: { port: 8080, protocol: "HTTP" },
    };
    expect(() => validateEmissary(listener)).toThrow(/must have required property 'hostBinding'.*must have required property 'securityModel'/);
  });

  it("accepts a complete Listener", () => {
    const listener = {
      apiVersion: "getambassador.io/v3alpha1",
      kind: "Listener",
      metadata: { name: "http-8080", namespace: "emissary" },
      spec: { port: 8080, protocol: "HTTP", securityModel: "XFP", hostBinding: { namespace: { from: "ALL" } } },
    };
    expect(() => validateEmissary(listener)).not.toThrow();
  });
});
