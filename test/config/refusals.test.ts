/**
 * Base- and fork-config mistakes that used to pass silently (issue 25): each is one ConfigError
 * naming the full key, the value and the fix, raised before anything is created; next to each, the
 * neighbouring value that is still accepted.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkNamespaces, parseBaseConfig, parseForkConfig } from "../../components/config";
import { checkTtl } from "../../bin/forkctl/commands";
import { SimulatedCluster } from "../../render/cluster";
import { renderStacks } from "../../render/render";
import { runStack } from "../../render/runtime";
import { configErrorOf } from "../helpers/configError";
import program = require("../../index");

const base = { domain: "dev.example.com", cluster: { mode: "kubeconfig" }, upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }] };
const eks = (over: Record<string, unknown>) => ({ ...base, cluster: { mode: "eks", eks: over } });
const fork = (over: Record<string, unknown> = {}) => ({ id: "alice", services: [{ name: "api", namespace: "shop" }], ...over });
const env = (values: Record<string, string>) => fork({ services: [{ name: "api", namespace: "shop", env: values }] });

describe("forkstack:headerName", () => {
  it("refuses host, which the gateway cannot set", () => {
    const err = configErrorOf(() => parseBaseConfig({ ...base, headerName: "host" }));
    expect(err.field).toBe("forkstack:headerName");
    expect(err.message).toBe('forkstack:headerName: "host" is a header the gateway cannot set for a fork (host or hop-by-hop); use an x- header of your own, e.g. "x-fork-identifier"');
  });

  it.each(["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "content-length"])("refuses the hop-by-hop header %s", (name) => {
    const err = configErrorOf(() => parseBaseConfig({ ...base, headerName: name }));
    expect([err.field, err.problem]).toEqual(["forkstack:headerName", "is a header the gateway cannot set for a fork (host or hop-by-hop)"]);
  });

  it("refuses a pseudo-header already: ':' is not in an HTTP header name", () => {
    const err = configErrorOf(() => parseBaseConfig({ ...base, headerName: ":authority" }));
    expect([err.field, err.problem]).toEqual(["forkstack:headerName", "is not a lowercase HTTP header name"]);
  });

  it("accepts a header of your own", () => {
    expect(parseBaseConfig({ ...base, headerName: "x-tenant-fork" }).headerName).toBe("x-tenant-fork");
  });
});

describe("forkstack:cluster.eks.vpcCidr", () => {
  it("refuses a block larger than /16, the largest AWS allows for a VPC", () => {
    const err = configErrorOf(() => parseBaseConfig(eks({ vpcCidr: "10.0.0.0/8" })));
    expect(err.field).toBe("forkstack:cluster.eks.vpcCidr");
    expect(err.message).toBe('forkstack:cluster.eks.vpcCidr: "10.0.0.0/8" is larger than a /16, the largest IPv4 block AWS allows for a VPC; use a /16 to /24 network, e.g. "10.0.0.0/16"');
  });

  it("refuses a block smaller than /24, too small for 16 subnets of a /28", () => {
    const err = configErrorOf(() => parseBaseConfig(eks({ vpcCidr: "10.0.0.0/26" })));
    expect(err.message).toBe(
      'forkstack:cluster.eks.vpcCidr: "10.0.0.0/26" is smaller than a /24; forkstack cuts the VPC into 16 subnets of at least a /28 (the smallest AWS allows): use a /16 to /24 network, e.g. "10.0.0.0/16"',
    );
  });

  it("accepts a /16 and a /24", () => {
    expect(parseBaseConfig(eks({ vpcCidr: "172.16.0.0/16" })).cluster.eks.vpcCidr).toBe("172.16.0.0/16");
    expect(parseBaseConfig(eks({ vpcCidr: "10.1.2.0/24" })).cluster.eks.vpcCidr).toBe("10.1.2.0/24");
  });
});

describe("forkstack:cluster.eks.instanceType", () => {
  it.each(["large", "t3", "t3.Large", "t3 large", "T3.large", "t.large", "t3.", "t3.huge", "t3.large "])("refuses %j", (instanceType) => {
    const err = configErrorOf(() => parseBaseConfig(eks({ instanceType })));
    expect(err.field).toBe("forkstack:cluster.eks.instanceType");
    expect(err.message).toBe(`forkstack:cluster.eks.instanceType: ${JSON.stringify(instanceType)} is not an EC2 instance type; use <family><generation>.<size> in lowercase, e.g. "t3.large" or "m7g.xlarge"`);
  });

  it.each(["t3.large", "t3.nano", "m7g.xlarge", "c6in.2xlarge", "r5dn.metal", "u-6tb1.metal", "u7in-16tb.224xlarge", "mac2-m2pro.metal", "i7ie.metal-24xl", "m7i-flex.large"])("accepts %s", (instanceType) => {
    expect(parseBaseConfig(eks({ instanceType })).cluster.eks.instanceType).toBe(instanceType);
  });
});

describe("forkstack:cluster.eks.version", () => {
  it("refuses a patch level, naming the minor version to write", () => {
    const err = configErrorOf(() => parseBaseConfig(eks({ version: "1.35.2" })));
    expect(err.field).toBe("forkstack:cluster.eks.version");
    expect(err.message).toBe('forkstack:cluster.eks.version: "1.35.2" has a patch level, which EKS does not take; use the minor version "1.35": EKS applies the latest patch itself');
  });

  it.each(["latest", "1", "v1.35", "1.35-eks"])("refuses %j, which is not a version", (version) => {
    const err = configErrorOf(() => parseBaseConfig(eks({ version })));
    expect(err.message).toBe(`forkstack:cluster.eks.version: ${JSON.stringify(version)} is not a Kubernetes version; use major.minor, e.g. "1.35"`);
  });

  it("accepts major.minor", () => {
    expect(parseBaseConfig(eks({ version: "1.34" })).cluster.eks.version).toBe("1.34");
  });
});

describe("forkstack:fork.services[i].env", () => {
  it("refuses a value over 32768 characters", () => {
    const err = configErrorOf(() => parseForkConfig(env({ CERT: "a".repeat(32_769) })));
    expect(err.field).toBe("forkstack:fork.services[0].env.CERT");
    expect(err.message).toBe(
      'forkstack:fork.services[0].env.CERT: "aaaaaaaaaaaaaaaaaaaa…" is 32769 characters long, more than 32768; put large data in a ConfigMap or Secret the copy mounts: the copy\'s Deployment carries every value, and etcd refuses an object over 1.5 MiB',
    );
  });

  it("refuses values over 262144 characters in all", () => {
    const values = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`PART_${i}`, "a".repeat(32_768)]));
    const err = configErrorOf(() => parseForkConfig(env(values)));
    expect(err.field).toBe("forkstack:fork.services[0].env");
    expect(err.problem).toBe("has values 294912 characters long in all, more than 262144");
  });

  it("accepts a value of 32768 characters", () => {
    expect(parseForkConfig(env({ CERT: "a".repeat(32_768) })).services[0].env.CERT).toHaveLength(32_768);
  });
});

describe("forkstack:fork.ttl", () => {
  it("refuses a ttl over 365 days", () => {
    const err = configErrorOf(() => parseForkConfig(fork({ ttl: "36500d" })));
    expect(err.field).toBe("forkstack:fork.ttl");
    expect(err.message).toBe('forkstack:fork.ttl: "36500d" is longer than 365 days; use at most 365d, or omit ttl for a fork that lives until pulumi destroy');
  });

  it("refuses a ttl beyond what a Date can hold with the same line, not a RangeError", () => {
    expect(configErrorOf(() => parseForkConfig(fork({ ttl: "99999999999999d" }))).problem).toBe("is longer than 365 days");
  });

  it("refuses it in hours as in days", () => {
    expect(configErrorOf(() => parseForkConfig(fork({ ttl: "8761h" }))).problem).toBe("is longer than 365 days");
  });

  it("accepts 365d and 8760h", () => {
    expect(parseForkConfig(fork({ ttl: "365d" })).ttl).toBe("365d");
    expect(parseForkConfig(fork({ ttl: "8760h" })).ttl).toBe("8760h");
  });

  it("refuses it in forkctl's --ttl too, so `forkctl extend` cannot write it", () => {
    expect(() => checkTtl("400d")).toThrow('--ttl: "400d" is longer than 365 days; use at most 365d, or omit ttl for a fork that lives until pulumi destroy');
    expect(checkTtl("7d")).toBe("7d");
  });
});

describe("a misspelled forkstack: namespace", () => {
  it.each([
    ["forkstak:fork", "forkstak", "forkstack:fork"],
    ["forkstck:upstreams", "forkstck", "forkstack:upstreams"],
    ["fokstack:domain", "fokstack", "forkstack:domain"],
    ["Forkstack:domain", "Forkstack", "forkstack:domain"],
    ["forkstacks:cluster.eks", "forkstacks", "forkstack:cluster.eks"],
  ])("refuses %s", (full, namespace, fixed) => {
    const err = configErrorOf(() => checkNamespaces(["forkstack:baseStack", full]));
    expect(err.field).toBe(full);
    expect(err.message).toBe(`${full} is not a forkstack setting: the namespace "${namespace}" looks like "forkstack"; rename it to ${fixed}`);
  });

  it("accepts forkstack's keys and the providers' and Pulumi's own", () => {
    expect(() => checkNamespaces(["forkstack:fork", "aws:region", "kubernetes:context", "pulumi:tags", "fork:note", "stack:owner"])).not.toThrow();
  });

  it("stops `pulumi up` (config from the runtime) before anything is created, without printing the value (it may be a secret)", async () => {
    const cluster = new SimulatedCluster();
    const run = runStack({ stack: "alice", cluster, program, config: { "forkstak:fork": { id: "bob" }, "forkstack:baseStack": "organization/forkstack/dev" } });
    // Today's message without the check: forkstack:fork is required in a fork stack.
    await expect(run).rejects.toThrow(/^stack alice: forkstak:fork is not a forkstack setting: the namespace "forkstak" looks like "forkstack"; rename it to forkstack:fork$/);
    expect(cluster.all()).toEqual([]);
  });

  it("stops the offline render (Pulumi.<stack>.yaml read directly) with the same line", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-refusals-"));
    try {
      fs.writeFileSync(
        path.join(dir, "Pulumi.dev.yaml"),
        "config:\n  fokstack:domain: dev.example.com\n  forkstack:upstreams:\n    - { host: shop.dev.example.com, service: frontend.shop:80 }\n",
      );
      await expect(renderStacks({ stacks: ["dev"], configDir: dir })).rejects.toThrow(
        /^stack dev: fokstack:domain is not a forkstack setting: the namespace "fokstack" looks like "forkstack"; rename it to forkstack:domain$/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
