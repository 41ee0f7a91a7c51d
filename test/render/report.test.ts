import { KubeObject, SimulatedCluster } from "../../render/cluster";
import type { RenderResult } from "../../render/render";
import { buildDemoReport, DemoReport, forkCost, formatDemoReport, formatRenderSummary, urlsOf, wholeCopyCost } from "../../render/report";

function deployment(name: string, replicas: number | undefined, fork?: string, namespace = "shop"): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels: fork ? { "forkstack.dev/fork": fork } : { app: name } },
    spec: replicas === undefined ? {} : { replicas },
  };
}

function service(name: string, fork?: string): KubeObject {
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace: "shop", labels: fork ? { "forkstack.dev/fork": fork } : {} }, spec: {} };
}

const apiVs: KubeObject = {
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "forkstack-api", namespace: "shop", annotations: { "forkstack.dev/created-by": "forkstack" } },
  spec: { hosts: ["api.shop.svc.cluster.local"], http: [{ name: "forkstack-alice" }, { name: "forkstack-bob" }, { name: "default" }] },
};
const catalogVs: KubeObject = {
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "catalog", namespace: "shop" },
  spec: { hosts: ["catalog"], http: [{ name: "forkstack-bob" }, { name: "forkstack-bob--1" }, { name: "primary" }] },
};

const objects: KubeObject[] = [
  deployment("frontend", 2),
  deployment("api", 1),
  deployment("catalog", undefined),
  deployment("istiod", 1, undefined, "istio-system"),
  service("frontend"),
  service("api"),
  service("catalog"),
  deployment("api-alice", 1, "alice"),
  service("api-alice", "alice"),
  deployment("api-bob", 1, "bob"),
  deployment("catalog-bob", 2, "bob"),
  apiVs,
  catalogVs,
];

describe("forkCost", () => {
  it("counts the objects carrying the fork's label", () => {
    expect(forkCost(objects, "alice").objects).toBe(2);
  });

  it("counts the fork's named routes in every VirtualService", () => {
    expect(forkCost(objects, "bob").routes).toBe(3);
  });

  it("counts the replicas of the fork's Deployments as its pods", () => {
    expect(forkCost(objects, "bob").pods).toBe(3);
  });

  it("costs nothing for a fork with no objects", () => {
    expect(forkCost(objects, "flags")).toEqual({ objects: 0, routes: 0, pods: 0 });
  });
});

describe("wholeCopyCost", () => {
  it("counts shared Deployments and their replicas in the given namespaces, a missing replicas as 1", () => {
    expect(wholeCopyCost(objects, ["shop"])).toMatchObject({ deployments: 3, pods: 4 });
  });

  it("leaves out fork objects, VirtualServices forkstack created, and other namespaces", () => {
    expect(wholeCopyCost(objects, ["shop"]).objects).toBe(7);
  });
});

describe("urlsOf", () => {
  it("reads a map of urls", () => {
    expect(urlsOf({ urls: { "shop.dev.example.com": "https://alice.shop.dev.example.com/" } })).toEqual(["https://alice.shop.dev.example.com/"]);
  });

  it("reads other https string outputs and ignores the rest", () => {
    expect(urlsOf({ site: "https://shop.dev.example.com/", domain: "dev.example.com" })).toEqual(["https://shop.dev.example.com/"]);
  });
});

describe("formatRenderSummary", () => {
  it("prints one line per stack with its counts and URLs", () => {
    const text = formatRenderSummary({
      outDir: "out",
      clusterObjects: 12,
      stacks: [
        { stack: "dev", kind: "base", resources: 30, reads: 0, objects: ["Namespace emissary"], outputs: {} },
        { stack: "alice", kind: "fork", resources: 5, reads: 2, objects: ["Deployment shop/api-alice", "Service shop/api-alice"], outputs: { urls: { h: "https://alice.shop.dev.example.com/" } } },
      ],
    });
    expect(text.split("\n")).toEqual([
      "rendered 2 stacks into out: cluster.yaml (12 objects), resources.json, outputs.json",
      "  dev    base  30 resources, 1 object, 0 reads",
      "  alice  fork  5 resources, 2 objects, 2 reads  https://alice.shop.dev.example.com/",
      "",
    ]);
  });

  it("says 1 stack, 1 object, 1 resource and 1 read in the singular", () => {
    const text = formatRenderSummary({
      outDir: "out",
      clusterObjects: 1,
      stacks: [{ stack: "dev", kind: "base", resources: 1, reads: 1, objects: ["Namespace emissary"], outputs: {} }],
    });
    expect(text).toBe("rendered 1 stack into out: cluster.yaml (1 object), resources.json, outputs.json\n  dev  base  1 resource, 1 object, 1 read\n");
  });
});

const report: DemoReport = {
  baseStack: "dev",
  sharedUrls: ["https://shop.dev.example.com/"],
  wholeCopy: { namespaces: ["shop"], deployments: 5, pods: 6, objects: 11 },
  forks: [
    {
      stack: "alice",
      forkId: "alice",
      urls: ["https://alice.shop.dev.example.com/"],
      copied: ["api.shop → api-alice.shop (registry.example.com/shop/api:alice-1)"],
      cost: { objects: 3, routes: 1, pods: 1 },
      explained: "0  frontend  Mapping emissary/fork-alice\nchain ok",
    },
    { stack: "flags", forkId: "flags", urls: ["https://flags.shop.dev.example.com/"], copied: [], cost: { objects: 1, routes: 0, pods: 0 } },
  ],
};

describe("formatDemoReport", () => {
  const text = formatDemoReport(report);

  it("gives each fork its URL", () => {
    expect(text).toContain("  URL:     https://alice.shop.dev.example.com/\n");
  });

  it("says what a fork copied, and that a header-only fork copied nothing", () => {
    expect(text).toContain("  copied:  api.shop → api-alice.shop (registry.example.com/shop/api:alice-1)\n");
    expect(text).toContain("  copied:  nothing (header-only fork)\n");
  });

  it("sets each fork's cost against one full copy of the environment", () => {
    expect(text).toContain("  costs:   1 pod, 3 objects, 1 route in shared VirtualServices\n           (a full copy: 6 pods, 11 objects)\n");
  });

  it("sums the forks' pods against a full copy per fork", () => {
    expect(text).toContain("2 forks cost 1 pod on top of the shared 6; copying the environment per fork would cost 12 pods.\n");
  });

  it("puts each copy of a fork on a line of its own", () => {
    const two = formatDemoReport({ ...report, forks: [{ ...report.forks[0], copied: ["api.shop → api-bob.shop", "catalog.shop → catalog-bob.shop"] }] });
    expect(two).toContain("  copied:  api.shop → api-bob.shop\n           catalog.shop → catalog-bob.shop\n");
  });

  it("indents each fork's explained request under its URL", () => {
    expect(text).toContain("A request to https://alice.shop.dev.example.com/:\n  0  frontend  Mapping emissary/fork-alice\n  chain ok\n");
  });
});

describe("buildDemoReport", () => {
  function fakeRender(): RenderResult {
    const cluster = new SimulatedCluster();
    for (const o of objects) cluster.put(o);
    const stack = (name: string, outputs: Record<string, unknown>, secretOutputs: string[] = []) => ({ stack: name, resources: [], outputs, secretOutputs, invokes: [] });
    return {
      cluster,
      results: [
        stack("dev", { upstreams: [{ host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } }], kubeconfig: "k" }, ["kubeconfig"]),
        stack("alice", { urls: { "shop.dev.example.com": "https://alice.shop.dev.example.com/" }, copies: [{ service: "api.shop", copy: "api-alice.shop", image: "r/api:1" }] }),
        stack("flags", { urls: { "shop.dev.example.com": "https://flags.shop.dev.example.com/" }, copies: [] }),
      ],
      configs: [
        { stack: "dev", file: "Pulumi.dev.yaml", config: { "forkstack:domain": "dev.example.com" }, skippedSecure: [] },
        { stack: "alice", file: "Pulumi.alice.yaml", config: { "forkstack:fork": { id: "alice", services: [{ name: "api", namespace: "shop" }] } }, skippedSecure: [] },
        { stack: "flags", file: "Pulumi.flags.yaml", config: { "forkstack:fork": { id: "flags" } }, skippedSecure: [] },
      ],
    };
  }

  it("takes the shared URLs from the base stack's upstreams", () => {
    expect(buildDemoReport(fakeRender()).sharedUrls).toEqual(["https://shop.dev.example.com/"]);
  });

  it("reports every fork stack with its URLs and copies from its outputs", () => {
    const forks = buildDemoReport(fakeRender()).forks.map(({ forkId, urls, copied }) => ({ forkId, urls, copied }));
    expect(forks).toEqual([
      { forkId: "alice", urls: ["https://alice.shop.dev.example.com/"], copied: ["api.shop → api-alice.shop (r/api:1)"] },
      { forkId: "flags", urls: ["https://flags.shop.dev.example.com/"], copied: [] },
    ]);
  });

  it("explains a request to each fork's first host", () => {
    const hosts: string[] = [];
    buildDemoReport(fakeRender(), (forkId, host) => {
      hosts.push(`${forkId} ${host}`);
      return "explained";
    });
    expect(hosts).toEqual(["alice alice.shop.dev.example.com", "flags flags.shop.dev.example.com"]);
  });

  it("prices a full copy from the namespaces of the upstreams and forked services", () => {
    expect(buildDemoReport(fakeRender()).wholeCopy).toEqual({ namespaces: ["shop"], deployments: 3, pods: 4, objects: 7 });
  });
});
