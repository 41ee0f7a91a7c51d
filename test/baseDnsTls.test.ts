/**
 * A base stack on any cluster (issue 25): each allowed pair of `forkstack:dns` and
 * `forkstack:tls.mode`, rendered under mocks against a simulated cluster. Asserts the objects each
 * pair asks for, and that a pair that asks for nothing in AWS registers no AWS resource or provider
 * and invokes no AWS function.
 */
import { SimulatedCluster } from "../render/cluster";
import { RecordedResource, runStack } from "../render/runtime";
import { validateEmissary } from "./helpers/emissary";
import { hasSchema, validateAgainstSchema } from "./helpers/schemas";
import program = require("../index");

const SHOP = "shop.dev.example.com";
const API = "api.dev.example.com";
const base = {
  "forkstack:domain": "dev.example.com",
  "forkstack:cluster": { mode: "kubeconfig" },
  "forkstack:upstreams": [
    { host: SHOP, service: "frontend.shop:80" },
    { host: API, service: "gateway.api:8080" },
  ],
};
const ISSUER = { mode: "cert-manager", issuer: "platform-ca" };
const SECRETS = { mode: "secret", secrets: { [SHOP]: "wildcard-shop", [API]: "wildcard-api" } };
const ALL_NAMES = [`*.${API}`, `*.${SHOP}`, API, SHOP];

const runs = new Map<string, ReturnType<typeof runFresh>>();
async function runFresh(config: Record<string, unknown>) {
  const cluster = new SimulatedCluster();
  const result = await runStack({ stack: "dev", cluster, program, config });
  return { ...result, cluster };
}
/** The base with `dns` and `tls`, run once per pair and shared by the tests that read it. */
function run(dns: string | undefined, tls: Record<string, unknown> | undefined) {
  const config = { ...base, ...(dns === undefined ? {} : { "forkstack:dns": dns }), ...(tls === undefined ? {} : { "forkstack:tls": tls }) };
  const key = JSON.stringify(config);
  if (!runs.has(key)) runs.set(key, runFresh(config));
  return runs.get(key)!;
}

const ofType = (resources: RecordedResource[], type: string) => resources.filter((r) => r.type === type);
const awsResources = (resources: RecordedResource[]) => resources.filter((r) => r.type.startsWith("aws:") || r.type === "pulumi:providers:aws").map((r) => `${r.type} ${r.name}`);
const awsInvokes = (invokes: string[]) => invokes.filter((t) => t.startsWith("aws:"));
const gatewayService = (cluster: SimulatedCluster) => cluster.get("v1", "Service", "emissary", "forkstack-gateway")!;
const externalDns = (cluster: SimulatedCluster) => gatewayService(cluster).metadata.annotations?.["external-dns.alpha.kubernetes.io/hostname"];
const hostSecrets = (cluster: SimulatedCluster) =>
  Object.fromEntries(cluster.list("getambassador.io/v3alpha1", "Host", "emissary").map((h) => [(h.spec as any).hostname, (h.spec as any).tlsSecret?.name]));
const certificates = (cluster: SimulatedCluster) =>
  cluster.list("cert-manager.io/v1", "Certificate", "emissary").map((c) => [(c.spec as any).dnsNames, (c.spec as any).issuerRef.name, (c.spec as any).secretName]);

/** Every object with a published schema validates; cert-manager's (no schema vendored here) are listed. */
function unvalidated(cluster: SimulatedCluster): string[] {
  const left: string[] = [];
  for (const obj of cluster.all()) {
    if (obj.apiVersion.startsWith("getambassador.io/")) validateEmissary(obj);
    else if (hasSchema(obj)) validateAgainstSchema(obj);
    else left.push(`${obj.apiVersion} ${obj.kind}`);
  }
  return [...new Set(left)];
}

describe("route53 × acm (the default)", () => {
  it("writes the Route53 records and ACM certificates, with no external-dns annotation and no dnsRecords", async () => {
    const { resources, cluster, outputs, invokes } = await run(undefined, undefined);
    expect(awsInvokes(invokes)).toContain("aws:route53/getZone:getZone");
    const records = ofType(resources, "aws:route53/record:Record").filter((r) => r.name.startsWith("dns-")).map((r) => r.plainInputs.name);
    expect(records.sort()).toEqual(ALL_NAMES);
    expect(ofType(resources, "aws:acm/certificate:Certificate").length).toBeGreaterThan(0);
    expect(externalDns(cluster)).toBeUndefined();
    expect(outputs.dnsRecords).toEqual([]);
  });
});

describe("route53 × cert-manager (forkstack's own Let's Encrypt issuer)", () => {
  it("installs cert-manager and its Route53 DNS-01 issuer, and issues each upstream's Certificate from it", async () => {
    const { resources, cluster } = await run("route53", { mode: "cert-manager", email: "platform@example.com" });
    expect(ofType(resources, "kubernetes:helm.sh/v3:Release").map((r) => r.plainInputs.name)).toContain("cert-manager");
    expect(cluster.get("cert-manager.io/v1", "ClusterIssuer", undefined, "forkstack-letsencrypt")).toBeDefined();
    expect(certificates(cluster).map(([, issuer]) => issuer)).toEqual(["forkstack-letsencrypt", "forkstack-letsencrypt"]);
    expect(ofType(resources, "aws:route53/record:Record")).toHaveLength(4);
    expect(ofType(resources, "aws:acm/certificate:Certificate")).toEqual([]);
  });
});

describe("external-dns × cert-manager with the platform's issuer", () => {
  it("annotates the gateway Service with every shared host and fork wildcard, sorted", async () => {
    const { cluster } = await run("external-dns", ISSUER);
    expect(externalDns(cluster)).toBe(ALL_NAMES.join(","));
  });

  it("creates only the Certificates, naming the given ClusterIssuer, and the Hosts serve their Secrets", async () => {
    const { resources, cluster } = await run("external-dns", ISSUER);
    expect(certificates(cluster)).toEqual([
      [[SHOP, `*.${SHOP}`], "platform-ca", "tls-shop-dev-example-com"],
      [[API, `*.${API}`], "platform-ca", "tls-api-dev-example-com"],
    ]);
    expect(cluster.list("cert-manager.io/v1", "ClusterIssuer")).toEqual([]);
    expect(ofType(resources, "kubernetes:helm.sh/v3:Release").map((r) => r.plainInputs.name)).not.toContain("cert-manager");
    expect(hostSecrets(cluster)).toEqual({ [SHOP]: "tls-shop-dev-example-com", [`*.${SHOP}`]: "tls-shop-dev-example-com", [API]: "tls-api-dev-example-com", [`*.${API}`]: "tls-api-dev-example-com" });
  });

  it("registers nothing and invokes nothing in AWS", async () => {
    const { resources, invokes, outputs } = await run("external-dns", ISSUER);
    expect([awsResources(resources), awsInvokes(invokes), outputs.dnsRecords]).toEqual([[], [], []]);
  });
});

describe("external-dns × secret", () => {
  it("annotates the gateway Service, creates no certificate and serves the platform's Secrets", async () => {
    const { cluster } = await run("external-dns", SECRETS);
    expect(externalDns(cluster)).toBe(ALL_NAMES.join(","));
    expect(cluster.list("cert-manager.io/v1", "Certificate")).toEqual([]);
    expect(hostSecrets(cluster)).toEqual({ [SHOP]: "wildcard-shop", [`*.${SHOP}`]: "wildcard-shop", [API]: "wildcard-api", [`*.${API}`]: "wildcard-api" });
  });

  it("terminates TLS in Emissary behind a plain TCP load balancer", async () => {
    const { cluster } = await run("external-dns", SECRETS);
    const annotations = gatewayService(cluster).metadata.annotations ?? {};
    expect(Object.keys(annotations)).toEqual(["external-dns.alpha.kubernetes.io/hostname"]);
    const https = cluster.list("getambassador.io/v3alpha1", "Listener", "emissary").find((l) => l.metadata.name === "forkstack-https")!;
    expect((https.spec as any).protocol).toBe("HTTPS");
  });

  it("registers nothing and invokes nothing in AWS", async () => {
    const { resources, invokes } = await run("external-dns", SECRETS);
    expect([awsResources(resources), awsInvokes(invokes)]).toEqual([[], []]);
  });
});

describe("none × secret", () => {
  it("outputs the records the platform team must create, a CNAME to the gateway's address for each name", async () => {
    const { outputs } = await run("none", SECRETS);
    const target = outputs.gatewayHostname as string;
    expect(target).toMatch(/\.elb\./);
    expect(outputs.dnsRecords).toEqual([SHOP, `*.${SHOP}`, API, `*.${API}`].map((name) => ({ name, type: "CNAME", target })));
  });

  it("annotates nothing for external-dns and serves the platform's Secrets", async () => {
    const { cluster } = await run("none", SECRETS);
    expect(externalDns(cluster)).toBeUndefined();
    expect(hostSecrets(cluster)[`*.${API}`]).toBe("wildcard-api");
  });

  it("registers nothing and invokes nothing in AWS", async () => {
    const { resources, invokes } = await run("none", SECRETS);
    expect([awsResources(resources), awsInvokes(invokes)]).toEqual([[], []]);
  });
});

describe("none × cert-manager with the platform's issuer", () => {
  it("outputs the records, creates the Certificates from the given issuer and nothing in AWS", async () => {
    const { resources, invokes, cluster, outputs } = await run("none", ISSUER);
    expect((outputs.dnsRecords as { name: string }[]).map((r) => r.name).sort()).toEqual(ALL_NAMES);
    expect(certificates(cluster).map(([, issuer]) => issuer)).toEqual(["platform-ca", "platform-ca"]);
    expect(externalDns(cluster)).toBeUndefined();
    expect([awsResources(resources), awsInvokes(invokes)]).toEqual([[], []]);
  });
});

describe("objects of every pair", () => {
  it.each([
    [undefined, undefined],
    ["route53", { mode: "cert-manager", email: "platform@example.com" }],
    ["external-dns", ISSUER],
    ["external-dns", SECRETS],
    ["none", SECRETS],
    ["none", ISSUER],
  ])("validate against their published schemas (dns %s, tls %j)", async (dns, tls) => {
    const { cluster } = await run(dns, tls);
    const left = unvalidated(cluster);
    // cert-manager's kinds have no schema in test/helpers; their fields are asserted above.
    expect(left.filter((k) => !k.startsWith("cert-manager.io/"))).toEqual([]);
  });
});

describe("a pair that cannot work", () => {
  it("stops the stack in one line naming forkstack:tls.mode and the fix", async () => {
    const err = await run("none", undefined).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^stack dev: forkstack:tls\.mode: "acm" needs forkstack:dns route53 .*; set forkstack:tls\.mode to cert-manager with tls\.issuer/);
    expect((err as Error).message.split("\n")).toHaveLength(1);
  });
});
