/**
 * The client-node adapter against a fake API server over real HTTP. The adapter runs in a child
 * `node` process (test/helpers/concurrentWriters.ts explains why Jest cannot load client-node), so
 * one probe runs every call in order and each `it` checks one recorded outcome.
 */
import * as YAML from "yaml";
import type { KubeObject } from "../../render/cluster";
import { spawnJob, stopJobWorker, StepOutcome } from "../helpers/concurrentWriters";
import { FakeKubeApi, startFakeKubeApi } from "../helpers/fakeKubeApi";

const SEED = YAML.parseAllDocuments(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
  resourceVersion: "4242"
  uid: 6f1c3a2e-0000-4000-8000-000000000001
  generation: 3
  creationTimestamp: "2026-01-10T09:00:00Z"
spec:
  hosts: [reviews]
  http:
    - name: primary
      route:
        - destination: { host: reviews }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop, resourceVersion: "100" }
spec:
  selector: { app: reviews }
  ports: [{ port: 9080, targetPort: 9080 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: reviews, namespace: shop, resourceVersion: "101" }
spec:
  selector: { matchLabels: { app: reviews } }
  template:
    metadata: { labels: { app: reviews } }
    spec: { containers: [{ name: reviews, image: reviews:1 }] }
`).map((d) => d.toJS() as KubeObject);

const created = {
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "forkstack-api", namespace: "shop", annotations: { "forkstack.dev/created-by": "forkstack" } },
  spec: { hosts: ["api"], http: [{ name: "default", route: [{ destination: { host: "api" } }] }] },
};
const reviews = SEED[0];

const STEPS = {
  listAll: { call: "listAll" },
  listEmpty: { call: "list", namespace: "other" },
  create: { call: "create", vs: created },
  createAgain: { call: "create", vs: created },
  replaceStale: { call: "replace", vs: { ...reviews, metadata: { ...reviews.metadata, resourceVersion: "4000" } } },
  replace: { call: "replace", vs: { ...reviews, spec: { hosts: ["reviews"], http: [] } } },
  replaceMissing: { call: "replace", vs: { ...created, metadata: { ...created.metadata, name: "gone", resourceVersion: "1" } } },
  deleteStale: { call: "delete", namespace: "shop", name: "forkstack-api", resourceVersion: "4000" },
  // The fake stamps 5001 on its first write (the create above).
  delete: { call: "delete", namespace: "shop", name: "forkstack-api", resourceVersion: "5001" },
  deleteMissing: { call: "delete", namespace: "shop", name: "forkstack-api", resourceVersion: "5001" },
  getService: { call: "getService", namespace: "shop", name: "reviews" },
  getServiceMissing: { call: "getService", namespace: "shop", name: "nope" },
  getDeployment: { call: "getDeployment", namespace: "shop", name: "reviews" },
  getDeploymentMissing: { call: "getDeployment", namespace: "shop", name: "nope" },
  // After `replace` above: reviews has `http: []`.
  patch: { call: "patch", namespace: "shop", name: "reviews", ops: [{ op: "add", path: "/spec/http/0", value: { name: "first", route: [{ destination: { host: "reviews" } }] } }] },
  patchTestFails: { call: "patch", namespace: "shop", name: "reviews", ops: [{ op: "test", path: "/spec/http/0/name", value: "nope" }, { op: "remove", path: "/spec/http/0" }] },
  patchMissing: { call: "patch", namespace: "shop", name: "gone", ops: [{ op: "test", path: "/spec/http/0/name", value: "x" }] },
} as const;

afterAll(() => stopJobWorker());

describe("clientNodeAccess over HTTP", () => {
  let api: FakeKubeApi;
  const outcome: Record<string, StepOutcome> = {};
  let vsAfter: KubeObject[];

  beforeAll(async () => {
    api = await startFakeKubeApi({ seed: SEED });
    const names = Object.keys(STEPS) as (keyof typeof STEPS)[];
    const results: StepOutcome[] = await spawnJob({ op: "probe", kubeconfig: api.kubeconfig, steps: names.map((n) => STEPS[n] as any) });
    names.forEach((n, i) => (outcome[n] = results[i]));
    vsAfter = api.virtualServices();
  }, 60_000);

  afterAll(() => api.close());

  it("lists VirtualServices in every namespace with their server-set fields", () => {
    const items = (outcome.listAll as { ok: KubeObject[] }).ok;
    expect(items.map((i) => [i.apiVersion, i.kind, i.metadata.namespace, i.metadata.name, i.metadata.resourceVersion])).toEqual([
      ["networking.istio.io/v1", "VirtualService", "shop", "reviews", "4242"],
    ]);
  });

  it("lists no VirtualServices in a namespace that has none", () => {
    expect(outcome.listEmpty).toEqual({ ok: [] });
  });

  it("creates a VirtualService and returns it with a resourceVersion", () => {
    const vs = (outcome.create as { ok: KubeObject }).ok;
    expect([vs.metadata.name, vs.metadata.namespace, vs.metadata.resourceVersion]).toEqual(["forkstack-api", "shop", "5001"]);
  });

  it("turns 409 AlreadyExists on create into a ConflictError", () => {
    expect(outcome.createAgain).toEqual({ error: "ConflictError", message: expect.stringContaining('virtualservices.networking.istio.io "forkstack-api" already exists') });
  });

  it("turns 409 Conflict on a replace with a stale resourceVersion into a ConflictError", () => {
    expect(outcome.replaceStale).toEqual({ error: "ConflictError", message: expect.stringContaining("the object has been modified") });
  });

  it("replaces with the resourceVersion that was read and returns the new version", () => {
    const vs = (outcome.replace as { ok: KubeObject }).ok;
    expect([vs.metadata.resourceVersion, vs.spec]).toEqual(["5002", { hosts: ["reviews"], http: [] }]);
  });

  it("turns 404 on replace into a NotFoundError", () => {
    expect(outcome.replaceMissing).toEqual({ error: "NotFoundError", message: expect.stringContaining('"gone" not found') });
  });

  it("sends the resourceVersion as a delete precondition and maps its 409 to a ConflictError", () => {
    expect(outcome.deleteStale).toEqual({ error: "ConflictError", message: expect.stringContaining("Precondition failed: ResourceVersion in precondition: 4000") });
  });

  it("deletes when the precondition holds", () => {
    expect([outcome.delete, vsAfter.map((v) => v.metadata.name)]).toEqual([{ ok: null }, ["reviews"]]);
  });

  it("treats deleting a VirtualService that is already gone as done", () => {
    expect(outcome.deleteMissing).toEqual({ ok: null });
  });

  it("reads a Service as the API returned it", () => {
    const svc = (outcome.getService as { ok: KubeObject }).ok;
    expect([svc.kind, svc.metadata.name, (svc.spec as any).ports[0].port]).toEqual(["Service", "reviews", 9080]);
  });

  it("answers a missing Service with undefined", () => {
    expect(outcome.getServiceMissing).toEqual({ ok: null });
  });

  it("reads a Deployment as the API returned it", () => {
    const dep = (outcome.getDeployment as { ok: KubeObject }).ok;
    expect([dep.kind, dep.metadata.name, (dep.spec as any).template.spec.containers[0].image]).toEqual(["Deployment", "reviews", "reviews:1"]);
  });

  it("answers a missing Deployment with undefined", () => {
    expect(outcome.getDeploymentMissing).toEqual({ ok: null });
  });

  it("applies a JSON Patch and returns the VirtualService as patched", () => {
    const vs = (outcome.patch as { ok: KubeObject }).ok;
    expect([(vs.spec as any).http.map((r: any) => r.name), vs.metadata.resourceVersion]).toEqual([["first"], "5003"]);
  });

  it("sends every patch as application/json-patch+json", () => {
    const patches = api.requests.filter((r) => r.method === "PATCH");
    expect([patches.length, [...new Set(patches.map((r) => r.contentType))]]).toEqual([3, ["application/json-patch+json"]]);
  });

  it("turns the 422 of a patch whose test failed into a PatchRejectedError, and the server changed nothing", () => {
    expect([outcome.patchTestFails, (vsAfter.find((v) => v.metadata.name === "reviews")!.spec as any).http.map((r: any) => r.name)]).toEqual([
      { error: "PatchRejectedError", message: expect.stringContaining("the object changed since it was read (422: the server rejected our request due to an error in our request)") },
      ["first"],
    ]);
  });

  it("turns 404 on patch into a NotFoundError", () => {
    expect(outcome.patchMissing).toEqual({ error: "NotFoundError", message: expect.stringContaining('"gone" not found') });
  });

  it("rejects a context the kubeconfig does not have with one line naming it", async () => {
    await expect(spawnJob({ op: "probe", kubeconfig: api.kubeconfig, context: "staging", steps: [] })).rejects.toThrow(
      'concurrentWriters failed: forkstack:cluster.context: "staging" is not a context of the kubeconfig; use one of ["fake"]',
    );
  }, 60_000);
});

describe("a JSON Patch without tests (an insert) when the API server fails", () => {
  let api: FakeKubeApi;
  let outcomes: StepOutcome[];
  const insert = { call: "patch", namespace: "shop", name: "reviews", ops: [{ op: "add", path: "/spec/http/0", value: { name: "first", route: [{ destination: { host: "reviews" } }] } }] } as const;

  beforeAll(async () => {
    // 1st request: 503 (applied or not, the client cannot tell); 2nd: shed with 429 (surely not applied).
    api = await startFakeKubeApi({ seed: SEED, fault: (n) => (n === 1 ? "503" : n === 2 ? "429" : undefined) });
    outcomes = await spawnJob({ op: "probe", kubeconfig: api.kubeconfig, steps: [insert, insert] as any });
  }, 60_000);

  afterAll(() => api.close());

  it("is not sent again after a 503, and says its outcome is unknown", () => {
    expect(outcomes[0]).toEqual({ error: "UnknownOutcomeError", message: expect.stringContaining("it may or may not have been applied") });
  });

  it("is sent again after a 429, once", () => {
    expect([outcomes[1], api.requests.map((r) => `${r.method} ${r.status}`)]).toEqual([{ ok: expect.anything() }, ["PATCH 503", "PATCH 429", "PATCH 200"]]);
  });
});

describe("a read while the API server is unavailable for a while (a restart)", () => {
  let api: FakeKubeApi;
  let outcomes: StepOutcome[];

  beforeAll(async () => {
    // The first six requests answer 503, as an API server coming back does; the seventh answers.
    api = await startFakeKubeApi({ seed: SEED, fault: (n) => (n <= 6 ? "503" : undefined) });
    outcomes = await spawnJob({ op: "probe", kubeconfig: api.kubeconfig, steps: [{ call: "list", namespace: "shop" }] as any });
  }, 60_000);

  afterAll(() => api.close());

  it("is retried until it answers: seven tries, the last one's answer is the call's", () => {
    expect([outcomes[0], api.requests.map((r) => `${r.method} ${r.status}`)]).toEqual([{ ok: expect.anything() }, ["GET 503", "GET 503", "GET 503", "GET 503", "GET 503", "GET 503", "GET 200"]]);
  });
});

describe("a call that gets no answer within its timeout", () => {
  let api: FakeKubeApi;
  let outcomes: StepOutcome[];
  const guarded = { call: "patch", namespace: "shop", name: "reviews", ops: [{ op: "test", path: "/spec/http/0/name", value: "primary" }, { op: "add", path: "/spec/http/0/timeout", value: "5s" }] } as const;

  beforeAll(async () => {
    // 1: the guarded patch hangs, and is not sent again. 2, 3: the list hangs twice; 4 answers.
    // 5-12: reading the Service hangs every time (8 attempts).
    api = await startFakeKubeApi({ seed: SEED, hang: (n) => n !== 4 });
    outcomes = await spawnJob({
      op: "probe",
      kubeconfig: api.kubeconfig,
      timeouts: { readMs: 300, writeMs: 900 },
      steps: [guarded, { call: "list", namespace: "shop" }, { call: "getService", namespace: "shop", name: "reviews" }] as any,
    });
  }, 60_000);

  afterAll(() => api.close());

  it("is aborted: the client closes the connection, so the server does not go on working on it next to the retry", async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const hung = api.requests.filter((r) => r.status === 0);
    expect([hung.map((r) => r.method).join(" "), hung.every((r) => r.abandoned)]).toEqual(["PATCH GET GET GET GET GET GET GET GET GET GET", true]);
  });

  it("is retried when it is a read, and the retry's answer is the call's", () => {
    expect([outcomes[1], api.requests.slice(1, 4).map((r) => `${r.method} ${r.status}`)]).toEqual([{ ok: expect.anything() }, ["GET 0", "GET 0", "GET 200"]]);
  });

  it("is not sent again when it is a patch, even a guarded one: the caller reads again to see (fork/routeSync.ts)", () => {
    expect(outcomes[0]).toEqual({ error: "UnknownOutcomeError", message: "patching VirtualService shop/reviews: no answer within 0.9 s; it may or may not have been applied" });
  });

  it("waits the read timeout for a read, shorter than a write's", () => {
    expect(outcomes[2]).toEqual({ error: "Error", message: "reading Service shop/reviews: no answer within 0.3 s" });
  });
});

describe("renewing a turn's Lease when the API server does not answer", () => {
  let api: FakeKubeApi;
  let outcomes: StepOutcome[];
  const lease = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "forkstack-routes.reviews", namespace: "shop" }, spec: { holderIdentity: "alice/x1", leaseDurationSeconds: 15 } };

  beforeAll(async () => {
    api = await startFakeKubeApi({ seed: [lease as any], hang: (n) => n === 1 });
    const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: api.leases()[0].metadata.resourceVersion } };
    outcomes = await spawnJob({ op: "probe", kubeconfig: api.kubeconfig, timeouts: { renewMs: 300 }, steps: [{ call: "renewLease", lease: stored }] });
  }, 60_000);

  afterAll(() => api.close());

  it("gives up after renewMs in one attempt and aborts it: a renewal slower than the Lease would get a live holder passed over", async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect([outcomes[0], api.requests.map((r) => `${r.method} ${r.status} ${r.abandoned}`)]).toEqual([
      { error: "Error", message: "renewing Lease shop/forkstack-routes.reviews: no answer within 0.3 s" },
      ["PUT 0 true"],
    ]);
  });
});
