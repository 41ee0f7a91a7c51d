import * as pulumi from "@pulumi/pulumi";
import { Upstream } from "../../components/config";
import { certificateNameChunks, dnsRecordNames, recordType, upstreamCertificate, validationKey, WildcardCertificates, WildcardDns } from "../../components/dns";
import { ConfigError } from "../../components/errors";
import { SimulatedCluster } from "../../render/cluster";
import { runStack } from "../../render/runtime";

const up = (host: string): Upstream => ({ host, service: { name: "frontend", namespace: "shop", port: 80 } });
const twelve = Array.from({ length: 12 }, (_, i) => up(`app${String(i).padStart(2, "0")}.dev.example.com`));

describe("certificate names", () => {
  it("puts at most 10 names on each certificate", () => {
    const chunks = certificateNameChunks(twelve, "subdomain");
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 4]);
  });

  it("covers every upstream's fork wildcard and shared host exactly once", () => {
    const names = certificateNameChunks(twelve, "subdomain").flat();
    expect(names.sort()).toEqual(twelve.flatMap((u) => [u.host, `*.${u.host}`]).sort());
  });

  it("names the one shared wildcard once in the flat scheme", () => {
    const names = certificateNameChunks([up("shop.dev.example.com"), up("api.dev.example.com")], "flat").flat();
    expect(names).toEqual(["*.dev.example.com", "api.dev.example.com", "shop.dev.example.com"]);
  });

  it("forms the same chunks whatever the order of the upstreams in the config", () => {
    expect(certificateNameChunks([...twelve].reverse(), "subdomain")).toEqual(certificateNameChunks(twelve, "subdomain"));
  });

  it("orders upstreams by host, each upstream's wildcard beside its host", () => {
    expect(certificateNameChunks([up("shop.dev.example.com"), up("api.dev.example.com")], "subdomain")).toEqual([
      ["*.api.dev.example.com", "api.dev.example.com", "*.shop.dev.example.com", "shop.dev.example.com"],
    ]);
  });

  it("keys a wildcard and its apex to the same validation record", () => {
    expect(validationKey("*.shop.dev.example.com")).toBe(validationKey("shop.dev.example.com"));
  });
});

/** Each ACM certificate a render registered, by its Pulumi logical name. */
function certificatesByName(resources: { type: string; name: string; plainInputs: Record<string, unknown> }[]): Record<string, Record<string, unknown>> {
  // Sorted by name: registrations interleave asynchronously, their order carries no meaning.
  const certs = resources.filter((r) => r.type === "aws:acm/certificate:Certificate").sort((a, b) => a.name.localeCompare(b.name));
  return Object.fromEntries(certs.map((r) => [r.name, r.plainInputs]));
}

describe("DNS record names", () => {
  it("points each shared host and each fork wildcard at the gateway", () => {
    expect(dnsRecordNames([up("shop.dev.example.com")], "dev.example.com", "subdomain")).toEqual(["shop.dev.example.com", "*.shop.dev.example.com"]);
  });

  it("refuses an upstream at the zone apex, naming the field", () => {
    expect(() => dnsRecordNames([up("shop.dev.example.com"), up("dev.example.com")], "dev.example.com", "subdomain")).toThrow(ConfigError);
    expect(() => dnsRecordNames([up("dev.example.com")], "dev.example.com", "subdomain")).toThrow(/^forkstack:upstreams\[0\]\.host: "dev\.example\.com" is the zone apex/);
  });

  it("uses an A record for an IP address and a CNAME for a host name", () => {
    expect(recordType("203.0.113.7")).toBe("A");
    expect(recordType("a1.elb.eu-west-1.amazonaws.com")).toBe("CNAME");
  });

  it("asks cert-manager for the shared host and the fork wildcard of an upstream", () => {
    const cert = upstreamCertificate(up("shop.dev.example.com"), "subdomain", "emissary");
    expect(cert.spec.dnsNames).toEqual(["shop.dev.example.com", "*.shop.dev.example.com"]);
    expect(cert.spec.secretName).toBe("tls-shop-dev-example-com");
  });
});

describe("WildcardCertificates (ACM)", () => {
  async function run(upstreams: Upstream[]) {
    return runStack({
      stack: "dev",
      config: {},
      cluster: new SimulatedCluster(),
      program: () => {
        const c = new WildcardCertificates("certificates", { domain: "dev.example.com", upstreams, hostScheme: "subdomain", tlsMode: "acm", namespace: "emissary" });
        return { arns: c.certificateArns };
      },
    });
  }

  it("requests DNS-validated certificates of at most 10 names for 12 upstreams", async () => {
    const { resources } = await run(twelve);
    const certs = resources.filter((r) => r.type === "aws:acm/certificate:Certificate").map((r) => r.plainInputs);
    expect(certs).toHaveLength(3);
    for (const c of certs) {
      expect(c.validationMethod).toBe("DNS");
      expect(1 + ((c.subjectAlternativeNames as string[]) ?? []).length).toBeLessThanOrEqual(10);
    }
  });

  it("creates one validation record per host, shared by its wildcard", async () => {
    const { resources } = await run(twelve);
    const records = resources.filter((r) => r.type === "aws:route53/record:Record");
    expect(records).toHaveLength(12);
    expect(new Set(records.map((r) => r.plainInputs.name)).size).toBe(12);
  });

  it("names each certificate after the first host it covers", async () => {
    const { resources } = await run(twelve);
    expect(Object.keys(certificatesByName(resources))).toEqual([
      "certificates-wildcard-app00-dev-example-com",
      "certificates-wildcard-app05-dev-example-com",
      "certificates-wildcard-app10-dev-example-com",
    ]);
  });

  // Chunks are cut from the upstreams sorted by host, so where a new upstream sorts decides what
  // moves: the certificates before it keep their names and inputs, the one it lands in changes,
  // and the chunk boundaries after it shift. The next two tests pin both cases.
  it("keeps every certificate's name, and the inputs of those it does not join, when an upstream that sorts last is added at the front of the config", async () => {
    const before = certificatesByName((await run(twelve)).resources);
    const after = certificatesByName((await run([up("web.dev.example.com"), ...twelve])).resources);
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(after["certificates-wildcard-app00-dev-example-com"]).toEqual(before["certificates-wildcard-app00-dev-example-com"]);
    expect(after["certificates-wildcard-app05-dev-example-com"]).toEqual(before["certificates-wildcard-app05-dev-example-com"]);
    expect(after["certificates-wildcard-app10-dev-example-com"].subjectAlternativeNames).toEqual([
      "app10.dev.example.com",
      "*.app11.dev.example.com",
      "app11.dev.example.com",
      "*.web.dev.example.com",
      "web.dev.example.com",
    ]);
  });

  it("renames only certificates whose first host changes, which ACM must replace anyway (a certificate's domain name cannot change)", async () => {
    const before = certificatesByName((await run(twelve)).resources);
    const after = certificatesByName((await run([up("app04a.dev.example.com"), ...twelve])).resources);
    expect(Object.keys(after)).toEqual([
      "certificates-wildcard-app00-dev-example-com",
      "certificates-wildcard-app04a-dev-example-com",
      "certificates-wildcard-app09-dev-example-com",
    ]);
    expect(after["certificates-wildcard-app00-dev-example-com"]).toEqual(before["certificates-wildcard-app00-dev-example-com"]);
    // Every kept name still has its domain name, so a rename never replaces a certificate that would have been kept.
    for (const [name, inputs] of Object.entries(after)) if (name in before) expect(inputs.domainName).toBe(before[name].domainName);
  });

  it("validates every certificate and exports the validated ARNs", async () => {
    const { resources, outputs } = await run(twelve);
    const validations = resources.filter((r) => r.type === "aws:acm/certificateValidation:CertificateValidation");
    expect(validations.map((v) => (v.plainInputs.validationRecordFqdns as string[]).length).sort()).toEqual([2, 5, 5]);
    expect(outputs.arns).toHaveLength(3);
  });
});

describe("WildcardDns", () => {
  it("creates protected records to the load balancer for every shared host and wildcard", async () => {
    let dns: WildcardDns | undefined;
    const { resources } = await runStack({
      stack: "dev",
      config: {},
      cluster: new SimulatedCluster(),
      program: () => {
        dns = new WildcardDns("dns", { domain: "dev.example.com", upstreams: [up("shop.dev.example.com")], hostScheme: "subdomain", address: pulumi.output("lb.example.net") });
        return {};
      },
    });
    const records = resources.filter((r) => r.type === "aws:route53/record:Record").map((r) => [r.plainInputs.name, r.plainInputs.type, r.plainInputs.records]);
    expect(records).toEqual([
      ["shop.dev.example.com", "CNAME", ["lb.example.net"]],
      ["*.shop.dev.example.com", "CNAME", ["lb.example.net"]],
    ]);
    expect(dns!.records.map((r) => (r as any).__protect)).toEqual([true, true]);
  });
});
