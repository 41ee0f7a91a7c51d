import { DEFAULTS, parseBaseConfig, parseChartRepo, parseImageRegistry } from "../../components/config";
import { configErrorOf } from "../helpers/configError";

const base = {
  domain: "dev.example.com",
  cluster: { mode: "kubeconfig" },
  upstreams: [{ host: "shop.dev.example.com", service: "frontend.shop:80" }],
};


describe("forkstack:istio", () => {
  it("defaults to 1.31.x from blob.istio.io with images from docker.io/istio, installed", () => {
    expect(parseBaseConfig(base).istio).toEqual({ version: "1.31.1", chartRepo: "https://blob.istio.io/istio-release/charts", hub: "docker.io/istio", install: true });
  });

  it("keeps the EKS default Kubernetes version inside Istio 1.31's supported 1.32-1.36", () => {
    const [major, minor] = DEFAULTS.eks.version.split(".").map(Number);
    expect(major).toBe(1);
    expect(minor).toBeGreaterThanOrEqual(32);
    expect(minor).toBeLessThanOrEqual(36);
  });

  it.each([
    "https://blob.istio.io/istio-release/charts",
    "oci://ghcr.io/istio/release/charts",
    "http://charts.mirror.internal:8080/istio",
    "oci://registry.example.com:5000/mirror/istio",
  ])("accepts the chart repository %s", (repo) => {
    expect(parseBaseConfig({ ...base, istio: { chartRepo: repo } }).istio.chartRepo).toBe(repo);
  });

  it.each([
    ["istio-release/charts", "is not a URL"],
    ["ftp://mirror.example.com/charts", 'has the scheme "ftp:"'],
    ["oci://ghcr.io", "has no repository path"],
    ["https://blob.istio.io/istio-release/charts/", "is not a plain repository address"],
    ["https://mirror.example.com/charts?token=x", "is not a plain repository address"],
    [42, "is not a chart repository"],
  ])("refuses the chart repository %j: %s", (repo, problem) => {
    const e = configErrorOf(() => parseBaseConfig({ ...base, istio: { chartRepo: repo } }));
    expect(e.field).toBe("forkstack:istio.chartRepo");
    expect(e.message).toContain(problem);
    expect(e.message).not.toContain("\n");
  });

  it("refuses a chart repository with credentials without printing them", () => {
    const e = configErrorOf(() => parseChartRepo("forkstack:istio.chartRepo", "https://robot:s3cret@mirror.example.com/charts"));
    expect(e.message).toContain("carries credentials");
    expect(e.message).not.toContain("s3cret");
    expect(e.message).not.toContain("robot");
  });

  it.each(["docker.io/istio", "registry.example.com:5000/mirror/istio", "localhost:5000/istio", "public.ecr.aws/x1y2z3/istio"])(
    "accepts the hub %s",
    (hub) => {
      expect(parseImageRegistry("forkstack:istio.hub", hub)).toBe(hub);
    },
  );

  it.each(["https://docker.io/istio", "docker.io/istio:1.31.1", "docker.io/istio/", "Docker.io/Istio", "docker.io/istio@sha256:abc", ""])(
    "refuses the hub %j naming forkstack:istio.hub",
    (hub) => {
      const e = configErrorOf(() => parseBaseConfig({ ...base, istio: { hub } }));
      expect(e.field).toBe("forkstack:istio.hub");
      expect(e.message).toMatch(/is not an image registry; use a registry and path/);
    },
  );

  it("reads install flags as booleans and refuses anything else", () => {
    const c = parseBaseConfig({ ...base, istio: { install: false }, emissary: { install: "false" } });
    expect([c.istio.install, c.emissary.install]).toEqual([false, false]);
    const e = configErrorOf(() => parseBaseConfig({ ...base, istio: { install: "no" } }));
    expect(e.message).toBe('forkstack:istio.install: "no" is not a boolean; use true or false');
  });
});
