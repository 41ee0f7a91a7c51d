/**
 * The read-modify-write loop over the simulated cluster (the same optimistic-concurrency rules as
 * the API server): lost races are retried with backoff, other errors are not, and releasing leaves
 * what others own.
 */
import * as YAML from "yaml";
import { addRoutesWrite } from "../../components/fork/routePatch";
import { applyClaim, ConflictRetriesExhaustedError, releaseClaim, routeDrift, sweepGoneForks, SyncOptions } from "../../components/fork/routeSync";
import type { ForkRouteClaim, VirtualService } from "../../components/fork/routes";
import type { JsonPatchOp } from "../../components/kube/jsonPatch";
import { ConflictError, NotFoundError, UnknownOutcomeError, VirtualServiceApi } from "../../components/kube/vsApi";
import { isForkRoute, LABELS, serviceFqdn } from "../../components/naming";
import { KubeObject, SimulatedCluster } from "../../render/cluster";
import { simulatedAccess } from "../../render/simulatedApi";
import { validateAgainstSchema } from "../helpers/schemas";

const ADOPTED = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
  resourceVersion: "4242"
  generation: 3
spec:
  hosts: [reviews]
  http:
    - name: primary
      timeout: 5s
      route:
        - destination: { host: reviews, subset: v1 }
`;

function claim(forkId: string, service = "api"): ForkRouteClaim {
  return { forkId, headerName: "x-fork-identifier", service: { name: service, namespace: "shop" }, targetHost: serviceFqdn(`${service}-${forkId}`, "shop") };
}

/** Fork route names of a VirtualService, in order. */
function forkRoutes(vs: KubeObject | undefined): string[] {
  return ((vs?.spec as any)?.http ?? []).map((r: { name?: string }) => r.name).filter(isForkRoute);
}

/** Records every call to an api, and lets a test run something just before a given call. */
function recording(api: VirtualServiceApi, before: Partial<Record<keyof VirtualServiceApi, (n: number) => Promise<void>>> = {}) {
  const calls: string[] = [];
  const wrap =
    <K extends keyof VirtualServiceApi>(k: K) =>
    async (...args: any[]): Promise<any> => {
      calls.push(k);
      await before[k]?.(calls.filter((c) => c === k).length);
      return (api[k] as (...a: any[]) => Promise<any>)(...args);
    };
  const wrapped: VirtualServiceApi = { list: wrap("list"), listAll: wrap("listAll"), create: wrap("create"), replace: wrap("replace"), patch: wrap("patch"), delete: wrap("delete") };
  return { api: wrapped, calls };
}

const opsOf = (w: { kind: string; ops?: JsonPatchOp[] }): JsonPatchOp[] => w.ops ?? fail(`expected a patch, got ${w.kind}`);
const noWait: SyncOptions = { sleep: async () => undefined };

/** A simulated cluster where these forks added their routes to Service shop/api, in this order. */
async function withForks(...forks: string[]) {
  const cluster = new SimulatedCluster();
  const inner = simulatedAccess(cluster).virtualServices;
  for (const f of forks) await applyClaim(inner, claim(f), noWait);
  return { cluster, inner };
}

/** What client-node's adapter throws when the API server has no networking.istio.io/v1 (Istio's CRDs missing): a 404 with a plain-text body. */
const crdMissing = () => Promise.reject(new NotFoundError("listing VirtualServices in all namespaces: 404 page not found\n"));
const vsOf = (cluster: SimulatedCluster) => cluster.list("networking.istio.io/v1", "VirtualService");

describe("applyClaim", () => {
  it("creates a VirtualService carrying the fork's route when the Service has none", async () => {
    const cluster = new SimulatedCluster();
    const vs = await applyClaim(simulatedAccess(cluster).virtualServices, claim("alice"), noWait);
    expect([vs.metadata.namespace, forkRoutes(vs), vs.metadata.annotations?.[LABELS.createdBy] !== undefined]).toEqual(["shop", ["forkstack-alice"], true]);
  });

  it("writes a VirtualService that validates against the Istio schema", async () => {
    const cluster = new SimulatedCluster();
    await applyClaim(simulatedAccess(cluster).virtualServices, claim("alice"), noWait);
    expect(() => validateAgainstSchema(vsOf(cluster)[0])).not.toThrow();
  });

  it("adds a second fork's route to the VirtualService the first one created", async () => {
    const cluster = new SimulatedCluster();
    const api = simulatedAccess(cluster).virtualServices;
    await applyClaim(api, claim("alice"), noWait);
    await applyClaim(api, claim("bob"), noWait);
    expect(vsOf(cluster).map((v) => forkRoutes(v).sort())).toEqual([["forkstack-alice", "forkstack-bob"]]);
  });

  it("inserts its route without conflicting when another fork added one between its read and its write", async () => {
    const cluster = new SimulatedCluster();
    cluster.seedYaml(ADOPTED);
    const inner = simulatedAccess(cluster).virtualServices;
    const { api, calls } = recording(inner, {
      // bob's whole update lands after alice read, before alice writes.
      patch: async (n) => {
        if (n === 1) await applyClaim(inner, claim("bob", "reviews"), noWait);
      },
    });
    await applyClaim(api, claim("alice", "reviews"), noWait);
    expect([calls, forkRoutes(vsOf(cluster)[0]).sort()]).toEqual([["listAll", "patch"], ["forkstack-alice", "forkstack-bob"]]);
  });

  it("re-reads and retries when a route above the one it changes moved between its read and its write, keeping both", async () => {
    const cluster = new SimulatedCluster();
    cluster.seedYaml(ADOPTED);
    const inner = simulatedAccess(cluster).virtualServices;
    await applyClaim(inner, claim("alice", "reviews"), noWait);
    const { api, calls } = recording(inner, {
      // bob inserts at the top after alice read: alice's route is no longer at the index she tests.
      patch: async (n) => {
        if (n === 1) await applyClaim(inner, claim("bob", "reviews"), noWait);
      },
    });
    await applyClaim(api, { ...claim("alice", "reviews"), targetHost: serviceFqdn("reviews-alice-2", "shop") }, noWait);
    const http = (vsOf(cluster)[0].spec as any).http;
    expect([calls, http.map((r: any) => r.name), http[1].route[0].destination.host]).toEqual([
      ["listAll", "patch", "listAll", "patch"],
      ["forkstack-bob", "forkstack-alice", "primary"],
      serviceFqdn("reviews-alice-2", "shop"),
    ]);
  });

  it("re-reads and creates when the VirtualService was deleted between its read and its write", async () => {
    const cluster = new SimulatedCluster();
    const inner = simulatedAccess(cluster).virtualServices;
    await applyClaim(inner, claim("bob"), noWait);
    const { api, calls } = recording(inner, {
      patch: async (n) => {
        if (n === 1) await releaseClaim(inner, claim("bob"), noWait);
      },
    });
    await applyClaim(api, claim("alice"), noWait);
    expect([calls, vsOf(cluster).map(forkRoutes)]).toEqual([["listAll", "patch", "listAll", "create"], [["forkstack-alice"]]]);
  });

  it("retries a write whose outcome was unknown by reading again, and does not add the route twice", async () => {
    const cluster = new SimulatedCluster();
    cluster.seedYaml(ADOPTED);
    const inner = simulatedAccess(cluster).virtualServices;
    // The first patch is applied, but its answer is lost (a timeout, a reset connection).
    let lost = false;
    const api: VirtualServiceApi = {
      ...inner,
      patch: async (...args) => {
        const out = await inner.patch(...args);
        if (lost) return out;
        lost = true;
        throw new UnknownOutcomeError("patching VirtualService shop/reviews: socket hang up; it may or may not have been applied");
      },
    };
    await applyClaim(api, claim("alice", "reviews"), noWait);
    expect(forkRoutes(vsOf(cluster)[0])).toEqual(["forkstack-alice"]);
  });

  it("waits a random share of a ceiling that doubles per attempt up to the cap", async () => {
    const waits: number[] = [];
    const always409: VirtualServiceApi = { ...simulatedAccess(new SimulatedCluster()).virtualServices, create: async () => Promise.reject(new ConflictError("taken")) };
    const opts: SyncOptions = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 300, random: () => 0.5, sleep: async (ms) => void waits.push(ms) };
    await expect(applyClaim(always409, claim("alice"), opts)).rejects.toThrow(ConflictRetriesExhaustedError);
    expect(waits).toEqual([50, 100, 150, 150]);
  });

  it("after a write that went unanswered for a while, waits a random share of at least that long", async () => {
    const waits: number[] = [];
    const cluster = new SimulatedCluster();
    cluster.seedYaml(ADOPTED);
    const inner = simulatedAccess(cluster).virtualServices;
    // The first patch gets no answer for 120 ms (and is not applied), the second is answered.
    let unanswered = 0;
    const api: VirtualServiceApi = {
      ...inner,
      patch: async (...args) => {
        if (unanswered++ > 0) return inner.patch(...args);
        await new Promise((resolve) => setTimeout(resolve, 120));
        throw new UnknownOutcomeError("patching VirtualService shop/reviews: no answer within 70 s; it may or may not have been applied");
      },
    };
    await applyClaim(api, claim("alice", "reviews"), { baseDelayMs: 10, maxDelayMs: 20, random: () => 0.5, sleep: async (ms) => void waits.push(ms) });
    expect([forkRoutes(vsOf(cluster)[0]), waits.length, waits[0] >= 60 && waits[0] < 120]).toEqual([["forkstack-alice"], 1, true]);
  });

  it("gives up after the maximum attempts with one line naming the fork, the Service and what to do", async () => {
    const always409: VirtualServiceApi = { ...simulatedAccess(new SimulatedCluster()).virtualServices, create: async () => Promise.reject(new ConflictError("taken")) };
    await expect(applyClaim(always409, claim("alice"), { ...noWait, maxAttempts: 3 })).rejects.toThrow(
      'adding routes of fork "alice" for Service shop/api: gave up after 3 attempts, every write conflicted with a concurrent change (last: taken); run the update again',
    );
  });

  it("makes exactly the maximum number of attempts by default", async () => {
    const { api, calls } = recording({ ...simulatedAccess(new SimulatedCluster()).virtualServices, create: async () => Promise.reject(new ConflictError("taken")) });
    await expect(applyClaim(api, claim("alice"), noWait)).rejects.toThrow("gave up after 10 attempts");
    expect(calls.filter((c) => c === "create")).toHaveLength(10);
  });

  it("does not retry an error that is not a conflict", async () => {
    const { api, calls } = recording({ ...simulatedAccess(new SimulatedCluster()).virtualServices, create: async () => Promise.reject(new Error("forbidden")) });
    await expect(applyClaim(api, claim("alice"), noWait)).rejects.toThrow("forbidden");
    expect(calls).toEqual(["listAll", "create"]);
  });

  it("fails at once with one line asking whether Istio is installed when listing VirtualServices answers 404", async () => {
    const { api, calls } = recording({ ...simulatedAccess(new SimulatedCluster()).virtualServices, listAll: crdMissing });
    await expect(applyClaim(api, claim("alice"), noWait)).rejects.toThrow(
      new Error(
        'adding routes of fork "alice" for Service shop/api: the cluster does not serve networking.istio.io/v1 VirtualServices (listing VirtualServices in all namespaces: 404 page not found); install Istio (its CRDs) in the cluster, or check that forkstack:cluster points at the cluster that runs it',
      ),
    );
    expect(calls).toEqual(["listAll"]);
  });

  it("fails at once when creating the VirtualService answers 404, naming the namespace", async () => {
    const { api, calls } = recording({
      ...simulatedAccess(new SimulatedCluster()).virtualServices,
      create: async () => Promise.reject(new NotFoundError('namespaces "shop" not found')),
    });
    await expect(applyClaim(api, claim("alice"), noWait)).rejects.toThrow(
      new Error(
        'adding routes of fork "alice" for Service shop/api: creating VirtualService shop/forkstack-api answered 404 Not Found (namespaces "shop" not found); check that namespace shop exists and that the cluster serves networking.istio.io/v1 VirtualServices (is Istio installed?)',
      ),
    );
    expect(calls).toEqual(["listAll", "create"]);
  });

  it("lets twenty forks writing at once all keep their route", async () => {
    const cluster = new SimulatedCluster();
    const api = simulatedAccess(cluster).virtualServices;
    const ids = Array.from({ length: 20 }, (_, i) => `fork${i}`);
    await Promise.all(ids.map((id) => applyClaim(api, claim(id), { ...noWait, maxAttempts: 50 })));
    expect(vsOf(cluster).map((v) => forkRoutes(v).sort())).toEqual([ids.map((id) => `forkstack-${id}`).sort()]);
  });
});

describe("releaseClaim", () => {
  it("is a no-op for a fork that has no routes in the VirtualService", async () => {
    const cluster = new SimulatedCluster();
    cluster.seedYaml(ADOPTED);
    const { api, calls } = recording(simulatedAccess(cluster).virtualServices);
    const left = await releaseClaim(api, claim("alice", "reviews"), noWait);
    expect([calls, left?.metadata.resourceVersion, vsOf(cluster)[0].metadata.resourceVersion]).toEqual([["listAll"], "4242", "4242"]);
  });

  it("resolves to undefined without writing when the Service has no VirtualService", async () => {
    const { api, calls } = recording(simulatedAccess(new SimulatedCluster()).virtualServices);
    expect([await releaseClaim(api, claim("alice"), noWait), calls]).toEqual([undefined, ["listAll"]]);
  });

  it("deletes the VirtualService forkstack created when its last fork leaves", async () => {
    const cluster = new SimulatedCluster();
    const api = simulatedAccess(cluster).virtualServices;
    await applyClaim(api, claim("alice"), noWait);
    expect([await releaseClaim(api, claim("alice"), noWait), vsOf(cluster)]).toEqual([undefined, []]);
  });

  it("keeps a created VirtualService while another fork still has routes in it", async () => {
    const cluster = new SimulatedCluster();
    const api = simulatedAccess(cluster).virtualServices;
    await applyClaim(api, claim("alice"), noWait);
    await applyClaim(api, claim("bob"), noWait);
    const left = await releaseClaim(api, claim("alice"), noWait);
    expect([forkRoutes(left), vsOf(cluster).map(forkRoutes)]).toEqual([["forkstack-bob"], [["forkstack-bob"]]]);
  });

  it("restores an adopted VirtualService to its original spec", async () => {
    const cluster = new SimulatedCluster();
    cluster.seedYaml(ADOPTED);
    const api = simulatedAccess(cluster).virtualServices;
    await applyClaim(api, claim("alice", "reviews"), noWait);
    await releaseClaim(api, claim("alice", "reviews"), noWait);
    expect(vsOf(cluster).map((v) => v.spec)).toEqual([YAML.parse(ADOPTED).spec]);
  });

  it("does not delete a VirtualService another fork wrote to after the read (the delete precondition fails and it re-reads)", async () => {
    const cluster = new SimulatedCluster();
    const inner = simulatedAccess(cluster).virtualServices;
    await applyClaim(inner, claim("alice"), noWait);
    const { api, calls } = recording(inner, {
      delete: async (n) => {
        if (n === 1) await applyClaim(inner, claim("bob"), noWait);
      },
    });
    await releaseClaim(api, claim("alice"), noWait);
    // With bob's route there, alice retires her route (one patch), then removes it (another).
    expect([calls, vsOf(cluster).map(forkRoutes)]).toEqual([["listAll", "delete", "listAll", "patch", "patch"], [["forkstack-bob"]]]);
  });

  it("deletes the VirtualService it created when the last two forks leave at once, each having read the other's route", async () => {
    const { cluster, inner } = await withForks("bob", "alice");
    const { api, calls } = recording(inner, {
      // bob leaves after alice read [alice, bob, default] and before her patch: neither saw itself last.
      patch: async (n) => {
        if (n === 1) await releaseClaim(inner, claim("bob"), noWait);
      },
    });
    await releaseClaim(api, claim("alice"), noWait);
    expect([calls, vsOf(cluster)]).toEqual([["listAll", "patch", "delete"], []]);
  });

  it("retires its route next to a live fork and removes it in a second patch, reading once", async () => {
    const { cluster, inner } = await withForks("bob", "alice");
    const { api, calls } = recording(inner);
    await releaseClaim(api, claim("alice"), noWait);
    expect([calls, vsOf(cluster).map(forkRoutes)]).toEqual([["listAll", "patch", "patch"], [["forkstack-bob"]]]);
  });

  it("does not read again when its removal of retired routes is rejected; the next fork's add takes the retired route with it", async () => {
    const { cluster, inner } = await withForks("bob", "alice");
    const { api, calls } = recording(inner, {
      // carol's insert lands between alice's rename and alice's removal (before carol's own sweep
      // would): the removal's tests fail.
      patch: async (n) => {
        const vs = vsOf(cluster)[0] as VirtualService;
        if (n === 2) await inner.patch("shop", vs.metadata.name, opsOf(addRoutesWrite(vs, claim("carol"))));
      },
    });
    await releaseClaim(api, claim("alice"), noWait);
    const afterRelease = vsOf(cluster).map(forkRoutes);
    await applyClaim(inner, claim("dave"), noWait);
    expect([calls, afterRelease, vsOf(cluster).map(forkRoutes)]).toEqual([
      ["listAll", "patch", "patch"],
      [["forkstack-carol", "forkstack-alice--gone", "forkstack-bob"]],
      [["forkstack-dave", "forkstack-carol", "forkstack-bob"]],
    ]);
  });

  it("as the last fork with a live route, removes the retired routes others left and deletes the VirtualService forkstack created", async () => {
    const { cluster, inner } = await withForks("bob", "alice");
    await applyClaim(inner, claim("carol"), noWait);
    // Both removals of retired routes are rejected (as by concurrent writes), so both stay.
    const rejectingRemovals: VirtualServiceApi = { ...inner, patch: (ns, name, ops) => (ops.some((o) => o.op === "remove") ? Promise.reject(new ConflictError("rejected")) : inner.patch(ns, name, ops)) };
    await releaseClaim(rejectingRemovals, claim("alice"), noWait);
    await releaseClaim(rejectingRemovals, claim("carol"), noWait);
    const retiredLeft = vsOf(cluster).map(forkRoutes);
    await releaseClaim(inner, claim("bob"), noWait);
    expect([retiredLeft, vsOf(cluster)]).toEqual([[["forkstack-carol--gone", "forkstack-alice--gone", "forkstack-bob"]], []]);
  });

  it("retries a rejected patch whose error is a copy of PatchRejectedError, not an instance (the serialized provider's case)", async () => {
    const cluster = new SimulatedCluster();
    cluster.seedYaml(ADOPTED);
    const inner = simulatedAccess(cluster).virtualServices;
    await applyClaim(inner, claim("alice", "reviews"), noWait);
    await applyClaim(inner, claim("bob", "reviews"), noWait);
    // What the e2e tier saw: in ForkRoutes' serialized closure the error the client-node adapter
    // throws and the class routeSync checks against are different objects, so instanceof fails.
    class PatchRejectedError {
      name = "PatchRejectedError";
      constructor(public message: string) {}
    }
    let rejected = 0;
    const api: VirtualServiceApi = {
      ...inner,
      patch: async (...args) => {
        if (rejected++ === 0) throw new PatchRejectedError("patching VirtualService shop/reviews: the object changed since it was read (422)");
        return inner.patch(...args);
      },
    };
    await releaseClaim(api, claim("bob", "reviews"), noWait);
    expect(rejected).toBeGreaterThan(1);
    expect(forkRoutes(vsOf(cluster)[0])).toEqual(["forkstack-alice"]);
  });

  it("fails at once when listing VirtualServices answers 404", async () => {
    const { api, calls } = recording({ ...simulatedAccess(new SimulatedCluster()).virtualServices, listAll: crdMissing });
    await expect(releaseClaim(api, claim("alice"), noWait)).rejects.toThrow(/^removing routes of fork "alice" for Service shop\/api: the cluster does not serve networking\.istio\.io\/v1 VirtualServices/);
    expect(calls).toEqual(["listAll"]);
  });

  it("names the fork and the Service when it gives up", async () => {
    const cluster = new SimulatedCluster();
    const inner = simulatedAccess(cluster).virtualServices;
    await applyClaim(inner, claim("alice"), noWait);
    const api: VirtualServiceApi = { ...inner, delete: async () => Promise.reject(new ConflictError("precondition failed")) };
    await expect(releaseClaim(api, claim("alice"), { ...noWait, maxAttempts: 2 })).rejects.toThrow('removing routes of fork "alice" for Service shop/api: gave up after 2 attempts');
  });
});

describe("an app team (re)creating its VirtualService next to one forkstack created", () => {
  const opsOf = (w: { kind: string; ops?: JsonPatchOp[] }): JsonPatchOp[] => w.ops ?? fail(`expected a patch, got ${w.kind}`);
const noWait: SyncOptions = { sleep: async () => undefined };
  const appVs = (): KubeObject => ({
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "api", namespace: "shop" },
    spec: { hosts: ["api"], http: [{ name: "app-default", timeout: "3s", route: [{ destination: { host: "api" } }] }] },
  });
  const vsNames = (cluster: SimulatedCluster) => cluster.list("networking.istio.io/v1", "VirtualService").map((v) => v.metadata.name).sort();

  async function setup() {
    const cluster = new SimulatedCluster();
    const api = simulatedAccess(cluster).virtualServices;
    await applyClaim(api, claim("alice"), noWait);
    await applyClaim(api, claim("bob"), noWait);
    cluster.put(appVs());
    return { cluster, api };
  }

  it("moves a fork's routes into the app's VirtualService on its next update", async () => {
    const { cluster, api } = await setup();
    await applyClaim(api, claim("alice"), noWait);
    expect(forkRoutes(cluster.get("networking.istio.io/v1", "VirtualService", "shop", "api"))).toEqual(["forkstack-alice"]);
  });

  it("keeps forkstack's VirtualService while another fork's route is still in it", async () => {
    const { cluster, api } = await setup();
    await applyClaim(api, claim("alice"), noWait);
    expect(forkRoutes(cluster.get("networking.istio.io/v1", "VirtualService", "shop", "forkstack-api"))).toEqual(["forkstack-bob"]);
  });

  it("deletes forkstack's VirtualService once the last fork moved out, leaving the host covered once", async () => {
    const { cluster, api } = await setup();
    await applyClaim(api, claim("alice"), noWait);
    await applyClaim(api, claim("bob"), noWait);
    expect(vsNames(cluster)).toEqual(["api"]);
  });

  it("reports a fork whose routes are still in forkstack's VirtualService as missing from the app's", async () => {
    const { api } = await setup();
    expect((await routeDrift(api, claim("bob"))).drift).toBe("missing");
  });

  it("reports a fork as in sync once its routes moved and the stale VirtualService is gone", async () => {
    const { api } = await setup();
    await applyClaim(api, claim("alice"), noWait);
    await applyClaim(api, claim("bob"), noWait);
    expect((await routeDrift(api, claim("alice"))).drift).toBe("in-sync");
  });

  it("reports a fork as changed while a copy of its routes is left in forkstack's VirtualService", async () => {
    const { cluster, api } = await setup();
    // The app's VirtualService already holds alice's routes (a move that stopped half-way).
    const { addForkRoutes } = require("../../components/fork/routes") as typeof import("../../components/fork/routes");
    cluster.put(addForkRoutes(cluster.get("networking.istio.io/v1", "VirtualService", "shop", "api")!, claim("alice")));
    expect((await routeDrift(api, claim("alice"))).drift).toBe("changed");
  });

  it("takes a leaving fork's route out of both", async () => {
    const { cluster, api } = await setup();
    await applyClaim(api, claim("alice"), noWait);
    await releaseClaim(api, claim("bob"), noWait);
    expect([vsNames(cluster), forkRoutes(cluster.get("networking.istio.io/v1", "VirtualService", "shop", "api"))]).toEqual([["api"], ["forkstack-alice"]]);
  });
});

describe("routes a fork left retired", () => {
  const rejectingRemovals = (inner: VirtualServiceApi, only?: string): VirtualServiceApi => ({
    ...inner,
    patch: (ns, name, ops) => ((only === undefined || name === only) && ops.some((o) => o.op === "remove") ? Promise.reject(new ConflictError("rejected")) : inner.patch(ns, name, ops)),
  });

  it("reports a fork that left, its retired route still there, as missing, not changed", async () => {
    const { cluster, inner } = await withForks("bob", "alice");
    await releaseClaim(rejectingRemovals(inner), claim("alice"), noWait);
    expect([vsOf(cluster).map(forkRoutes), (await routeDrift(inner, claim("alice"))).drift]).toEqual([[["forkstack-alice--gone", "forkstack-bob"]], "missing"]);
  });

  it("reports a fork in sync after it moved into the app's new VirtualService, leaving a retired route in forkstack's (found in review)", async () => {
    const { cluster, inner } = await withForks("alice", "bob");
    cluster.put({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "api", namespace: "shop" }, spec: { hosts: ["api"], http: [{ name: "app-default", route: [{ destination: { host: "api" } }] }] } });
    // Its removal of the retired route in forkstack-api is rejected, as by a concurrent write there.
    await applyClaim(rejectingRemovals(inner, "forkstack-api"), claim("alice"), noWait);
    expect([vsOf(cluster).map((v) => [v.metadata.name, forkRoutes(v)]), (await routeDrift(inner, claim("alice"))).drift]).toEqual([
      [
        ["forkstack-api", ["forkstack-bob", "forkstack-alice--gone"]],
        ["api", ["forkstack-alice"]],
      ],
      "in-sync",
    ]);
  });

  it("on a tcp-only VirtualService, retires one fork's route next to another's and gives the app its spec back when the last leaves", async () => {
    const cluster = new SimulatedCluster();
    const tcpOnly = { apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "api", namespace: "shop" }, spec: { hosts: ["api"], tcp: [{ route: [{ destination: { host: "api" } }] }] } };
    cluster.put(tcpOnly);
    const inner = simulatedAccess(cluster).virtualServices;
    await applyClaim(inner, claim("alice"), noWait);
    await applyClaim(inner, claim("bob"), noWait);
    await releaseClaim(rejectingRemovals(inner), claim("alice"), noWait);
    const mid = vsOf(cluster).map(forkRoutes);
    await releaseClaim(inner, claim("bob"), noWait);
    expect([mid, vsOf(cluster).map((v) => v.spec)]).toEqual([[["forkstack-bob", "forkstack-alice--gone"]], [tcpOnly.spec]]);
  });

  it("succeeds in adding a fork whose removal of retired routes gets no answer (a busy server), leaving them for later", async () => {
    const { cluster, inner } = await withForks("bob", "alice");
    await releaseClaim(rejectingRemovals(inner), claim("alice"), noWait);
    const noAnswer: VirtualServiceApi = {
      ...inner,
      patch: (ns, name, ops) => (ops.some((o) => o.op === "remove") ? Promise.reject(new Error(`patching VirtualService ${ns}/${name}: no answer within 30 s`)) : inner.patch(ns, name, ops)),
    };
    await applyClaim(noAnswer, claim("carol"), noWait);
    expect(vsOf(cluster).map(forkRoutes)).toEqual([["forkstack-carol", "forkstack-alice--gone", "forkstack-bob"]]);
  });

  it("takes a fork's own retired route back when it is created again under the same id, leaving it with exactly its live route", async () => {
    const { cluster, inner } = await withForks("bob", "alice");
    await releaseClaim(rejectingRemovals(inner), claim("alice"), noWait);
    await applyClaim(inner, claim("alice"), noWait);
    expect([vsOf(cluster).map(forkRoutes), (await routeDrift(inner, claim("alice"))).drift]).toEqual([[["forkstack-alice", "forkstack-bob"]], "in-sync"]);
  });
});

describe("sweepGoneForks (forkctl gc): retired routes of forks whose stacks are gone", () => {
  const header = "x-fork-identifier";
  const rejectingRemovals = (inner: VirtualServiceApi): VirtualServiceApi => ({
    ...inner,
    patch: (ns, name, ops) => (ops.some((o) => o.op === "remove") ? Promise.reject(new ConflictError("rejected")) : inner.patch(ns, name, ops)),
  });
  /** Forks bob, alice and carol on shop/api and shop/cart; alice and carol left both, their removals rejected. */
  async function leftBehind() {
    const cluster = new SimulatedCluster();
    const inner = simulatedAccess(cluster).virtualServices;
    for (const f of ["bob", "alice", "carol"]) for (const svc of ["api", "cart"]) await applyClaim(inner, claim(f, svc), noWait);
    for (const f of ["alice", "carol"]) for (const svc of ["api", "cart"]) await releaseClaim(rejectingRemovals(inner), claim(f, svc), noWait);
    return { cluster, inner };
  }
  const routesByVs = (cluster: SimulatedCluster) => Object.fromEntries(vsOf(cluster).map((v) => [v.metadata.name, forkRoutes(v)]));

  it("removes the gone forks' retired routes everywhere and leaves live routes and the retired routes of forks that still have a stack", async () => {
    const { cluster, inner } = await leftBehind();
    const before = routesByVs(cluster);
    const result = await sweepGoneForks(inner, header, (id) => id !== "carol", noWait);
    expect([before, result, routesByVs(cluster)]).toEqual([
      { "forkstack-api": ["forkstack-carol--gone", "forkstack-alice--gone", "forkstack-bob"], "forkstack-cart": ["forkstack-carol--gone", "forkstack-alice--gone", "forkstack-bob"] },
      {
        swept: [
          { virtualService: "shop/forkstack-api", routes: ["forkstack-alice--gone"] },
          { virtualService: "shop/forkstack-cart", routes: ["forkstack-alice--gone"] },
        ],
        failed: [],
      },
      { "forkstack-api": ["forkstack-carol--gone", "forkstack-bob"], "forkstack-cart": ["forkstack-carol--gone", "forkstack-bob"] },
    ]);
  });

  it("with dryRun says the same and writes nothing", async () => {
    const { cluster, inner } = await leftBehind();
    const before = vsOf(cluster);
    const result = await sweepGoneForks(inner, header, () => true, { ...noWait, dryRun: true });
    expect(result.swept.map((s) => s.routes)).toEqual([["forkstack-alice--gone", "forkstack-carol--gone"], ["forkstack-alice--gone", "forkstack-carol--gone"]]);
    expect(vsOf(cluster)).toEqual(before);
  });

  it("deletes a VirtualService forkstack created once only gone forks' retired routes are left in it", async () => {
    const { cluster, inner } = await leftBehind();
    // bob's stack is gone too, and its route was retired by a leave that could not finish.
    for (const vs of vsOf(cluster)) {
      const http = (vs.spec as any).http.map((r: { name: string }) => (r.name === "forkstack-bob" ? { ...r, name: "forkstack-bob--gone" } : r));
      cluster.put({ ...vs, spec: { ...(vs.spec as object), http } });
    }
    const result = await sweepGoneForks(inner, header, () => true, noWait);
    expect([result.swept.length, vsOf(cluster)]).toEqual([2, []]);
  });

  it("reads again after a lost race, and reports a VirtualService the server refuses without stopping at it", async () => {
    const { cluster, inner } = await leftBehind();
    let raced = 0;
    const api: VirtualServiceApi = {
      ...inner,
      patch: async (ns, name, ops) => {
        if (name === "forkstack-cart") throw Object.assign(new Error(`patching VirtualService ${ns}/${name}: 403 Forbidden`), { code: 403 });
        if (raced++ === 0) throw new ConflictError("rejected");
        return inner.patch(ns, name, ops);
      },
    };
    const result = await sweepGoneForks(api, header, (id) => id === "alice", noWait);
    expect([result, routesByVs(cluster)]).toEqual([
      { swept: [{ virtualService: "shop/forkstack-api", routes: ["forkstack-alice--gone"] }], failed: [{ virtualService: "shop/forkstack-cart", error: "patching VirtualService shop/forkstack-cart: 403 Forbidden" }] },
      { "forkstack-api": ["forkstack-carol--gone", "forkstack-bob"], "forkstack-cart": ["forkstack-carol--gone", "forkstack-alice--gone", "forkstack-bob"] },
    ]);
    expect(raced).toBe(2);
  });
});

describe("a claim placed in a delegate VirtualService", () => {
  const opsOf = (w: { kind: string; ops?: JsonPatchOp[] }): JsonPatchOp[] => w.ops ?? fail(`expected a patch, got ${w.kind}`);
const noWait: SyncOptions = { sleep: async () => undefined };
  const delegated = (): ForkRouteClaim => ({ ...claim("alice", "checkout"), delegate: { name: "checkout-routes", namespace: "shop" } });

  function setup() {
    const cluster = new SimulatedCluster();
    cluster.put({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "checkout", namespace: "shop" }, spec: { hosts: ["checkout"], http: [{ name: "to-team", delegate: { name: "checkout-routes", namespace: "shop" } }] } });
    cluster.put({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "checkout-routes", namespace: "shop" }, spec: { http: [{ name: "default", route: [{ destination: { host: "checkout" } }] }] } });
    return { cluster, api: simulatedAccess(cluster).virtualServices };
  }

  it("writes the fork's route into the delegate", async () => {
    const { cluster, api } = setup();
    await applyClaim(api, delegated(), noWait);
    expect(forkRoutes(cluster.get("networking.istio.io/v1", "VirtualService", "shop", "checkout-routes"))).toEqual(["forkstack-alice"]);
  });

  it("takes the fork's route out of the delegate on release, restoring it", async () => {
    const { cluster, api } = setup();
    const before = cluster.get("networking.istio.io/v1", "VirtualService", "shop", "checkout-routes")!.spec;
    await applyClaim(api, delegated(), noWait);
    await releaseClaim(api, delegated(), noWait);
    expect(cluster.get("networking.istio.io/v1", "VirtualService", "shop", "checkout-routes")!.spec).toEqual(before);
  });

  it("fails in one line when the delegate is gone", async () => {
    const { cluster, api } = setup();
    cluster.delete("networking.istio.io/v1", "VirtualService", "shop", "checkout-routes");
    await expect(applyClaim(api, delegated(), noWait)).rejects.toThrow("the delegate VirtualService shop/checkout-routes does not exist");
  });
});

describe("forty forks writing one app team's VirtualService at once", () => {
  const ids = Array.from({ length: 40 }, (_, i) => `f${i}`);
  const retargeted = (id: string) => ({ ...claim(id, "reviews"), targetHost: serviceFqdn(`reviews-${id}-v2`, "shop") });
  // Real (short) jittered waits, so that retried writers interleave as they would over HTTP.
  const opts: SyncOptions = { baseDelayMs: 2, maxDelayMs: 20 };
  const appPart = (vs: KubeObject) => ({ ...vs, metadata: { ...vs.metadata, resourceVersion: undefined, generation: undefined }, spec: { ...(vs.spec as object), http: (vs.spec as any).http.filter((r: any) => !isForkRoute(r.name)) } });

  async function run() {
    const cluster = new SimulatedCluster();
    cluster.seedYaml(ADOPTED);
    const before = vsOf(cluster)[0];
    const inner = simulatedAccess(cluster).virtualServices;
    const conflicts = { n: 0 };
    const reads = { n: 0 };
    const api: VirtualServiceApi = {
      ...inner,
      listAll: () => {
        reads.n++;
        return inner.listAll();
      },
      patch: (...args) => inner.patch(...args).catch((err) => {
        if (err instanceof ConflictError) conflicts.n++;
        throw err;
      }),
    };
    await Promise.all(ids.map((id) => applyClaim(api, claim(id, "reviews"), opts)));
    const added = { vs: vsOf(cluster)[0], conflicts: conflicts.n };
    await Promise.all(ids.map((id) => applyClaim(api, retargeted(id), opts)));
    const churned = { vs: vsOf(cluster)[0], conflicts: conflicts.n - added.conflicts };
    const readsBefore = reads.n;
    await Promise.all(ids.map((id) => releaseClaim(api, claim(id, "reviews"), opts)));
    return { before, added, churned, released: vsOf(cluster)[0], releaseReads: reads.n - readsBefore };
  }
  let result: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    result = await run();
  });

  it("adds every fork's route exactly once, without a single rejected write", () => {
    expect([forkRoutes(result.added.vs).sort(), result.added.conflicts]).toEqual([ids.map((id) => `forkstack-${id}`).sort(), 0]);
  });

  it("keeps the team's route and every other field as they were while forks are in it", () => {
    expect(appPart(result.added.vs)).toEqual(appPart(result.before));
  });

  it("changes every fork's route in place, each once, without a single rejected write", () => {
    const http = (result.churned.vs.spec as any).http.filter((r: any) => isForkRoute(r.name));
    expect([http.length, http.every((r: any) => r.route[0].destination.host === serviceFqdn(`reviews-${r.name.slice("forkstack-".length)}-v2`, "shop")), result.churned.conflicts]).toEqual([40, true, 0]);
  });

  it("restores the team's spec byte for byte once every fork left", () => {
    expect(JSON.stringify(result.released.spec)).toBe(JSON.stringify(result.before.spec));
  });

  it("lets them leave with about one read each (renames do not collide; only the last sweeps, retrying)", () => {
    // Before renames left the sweeping to the last fork, every fork swept and most read twice (79 reads for 40).
    expect(result.releaseReads).toBeLessThan(ids.length * 1.25);
  });
});
