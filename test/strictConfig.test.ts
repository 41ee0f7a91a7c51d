/** Strict config: every key known, fork and base apart, exact types, bounded values, one line each. */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { checkTopLevelKeys, parseBaseConfig, parseBaseOutputs, parseForkConfig } from "../components/config";
import { configErrorOf } from "./helpers/configError";

const base = { domain: "dev.example.com", cluster: { mode: "kubeconfig" }, upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }] };
const fork = (over: Record<string, unknown> = {}) => ({ id: "alice", services: [{ name: "api", namespace: "shop" }], ...over });
const svc = (over: Record<string, unknown>) => fork({ services: [{ name: "api", namespace: "shop", ...over }] });

const messageOf = (fn: () => unknown): string => configErrorOf(fn).message;

describe("top-level keys", () => {
  it("refuses an unknown key, naming the closest known one", () => {
    expect(messageOf(() => checkTopLevelKeys(["domian", "upstreams"]))).toBe("forkstack:domian is not a forkstack setting; did you mean forkstack:domain? Remove or rename it");
  });

  it("refuses a base-stack key in a fork stack", () => {
    expect(messageOf(() => checkTopLevelKeys(["fork", "baseStack", "headerName"]))).toBe(
      "forkstack:headerName is a base-stack setting, but this stack is a fork stack (it sets forkstack:fork); remove it: a fork reads the base stack's settings through forkstack:baseStack",
    );
  });

  it("refuses forkstack:baseStack without forkstack:fork", () => {
    expect(messageOf(() => checkTopLevelKeys(["baseStack"]))).toMatch(/^forkstack:fork is required in a fork stack/);
  });

  it("refuses a base key in a fork stack even at the value the program defaults it to", () => {
    expect(messageOf(() => checkTopLevelKeys(["fork", "baseStack", "hostScheme"]))).toMatch(/^forkstack:hostScheme is a base-stack setting/);
  });

  it("Pulumi.yaml declares no config, so a fork stack's `pulumi config` holds only the keys it set", () => {
    expect(YAML.parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")).config).toBeUndefined();
  });

  it("decides a stack with forkstack:fork is a fork stack", () => {
    expect(checkTopLevelKeys(["fork", "baseStack"])).toBe("fork");
  });

  it("accepts the lead's istio and emissary keys in a base stack", () => {
    expect(parseBaseConfig({ ...base, istio: { chartRepo: "oci://ghcr.io/istio/release/charts", hub: "docker.io/istio", install: false }, emissary: { install: false } }).istio.install).toBe(false);
  });
});

describe("nested keys", () => {
  it("refuses a misspelled service key (imgae) instead of running the shared image", () => {
    expect(messageOf(() => parseForkConfig(svc({ imgae: "r.example.com/api:1" })))).toBe(
      'forkstack:fork.services[0].imgae: "r.example.com/api:1" is not a forkstack setting; did you mean forkstack:fork.services[0].image? The keys here are name, namespace, deployment, image, env, replicas',
    );
  });

  it("refuses `service:` instead of making a header-only fork", () => {
    expect(messageOf(() => parseForkConfig({ id: "alice", service: [{ name: "api" }] }))).toMatch(/^forkstack:fork\.service: .* is not a forkstack setting; did you mean forkstack:fork\.services\?/);
  });

  it("refuses an unknown key under istio", () => {
    expect(messageOf(() => parseBaseConfig({ ...base, istio: { hubb: "docker.io/istio" } }))).toMatch(/^forkstack:istio\.hubb: "docker\.io\/istio" is not a forkstack setting; did you mean forkstack:istio\.hub\?/);
  });

  it("refuses an unknown key in an upstream", () => {
    expect(messageOf(() => parseBaseConfig({ ...base, upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80", port: 80 }] }))).toMatch(/^forkstack:upstreams\[0\]\.port: 80 is not a forkstack setting/);
  });
});

describe("exact types", () => {
  it("refuses a YAML number in env with a hint to quote it", () => {
    expect(messageOf(() => parseForkConfig(svc({ env: { VERSION: 1.1 } })))).toBe(
      'forkstack:fork.services[0].env.VERSION: 1.1 is a YAML number, not a string (its original text may already be lost, e.g. 1.10 becomes 1.1); quote it as you mean it, e.g. VERSION: "1.1"',
    );
  });

  it("refuses a YAML boolean in env", () => {
    expect(messageOf(() => parseForkConfig(svc({ env: { FEATURE_X: true } })))).toMatch(/^forkstack:fork\.services\[0\]\.env\.FEATURE_X: true is a YAML boolean/);
  });

  it("refuses a numeric fork id with a hint to quote it", () => {
    expect(messageOf(() => parseForkConfig({ id: 123 }))).toBe('forkstack:fork.id: 123 is a number, not a string; quote it, e.g. id: "123"');
  });

  it("refuses replicas given as text", () => {
    expect(messageOf(() => parseForkConfig(svc({ replicas: "2" })))).toMatch(/^forkstack:fork\.services\[0\]\.replicas: "2" is not a whole number from 1 to 20/);
  });

  it("refuses absurd replicas", () => {
    expect(messageOf(() => parseForkConfig(svc({ replicas: 500 })))).toMatch(/^forkstack:fork\.services\[0\]\.replicas: 500 is not a whole number from 1 to 20/);
  });
});

describe("fork headers", () => {
  it.each([
    ["host", "is a header the gateway cannot set for a fork (host or hop-by-hop)"],
    ["connection", "is a header the gateway cannot set for a fork (host or hop-by-hop)"],
    ["transfer-encoding", "is a header the gateway cannot set for a fork (host or hop-by-hop)"],
    [":authority", "is a pseudo-header"],
    ["X-Flags", "is not a lowercase HTTP header name"],
  ])("refuses the header name %s", (name, problem) => {
    expect(messageOf(() => parseForkConfig(fork({ headers: { [name]: "v" } })))).toContain(problem);
  });

  it("refuses a header value with CR/LF", () => {
    expect(messageOf(() => parseForkConfig(fork({ headers: { "x-flags": "a\r\nx-admin: 1" } })))).toMatch(/^forkstack:fork\.headers\.x-flags: .* contains a control character/);
  });

  it("refuses a header value longer than 1024 characters", () => {
    expect(messageOf(() => parseForkConfig(fork({ headers: { "x-flags": "a".repeat(1025) } })))).toMatch(/is 1025 characters long; keep it at most 1024$/);
  });

  it("keeps a valid header", () => {
    expect(parseForkConfig(fork({ headers: { "x-feature-flags": "new-checkout=on" } })).headers).toEqual({ "x-feature-flags": "new-checkout=on" });
  });
});

describe("EKS network", () => {
  const eks = (over: Record<string, unknown>) => ({ ...base, cluster: { mode: "eks", eks: over } });

  it("refuses a malformed VPC CIDR in one line", () => {
    expect(messageOf(() => parseBaseConfig(eks({ vpcCidr: "10.0.0/16" })))).toBe('forkstack:cluster.eks.vpcCidr: "10.0.0/16" is not an IPv4 network from /16 to /24; use e.g. "10.0.0.0/16"');
  });

  it("refuses a VPC CIDR too small for its subnets", () => {
    expect(messageOf(() => parseBaseConfig(eks({ vpcCidr: "10.0.0.0/26" })))).toMatch(/is smaller than a \/24/);
  });

  it("refuses more zones than the VPC has subnets for", () => {
    expect(messageOf(() => parseBaseConfig(eks({ zones: 9 })))).toBe("forkstack:cluster.eks.zones: 9 is more than 8; use 2 to 8 zones: the VPC is cut into 16 subnets");
  });
});

describe("the base stack's outputs", () => {
  const outputs = { headerName: "x-fork-identifier", ambassadorId: "fork-proxy-ambassador", gatewayNamespace: "emissary", upstreams: [{ host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } }], hostScheme: "subdomain", domain: "dev.example.com", forkNamespaces: { shop: ["default"] } };

  it("defaults maxForkReplicas for an older base", () => {
    expect(parseBaseOutputs("org/forkstack/dev", outputs).base.maxForkReplicas).toBe(3);
  });

  it("refuses a base without forkNamespaces: it predates the fork role, so where forks may go is unknown", () => {
    const { forkNamespaces: _, ...older } = outputs;
    expect(messageOf(() => parseBaseOutputs("org/forkstack/dev", older))).toMatch(/^forkstack:baseStack: "org\/forkstack\/dev" has no output "forkNamespaces"; run `pulumi up` on the base stack first/);
  });

  it("refuses a malformed upstream output naming the base stack", () => {
    expect(messageOf(() => parseBaseOutputs("org/forkstack/dev", { ...outputs, upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }] }))).toMatch(
      /^forkstack:baseStack: "org\/forkstack\/dev" has an output "upstreams\[0\]" that is not \{ host, service: \{ name, namespace, port \} \}/,
    );
  });

  it("refuses a missing output", () => {
    const { domain: _d, ...rest } = outputs;
    expect(messageOf(() => parseBaseOutputs("org/forkstack/dev", rest))).toMatch(/has no output "domain"/);
  });
});

describe("keys added with forkctl and fork access", () => {
  it("refuses an unknown key under forkAccess", () => {
    expect(messageOf(() => parseBaseConfig({ ...base, forkAccess: { groups: "devs" } }))).toMatch(/^forkstack:forkAccess\.groups: "devs" is not a forkstack setting; did you mean forkstack:forkAccess\.group\?/);
  });

  it("refuses an unknown key under pricing", () => {
    expect(messageOf(() => parseBaseConfig({ ...base, pricing: { vcpuHour: 0.04, gibHour: 0.005, curency: "EUR" } }))).toMatch(/^forkstack:pricing\.curency: "EUR" is not a forkstack setting; did you mean forkstack:pricing\.currency\?/);
  });

  it("knows forkstack:fork.expiresAt", () => {
    expect(parseForkConfig({ id: "alice", expiresAt: "2026-12-24T18:00:00Z" }).expiresAt).toBe("2026-12-24T18:00:00Z");
  });

  it("knows forkstack:pricing and forkstack:forkAccess as base-stack keys", () => {
    expect(checkTopLevelKeys(["domain", "upstreams", "pricing", "forkAccess", "maxForkReplicas"])).toBe("base");
  });
});
