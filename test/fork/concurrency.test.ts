/**
 * Acceptance: forks deploying at the same time do not erase each other's routes.
 *
 * Twenty forks run applyClaim at once against a fake API server over real HTTP, through the real
 * client-node adapter, then releaseClaim at once. The writers run in a child `node` process
 * (test/helpers/concurrentWriters.ts): client-node 2.x is ESM-only and Jest's CommonJS vm cannot
 * `import()` it. The server stays in this process, so the assertions read its final state and
 * count the 409s it answered.
 */
import * as YAML from "yaml";
import type { ForkRouteClaim } from "../../components/fork/routes";
import { isForkRoute, LABELS, serviceFqdn } from "../../components/naming";
import type { KubeObject } from "../../render/cluster";
import { spawnJob, stopJobWorker } from "../helpers/concurrentWriters";
import { FakeKubeApi, startFakeKubeApi } from "../helpers/fakeKubeApi";
import { validateAgainstSchema } from "../helpers/schemas";
const ADOPTED = YAML.parse(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
  resourceVersion: "4242"
  uid: 6f1c3a2e-0000-4000-8000-000000000001
  generation: 3
  creationTimestamp: "2026-01-10T09:00:00Z"
  labels: { team: books }
spec:
  hosts: [reviews]
  gateways: [mesh]
  http:
    - name: primary
      timeout: 5s
      retries: { attempts: 2, perTryTimeout: 2s }
      route:
        - destination: { host: reviews, subset: v1 }
          weight: 90
        - destination: { host: reviews, subset: v2 }
          weight: 10
`) as KubeObject;

const FORKS = Array.from({ length: 20 }, (_, i) => `dev${String(i + 1).padStart(2, "0")}`);

function claims(service: string): ForkRouteClaim[] {
  return FORKS.map((forkId) => ({ forkId, headerName: "x-fork-identifier", service: { name: service, namespace: "shop" }, targetHost: serviceFqdn(`${service}-${forkId}`, "shop") }));
}

function routeNames(vs: KubeObject): string[] {
  return ((vs.spec as any).http ?? []).map((r: { name?: string }) => r.name);
}

type Outcome = { ok: unknown } | { error: string; message: string };
const failures = (outcomes: Outcome[]) => outcomes.filter((o) => "error" in o);

afterAll(() => stopJobWorker());

describe("twenty forks writing one new VirtualService at once", () => {
  let api: FakeKubeApi;
  let applied: Outcome[];
  let afterApply: KubeObject[];
  let conflictsDuringApply: number;
  let released: Outcome[];

  beforeAll(async () => {
    api = await startFakeKubeApi();
    applied = await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: claims("api") });
    afterApply = api.virtualServices();
    conflictsDuringApply = api.conflicts();
    released = await spawnJob({ op: "release", kubeconfig: api.kubeconfig, claims: claims("api") });
  }, 120_000);

  afterAll(() => api.close());

  it("succeeds for every fork", () => {
    expect(failures(applied)).toEqual([]);
  });

  it("leaves one VirtualService, created by forkstack", () => {
    expect(afterApply.map((v) => [v.metadata.namespace, v.metadata.annotations?.[LABELS.createdBy] !== undefined])).toEqual([["shop", true]]);
  });

  it("holds every fork's route exactly once", () => {
    const forkRoutes = routeNames(afterApply[0]).filter(isForkRoute);
    expect([...forkRoutes].sort()).toEqual(FORKS.map((f) => `forkstack-${f}`));
  });

  it("validates against the Istio schema", () => {
    expect(() => validateAgainstSchema(afterApply[0])).not.toThrow();
  });

  it("actually retried lost races (the server answered 409)", () => {
    expect(conflictsDuringApply).toBeGreaterThan(0);
  });

  it("releases every fork without error", () => {
    expect(failures(released)).toEqual([]);
  });

  it("deletes the VirtualService it created once the last fork left", () => {
    expect(api.virtualServices()).toEqual([]);
  });
});

describe("twenty forks writing an app team's VirtualService at once", () => {
  let api: FakeKubeApi;
  let applied: Outcome[];
  let afterApply: KubeObject[];
  let refusedDuringApply: number;
  let churned: Outcome[];
  let afterChurn: KubeObject[];
  let refusedDuringChurn: number;
  let released: Outcome[];
  const retargeted = () => claims("reviews").map((c) => ({ ...c, targetHost: serviceFqdn(`reviews-${c.forkId}-v2`, "shop") }));
  const refused = () => api.conflicts() + api.rejectedPatches();

  beforeAll(async () => {
    api = await startFakeKubeApi({ seed: [ADOPTED] });
    applied = await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: claims("reviews") });
    afterApply = api.virtualServices();
    refusedDuringApply = refused();
    churned = await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: retargeted() });
    afterChurn = api.virtualServices();
    refusedDuringChurn = refused() - refusedDuringApply;
    released = await spawnJob({ op: "release", kubeconfig: api.kubeconfig, claims: claims("reviews") });
  }, 120_000);

  afterAll(() => api.close());

  it("adds every fork's route exactly once and keeps the team's route", () => {
    expect([applied.filter((o) => "error" in o), afterApply.length, [...routeNames(afterApply[0])].sort()]).toEqual([
      [],
      1,
      [...FORKS.map((f) => `forkstack-${f}`), "primary"].sort(),
    ]);
  });

  it("adds them with JSON Patches the server never refused (no 409, no 422)", () => {
    expect(refusedDuringApply).toBe(0);
  });

  it("sends every patch as application/json-patch+json", () => {
    expect([...new Set(api.requests.filter((r) => r.method === "PATCH").map((r) => r.contentType))]).toEqual(["application/json-patch+json"]);
  });

  it("changes every fork's route at once in place: each once, pointing at its new copy, none refused", () => {
    const forkRoutes = (afterChurn[0].spec as any).http.filter((r: any) => isForkRoute(r.name));
    expect([churned.filter((o) => "error" in o), forkRoutes.length, forkRoutes.filter((r: any) => r.route[0].destination.host.includes("-v2.")).length, refusedDuringChurn]).toEqual([[], 20, 20, 0]);
  });

  it("leaves the team's route byte for byte as it was while forks are in it", () => {
    const team = (vs: KubeObject) => JSON.stringify((vs.spec as any).http.find((r: any) => r.name === "primary"));
    expect(team(afterChurn[0])).toBe(JSON.stringify((ADOPTED.spec as any).http[0]));
  });

  it("releases every fork without error", () => {
    expect(failures(released)).toEqual([]);
  });

  it("restores the team's VirtualService to its original spec, labels and identity", () => {
    const [vs] = api.virtualServices();
    expect([vs.spec, vs.metadata.labels, vs.metadata.uid, vs.metadata.annotations?.[LABELS.createdBy]]).toEqual([ADOPTED.spec, ADOPTED.metadata.labels, ADOPTED.metadata.uid, undefined]);
  });
});

describe("twenty forks at once while the API server sheds every 10th request (429), fails every 13th (503) and resets every 17th, never the same request twice", () => {
  let api: FakeKubeApi;
  let applied: Outcome[];
  let afterApply: KubeObject[];

  beforeAll(async () => {
    // About one request in five is faulted (0.22). Were a retry as likely to be faulted as a first
    // try, a request would use up its 5 attempts (kube/retry.ts) with probability 0.22^5 ≈ 5e-4,
    // and the few hundred requests of this run made that a failure now and then, more often on a
    // loaded machine. A request the server has faulted once (same method, path and body) gets through,
    // so the test checks that every kind of fault is recovered from, not the odds of six in a row.
    const faulted = new Set<string>();
    api = await startFakeKubeApi({
      fault: (n, { method, path, body }) => {
        const key = `${method} ${path} ${body}`;
        const fault = faulted.has(key) ? undefined : n % 17 === 0 ? "reset" : n % 13 === 0 ? "503" : n % 10 === 0 ? "429" : undefined;
        if (fault !== undefined) faulted.add(key);
        return fault;
      },
    });
    applied = await spawnJob({ op: "apply", kubeconfig: api.kubeconfig, claims: claims("api") });
    afterApply = api.virtualServices();
  }, 120_000);

  afterAll(() => api.close());

  it("succeeds for every fork", () => {
    expect(failures(applied)).toEqual([]);
  });

  it("holds every fork's route exactly once", () => {
    expect(routeNames(afterApply[0]).filter(isForkRoute).sort()).toEqual(FORKS.map((f) => `forkstack-${f}`));
  });

  it("met every kind of fault (the test injected them)", () => {
    expect([429, 503, 0].map((code) => api.requests.some((r) => r.status === code))).toEqual([true, true, true]);
  });
});
