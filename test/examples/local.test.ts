/**
 * The local quick start (docs/quickstart-local.md) renders and validates as written: the base on a
 * k3d cluster with dns none and the self-signed ClusterIssuer, then fork alice, from the files in
 * examples/local/ that the page tells a user to use.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { RenderResult, renderStacks } from "../../render/render";
import { validateEmissary } from "../helpers/emissary";
import { hasSchema, validateAgainstSchema } from "../helpers/schemas";

const DIR = path.join(__dirname, "..", "..", "examples", "local");
const read = (file: string) => YAML.parse(fs.readFileSync(path.join(DIR, file), "utf8"));
const DOC = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "quickstart-local.md"), "utf8");

let render: RenderResult;
beforeAll(async () => {
  render = await renderStacks({ stacks: ["local", "alice-local"], configDir: DIR });
}, 60_000);
const objects = () => render.cluster.all();
const result = (stack: string) => render.results.find((r) => r.stack === stack)!;

describe("the local quick start", () => {
  it("registers nothing in AWS and invokes nothing there", () => {
    const aws = render.results.flatMap((r) => [...r.resources.map((x) => x.type), ...(r.invokes ?? [])]).filter((t) => t.startsWith("aws:") || t === "pulumi:providers:aws");
    expect(aws).toEqual([]);
  });

  it("serves the shop and every fork of it with certificates from the self-signed ClusterIssuer the page applies", () => {
    const issuer = read("selfsigned-issuer.yaml");
    expect([issuer.kind, issuer.metadata.name, issuer.spec]).toEqual(["ClusterIssuer", read("Pulumi.local.yaml").config["forkstack:tls"].issuer, { selfSigned: {} }]);
    const certs = objects().filter((o) => o.kind === "Certificate");
    expect(certs.map((c) => [(c.spec as any).issuerRef, [...(c.spec as any).dnsNames].sort()])).toEqual([
      [{ group: "cert-manager.io", kind: "ClusterIssuer", name: "selfsigned" }, ["*.shop.127.0.0.1.nip.io", "shop.127.0.0.1.nip.io"]],
    ]);
  });

  it("outputs the DNS records a real DNS would need (nip.io answers them here), pointing at the gateway", () => {
    const records = result("local").outputs.dnsRecords as { name: string; type: string; target: string }[];
    expect(records.map((r) => r.name).sort()).toEqual(["*.shop.127.0.0.1.nip.io", "shop.127.0.0.1.nip.io"]);
  });

  it("gives alice her URL and a copy of api on the k3d context the base names", () => {
    expect(result("alice-local").outputs.urls).toEqual({ "shop.127.0.0.1.nip.io": "https://alice.shop.127.0.0.1.nip.io/" });
    expect(objects().some((o) => o.kind === "Deployment" && o.metadata.name === "api-alice")).toBe(true);
    expect(result("local").outputs.kubeContext).toBe("k3d-forkstack");
  });

  it("renders objects that validate against their published schemas", () => {
    for (const o of objects()) {
      if (o.apiVersion.startsWith("getambassador.io/")) validateEmissary(o);
      else if (hasSchema(o)) validateAgainstSchema(o);
    }
  });

  it("publishes ports 80 and 443 from k3d's load balancer and leaves Traefik out (Emissary is the gateway)", () => {
    const k3d = read("k3d.yaml");
    expect([k3d.metadata.name, k3d.ports.map((p: any) => p.port), JSON.stringify(k3d.options)]).toEqual(["forkstack", ["80:80", "443:443"], expect.stringContaining("--disable=traefik")]);
    expect(`k3d-${k3d.metadata.name}`).toBe(read("Pulumi.local.yaml").config["forkstack:cluster"].context);
  });

  it("is what docs/quickstart-local.md tells a user to run: each file it names exists, and it curls the fork's URL", () => {
    const named = [...DOC.matchAll(/examples\/local\/([\w.-]+)/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(3);
    for (const f of named) expect(fs.existsSync(path.join(DIR, f))).toBe(true);
    expect(DOC).toContain("curl -k --resolve alice.shop.127.0.0.1.nip.io:443:127.0.0.1 https://alice.shop.127.0.0.1.nip.io/");
  });
});
