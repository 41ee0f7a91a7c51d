import { Upstream } from "../../components/config";
import {
  emissaryCrdsValues,
  emissarySelector,
  emissaryValues,
  forkHostPatterns,
  GatewayObjectContext,
  gatewayHosts,
  gatewayListeners,
  gatewayNamespace,
  gatewayService,
  loadBalancerAnnotations,
} from "../../components/gatewayObjects";
import { validateEmissary } from "../helpers/emissary";
import { validateAgainstSchema } from "../helpers/schemas";

const upstreams: Upstream[] = [
  { host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } },
  { host: "api.dev.example.com", service: { name: "gateway", namespace: "api", port: 8080 } },
];
const acm: GatewayObjectContext = { namespace: "emissary", ambassadorId: "fork-proxy-ambassador", tlsMode: "acm", hostScheme: "subdomain" };
const certManager: GatewayObjectContext = { ...acm, tlsMode: "cert-manager" };

describe("gateway namespace", () => {
  it("disables sidecar injection, so the first hop is decided by the fork Mapping's target", () => {
    const ns = gatewayNamespace("emissary");
    expect(ns.metadata.labels?.["istio-injection"]).toBe("disabled");
    validateAgainstSchema(ns);
  });
});

describe("gateway listeners", () => {
  it("decides security by port in ACM mode, where TLS ends at the load balancer", () => {
    const specs = gatewayListeners(acm).map((l) => l.spec as any);
    expect(specs.map((s) => [s.port, s.protocol, s.securityModel])).toEqual([
      [8080, "HTTP", "INSECURE"],
      [8443, "HTTP", "SECURE"],
    ]);
  });

  it("terminates TLS on 8443 in cert-manager mode", () => {
    const specs = gatewayListeners(certManager).map((l) => l.spec as any);
    expect(specs.map((s) => [s.port, s.protocol, s.securityModel])).toEqual([
      [8080, "HTTP", "XFP"],
      [8443, "HTTPS", "XFP"],
    ]);
  });

  it("scopes every listener to the ambassador id and validates against the Listener CRD", () => {
    for (const l of [...gatewayListeners(acm), ...gatewayListeners(certManager)]) {
      expect((l.spec as any).ambassador_id).toEqual(["fork-proxy-ambassador"]);
      validateEmissary(l);
    }
  });
});

describe("gateway hosts", () => {
  it("serves each shared host and each upstream's fork wildcard", () => {
    expect(gatewayHosts(upstreams, acm).map((h) => (h.spec as any).hostname)).toEqual([
      "shop.dev.example.com",
      "api.dev.example.com",
      "*.shop.dev.example.com",
      "*.api.dev.example.com",
    ]);
  });

  it("serves the one shared wildcard once in the flat scheme", () => {
    const hosts = gatewayHosts(upstreams, { ...acm, hostScheme: "flat" }).map((h) => (h.spec as any).hostname);
    expect(hosts).toEqual(["shop.dev.example.com", "api.dev.example.com", "*.dev.example.com"]);
  });

  it("redirects plain HTTP and leaves ACME off", () => {
    for (const h of gatewayHosts(upstreams, acm)) {
      expect((h.spec as any).requestPolicy).toEqual({ insecure: { action: "Redirect" } });
      expect((h.spec as any).acmeProvider).toEqual({ authority: "none" });
      expect((h.spec as any).tlsSecret).toBeUndefined();
    }
  });

  it("points each host at its upstream's cert-manager secret in cert-manager mode", () => {
    const secrets = gatewayHosts(upstreams, certManager).map((h) => (h.spec as any).tlsSecret.name);
    expect(secrets).toEqual(["tls-shop-dev-example-com", "tls-api-dev-example-com", "tls-shop-dev-example-com", "tls-api-dev-example-com"]);
  });

  it("validates every Host against the Host CRD", () => {
    for (const h of [...gatewayHosts(upstreams, acm), ...gatewayHosts(upstreams, certManager)]) validateEmissary(h);
  });

  it("lists the fork host patterns once each", () => {
    expect(forkHostPatterns([...upstreams, ...upstreams], "subdomain")).toEqual(["*.shop.dev.example.com", "*.api.dev.example.com"]);
  });
});

describe("load balancer", () => {
  it("ends TLS at a classic ELB when one certificate covers every name", () => {
    expect(loadBalancerAnnotations("acm", ["arn:1"])).toEqual({
      "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "arn:1",
      "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
      "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "http",
    });
  });

  it("asks the AWS Load Balancer Controller for an NLB serving every certificate by SNI when there are several", () => {
    const a = loadBalancerAnnotations("acm", ["arn:1", "arn:2"]);
    expect(a["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]).toBe("arn:1,arn:2");
    expect(a["service.beta.kubernetes.io/aws-load-balancer-type"]).toBe("external");
  });

  it("passes TCP through untouched in cert-manager mode", () => {
    expect(loadBalancerAnnotations("cert-manager", [])).toEqual({});
  });

  it("selects exactly the pods the chart labels through service.selector", () => {
    const svc = gatewayService(acm, {});
    expect((svc.spec as any).selector).toEqual((emissaryValues(acm).service as any).selector);
    expect((svc.spec as any).selector).toEqual(emissarySelector());
    validateAgainstSchema(svc);
  });

  it("forwards 443 to the secure listener and 80 to the insecure one", () => {
    const ports = (gatewayService(acm, {}).spec as any).ports.map((p: any) => [p.port, p.targetPort]);
    expect(ports).toEqual([
      [80, 8080],
      [443, 8443],
    ]);
  });
});

describe("chart values", () => {
  it("scopes the install with env.AMBASSADOR_ID, which the chart also puts on its Module", () => {
    expect(emissaryValues(acm).env).toEqual({ AMBASSADOR_ID: "fork-proxy-ambassador" });
  });

  it("keeps the gateway pods out of the mesh even where injection is forced", () => {
    expect(emissaryValues(acm).podAnnotations).toEqual({ "sidecar.istio.io/inject": "false" });
  });

  it("installs only current CRD versions, so no conversion webhook is waited for", () => {
    expect(emissaryCrdsValues(acm)).toEqual({ enableLegacyVersions: false, emissary: { namespace: "emissary" } });
    expect(emissaryValues(acm).waitForApiext).toEqual({ enabled: false });
  });
});

describe("ambassador Module", () => {
  it("strips the fork header by default from every Mapping of this install", () => {
    const { ambassadorModule } = require("../../components/gatewayObjects") as typeof import("../../components/gatewayObjects");
    const m = ambassadorModule({ namespace: "emissary", ambassadorId: "fork-proxy-ambassador", tlsMode: "acm", hostScheme: "subdomain" }, "x-fork-identifier");
    expect(m.metadata).toMatchObject({ name: "ambassador", namespace: "emissary" });
    expect(m.spec).toEqual({ ambassador_id: ["fork-proxy-ambassador"], config: { defaults: { httpmapping: { remove_request_headers: ["x-fork-identifier"] } } } });
  });
});
