/** The pure builders behind `forkstack:dns` and `forkstack:tls`, without mocks. */
import { Upstream } from "../../components/config";
import { dnsRecords, upstreamCertificate } from "../../components/dns";
import { externalDnsAnnotations, GatewayObjectContext, gatewayHosts, loadBalancerAnnotations, tlsSecretOf } from "../../components/gatewayObjects";

const up = (host: string): Upstream => ({ host, service: { name: "frontend", namespace: "shop", port: 80 } });
const ctx = (over: Partial<GatewayObjectContext>): GatewayObjectContext => ({ namespace: "emissary", ambassadorId: "fork-proxy-ambassador", tlsMode: "acm", hostScheme: "subdomain", ...over });

describe("externalDnsAnnotations", () => {
  it("lists every name once, comma-separated, whatever their order", () => {
    const names = ["shop.dev.example.com", "*.shop.dev.example.com", "api.dev.example.com", "*.api.dev.example.com"];
    const expected = { "external-dns.alpha.kubernetes.io/hostname": "*.api.dev.example.com,*.shop.dev.example.com,api.dev.example.com,shop.dev.example.com" };
    expect(externalDnsAnnotations(names)).toEqual(expected);
    expect(externalDnsAnnotations([...names].reverse().concat(names[0]))).toEqual(expected);
  });
});

describe("dnsRecords", () => {
  it("points each name at a load balancer's host name with a CNAME", () => {
    expect(dnsRecords(["shop.dev.example.com", "*.shop.dev.example.com"], "lb-1.elb.amazonaws.com")).toEqual([
      { name: "shop.dev.example.com", type: "CNAME", target: "lb-1.elb.amazonaws.com" },
      { name: "*.shop.dev.example.com", type: "CNAME", target: "lb-1.elb.amazonaws.com" },
    ]);
  });

  it("points each name at a load balancer's IP with an A record (kind, MetalLB)", () => {
    expect(dnsRecords(["shop.dev.example.com"], "172.18.255.200")).toEqual([{ name: "shop.dev.example.com", type: "A", target: "172.18.255.200" }]);
  });
});

describe("upstreamCertificate", () => {
  it("names the given ClusterIssuer", () => {
    expect(upstreamCertificate(up("shop.dev.example.com"), "subdomain", "emissary", "platform-ca").spec.issuerRef).toEqual({ group: "cert-manager.io", kind: "ClusterIssuer", name: "platform-ca" });
  });

  it("names forkstack's own Let's Encrypt issuer by default", () => {
    expect(upstreamCertificate(up("shop.dev.example.com"), "subdomain", "emissary").spec.issuerRef.name).toBe("forkstack-letsencrypt");
  });
});

describe("TLS Secrets of the Hosts in secret mode", () => {
  const secrets = { "shop.dev.example.com": "wildcard-shop", "api.dev.example.com": "wildcard-api" };

  it("serve each upstream's Secret for its host and its fork wildcard", () => {
    const hosts = gatewayHosts([up("shop.dev.example.com"), up("api.dev.example.com")], ctx({ tlsMode: "secret", tlsSecrets: secrets }));
    expect(hosts.map((h) => [(h.spec as any).hostname, (h.spec as any).tlsSecret])).toEqual([
      ["shop.dev.example.com", { name: "wildcard-shop" }],
      ["api.dev.example.com", { name: "wildcard-api" }],
      ["*.shop.dev.example.com", { name: "wildcard-shop" }],
      ["*.api.dev.example.com", { name: "wildcard-api" }],
    ]);
  });

  it("serve the first upstream's Secret for the one shared wildcard of the flat scheme", () => {
    const hosts = gatewayHosts([up("shop.dev.example.com"), up("api.dev.example.com")], ctx({ tlsMode: "secret", tlsSecrets: secrets, hostScheme: "flat" }));
    expect(hosts.filter((h) => (h.spec as any).hostname === "*.dev.example.com").map((h) => (h.spec as any).tlsSecret)).toEqual([{ name: "wildcard-shop" }]);
  });

  it("are none in ACM mode, where TLS ends at the load balancer", () => {
    expect(tlsSecretOf("shop.dev.example.com", ctx({}))).toBeUndefined();
  });

  it("put no TLS annotation on the load balancer", () => {
    expect(loadBalancerAnnotations("secret", [])).toEqual({});
  });
});
