/**
 * The cross-check's own logic (render/meshCheck.ts): which requests it sends, what explain answers
 * for each in the istio-routes tool's terms, and what counts as the same answer. The check against
 * istiod itself runs in the e2e tier (e2e/tests/meshCheck.e2e.test.ts).
 */
import * as path from "path";
import { compareAnswers, explainAnswer, formatDisagreement, MeshAnswer, meshRequests, sameAnswer } from "../../render/meshCheck";
import type { KubeObject } from "../../render/cluster";
import { renderStacks } from "../../render/render";

const EXAMPLES = path.join(__dirname, "..", "..", "examples");
const HEADER = "x-fork-identifier";

let objects: KubeObject[];
beforeAll(async () => {
  const render = await renderStacks({ stacks: ["dev", "alice", "bob"], configDir: EXAMPLES, clusterFiles: [path.join(EXAMPLES, "cluster", "shop.yaml")] });
  objects = render.cluster.all();
}, 120_000);

const answerFor = (host: string, fork?: string) => {
  const request = meshRequests(objects, HEADER).find((r) => r.host === host && r.headers[HEADER] === fork);
  if (request === undefined) throw new Error(`no request to ${host} with ${fork}`);
  return explainAnswer(objects, request);
};

describe("meshRequests", () => {
  it("calls every shared Service of the shop once per header value that matters, never a fork's copy", () => {
    const requests = meshRequests(objects, HEADER);
    const hosts = [...new Set(requests.map((r) => r.host))].sort();
    expect(hosts).toEqual(["api", "cart", "catalog", "frontend", "inventory"].map((s) => `${s}.shop.svc.cluster.local`));
    // No header, alice, bob, and the ids around them: alic, alice2, bo, bob2.
    const values = [...new Set(requests.map((r) => r.headers[HEADER] ?? "-"))].sort();
    expect(values).toEqual(["-", "alic", "alice", "alice2", "bo", "bob", "bob2"]);
    expect(requests.every((r) => r.namespace === "shop" && r.path === "/")).toBe(true);
  });
});

describe("explainAnswer", () => {
  it("sends a fork's header on a Service it copied to its copy, by its named route", () => {
    expect(answerFor("api.shop.svc.cluster.local", "alice")).toEqual({ outcome: "route", route: "forkstack-alice", clusters: [{ name: "outbound|80||api-alice.shop.svc.cluster.local", weight: 100 }] });
  });

  it("sends ids that prefix or extend a fork's, and no header, by the default route to the shared Service", () => {
    for (const value of ["alic", "alice2", undefined]) {
      expect(answerFor("api.shop.svc.cluster.local", value)).toEqual({ outcome: "route", route: "default", clusters: [{ name: "outbound|80||api.shop.svc.cluster.local", weight: 100 }] });
    }
  });

  it("answers for a Service no VirtualService covers as Istio's own default route", () => {
    expect(answerFor("inventory.shop.svc.cluster.local", "alice")).toEqual({ outcome: "route", route: "default", clusters: [{ name: "outbound|80||inventory.shop.svc.cluster.local", weight: 100 }] });
  });
});

describe("sameAnswer and compareAnswers", () => {
  const fork: MeshAnswer = { outcome: "route", route: "forkstack-alice", clusters: [{ name: "outbound|80||api-alice.shop.svc.cluster.local", weight: 100 }] };

  it("tells apart another cluster, another weight, another route name and another outcome", () => {
    expect(sameAnswer(fork, { ...fork })).toBe(true);
    expect(sameAnswer(fork, { ...fork, clusters: [{ name: "outbound|80||api.shop.svc.cluster.local", weight: 100 }] })).toBe(false);
    expect(sameAnswer(fork, { ...fork, clusters: [{ name: fork.clusters[0].name, weight: 90 }] })).toBe(false);
    expect(sameAnswer(fork, { ...fork, route: "default" })).toBe(false);
    expect(sameAnswer(fork, { outcome: "no-route", clusters: [] })).toBe(false);
  });

  it("reports a request whose istiod answer differs, in one line naming the request and both hops", () => {
    const requests = meshRequests(objects, HEADER).filter((r) => r.host.startsWith("api.") && r.headers[HEADER] === "alice");
    const wrong = new Map<string, MeshAnswer>([[requests[0].id, { outcome: "route", route: "default", clusters: [{ name: "outbound|80||api.shop.svc.cluster.local", weight: 100 }] }]]);
    const result = compareAnswers(objects, requests, wrong);
    expect([result.compared, result.disagreements.length]).toEqual([1, 1]);
    expect(formatDisagreement(result.disagreements[0])).toBe(
      "from shop to api.shop.svc.cluster.local:80/ (x-fork-identifier: alice): explain route forkstack-alice → outbound|80||api-alice.shop.svc.cluster.local (100); istiod route default → outbound|80||api.shop.svc.cluster.local (100)",
    );
  });
});
