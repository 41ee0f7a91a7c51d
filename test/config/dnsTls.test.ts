/**
 * `forkstack:dns` and `forkstack:tls` of a base stack: the accepted shapes, and every refusal in
 * one line naming the full key, the value and the fix.
 */
import { parseBaseConfig } from "../../components/config";
import { configErrorOf } from "../helpers/configError";

const base = {
  domain: "dev.example.com",
  cluster: { mode: "kubeconfig" },
  upstreams: [
    { host: "shop.dev.example.com", service: "frontend.shop:80" },
    { host: "api.dev.example.com", service: "gateway.api:8080" },
  ],
};
const secrets = { "shop.dev.example.com": "tls-shop", "api.dev.example.com": "tls-api" };

describe("forkstack:dns and forkstack:tls: accepted shapes", () => {
  it("defaults to route53 and acm, what a base of the previous release does", () => {
    const c = parseBaseConfig(base);
    expect([c.dns, c.tls]).toEqual(["route53", { mode: "acm" }]);
  });

  it("keeps cert-manager with forkstack's own Let's Encrypt issuer on route53", () => {
    const c = parseBaseConfig({ ...base, tls: { mode: "cert-manager", email: "platform@example.com" } });
    expect(c.tls).toEqual({ mode: "cert-manager", email: "platform@example.com" });
  });

  it("takes the platform's ClusterIssuer with any DNS mode, without an e-mail", () => {
    for (const dns of ["route53", "external-dns", "none"]) {
      const c = parseBaseConfig({ ...base, dns, tls: { mode: "cert-manager", issuer: "letsencrypt-prod" } });
      expect([c.dns, c.tls]).toEqual([dns, { mode: "cert-manager", issuer: "letsencrypt-prod" }]);
    }
  });

  it("takes a TLS Secret for every upstream in secret mode, in upstream order", () => {
    const c = parseBaseConfig({ ...base, dns: "none", tls: { mode: "secret", secrets: { "api.dev.example.com": "tls-api", "shop.dev.example.com": "tls-shop" } } });
    expect(c.tls).toEqual({ mode: "secret", secrets });
    expect(Object.keys(c.tls.secrets!)).toEqual(["shop.dev.example.com", "api.dev.example.com"]);
  });
});

describe("forkstack:dns and forkstack:tls: refusals", () => {
  it("refuses an unknown DNS mode", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, dns: "cloudflare" }));
    expect(e.field).toBe("forkstack:dns");
    expect(e.message).toMatch(/^forkstack:dns: "cloudflare" is not a DNS mode; use "route53" .* "external-dns" .* or "none"/);
  });

  it("refuses an unknown TLS mode", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, tls: { mode: "letsencrypt" } }));
    expect(e.field).toBe("forkstack:tls.mode");
    expect(e.message).toMatch(/^forkstack:tls\.mode: "letsencrypt" is not a TLS mode; use "acm" .* "cert-manager" .* or "secret"/);
  });

  it("refuses acm without route53, naming forkstack:tls.mode and the fix", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, dns: "external-dns" }));
    expect(e.field).toBe("forkstack:tls.mode");
    expect(e.message).toMatch(/^forkstack:tls\.mode: "acm" needs forkstack:dns route53 .* and forkstack:dns is "external-dns"; set forkstack:tls\.mode to cert-manager with tls\.issuer .* or to secret with tls\.secrets/);
    expect(e.message).not.toContain("\n");
  });

  it("refuses cert-manager without an issuer when DNS is not route53", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, dns: "none", tls: { mode: "cert-manager", email: "platform@example.com" } }));
    expect(e.field).toBe("forkstack:tls.issuer");
    expect(e.message).toMatch(/^forkstack:tls\.issuer: \(missing\) is required with tls\.mode cert-manager when forkstack:dns is "none" .*; name an existing ClusterIssuer/);
  });

  it("refuses cert-manager without an issuer or an e-mail", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, tls: { mode: "cert-manager" } }));
    expect(e.field).toBe("forkstack:tls.email");
    expect(e.message).toMatch(/^forkstack:tls\.email: \(missing\) is required with tls\.mode cert-manager without tls\.issuer .*; set the ACME account e-mail/);
  });

  it("refuses an e-mail that is not an e-mail address", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, tls: { mode: "cert-manager", email: "platform.example.com" } }));
    expect(e.field).toBe("forkstack:tls.email");
    expect(e.message).toBe('forkstack:tls.email: "platform.example.com" is not an e-mail address; set the ACME account e-mail, e.g. platform@example.com');
  });

  it("refuses an issuer that is not a ClusterIssuer name", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, tls: { mode: "cert-manager", issuer: "Lets_Encrypt" } }));
    expect(e.field).toBe("forkstack:tls.issuer");
    expect(e.message).toMatch(/^forkstack:tls\.issuer: "Lets_Encrypt" is not a ClusterIssuer name; /);
  });

  it("refuses an issuer outside cert-manager mode rather than ignore it", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, tls: { mode: "acm", issuer: "letsencrypt" } }));
    expect(e.field).toBe("forkstack:tls.issuer");
    expect(e.message).toMatch(/is only used with tls\.mode cert-manager, and tls\.mode is "acm"; remove it, or set forkstack:tls\.mode to cert-manager$/);
  });

  it("refuses Secrets outside secret mode rather than ignore them", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, tls: { mode: "cert-manager", issuer: "letsencrypt", secrets } }));
    expect(e.field).toBe("forkstack:tls.secrets");
    expect(e.message).toMatch(/is only used with tls\.mode secret, and tls\.mode is "cert-manager"; /);
  });

  it("refuses secret mode without tls.secrets", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, dns: "none", tls: { mode: "secret" } }));
    expect(e.field).toBe("forkstack:tls.secrets");
    expect(e.message).toMatch(/^forkstack:tls\.secrets: \(missing\) is required with tls\.mode secret; map each upstream host to its TLS Secret in namespace emissary/);
  });

  it("refuses tls.secrets that is not a map", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, dns: "none", tls: { mode: "secret", secrets: ["tls-shop"] } }));
    expect(e.field).toBe("forkstack:tls.secrets");
    expect(e.message).toMatch(/is not an object; map each upstream host/);
  });

  it("refuses a missing upstream, naming it", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, dns: "none", tls: { mode: "secret", secrets: { "shop.dev.example.com": "tls-shop" } } }));
    expect(e.field).toBe("forkstack:tls.secrets");
    expect(e.message).toMatch(/^forkstack:tls\.secrets: \["shop\.dev\.example\.com"\] lacks upstream api\.dev\.example\.com; add api\.dev\.example\.com: the name of a TLS Secret in namespace emissary/);
  });

  it("refuses a host that is not an upstream", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, dns: "none", tls: { mode: "secret", secrets: { ...secrets, "blog.dev.example.com": "tls-blog" } } }));
    expect(e.field).toBe("forkstack:tls.secrets.blog.dev.example.com");
    expect(e.message).toMatch(/"blog\.dev\.example\.com" is not an upstream host; list only hosts of forkstack:upstreams: shop\.dev\.example\.com, api\.dev\.example\.com$/);
  });

  it("refuses a Secret name Emissary would misread", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, dns: "none", tls: { mode: "secret", secrets: { ...secrets, "api.dev.example.com": "tls.api" } } }));
    expect(e.field).toBe("forkstack:tls.secrets.api.dev.example.com");
    expect(e.message).toMatch(/"tls\.api" is not a Secret name; name an existing TLS Secret in namespace emissary/);
  });

  it("refuses an unknown key under forkstack:tls with the closest one", () => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, tls: { mode: "cert-manager", isuer: "letsencrypt" } }));
    expect(e.field).toBe("forkstack:tls.isuer");
    expect(e.message).toContain("did you mean forkstack:tls.issuer?");
  });
});
