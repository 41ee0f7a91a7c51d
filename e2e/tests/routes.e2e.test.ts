/**
 * The route merge (fork/routeSync.ts over client-node, components/kube/clientNode.ts) against a real
 * kube-apiserver: real resourceVersions, real 409 Conflicts, Istio's real VirtualService CRD schema,
 * and forks taking turns with real Leases (fork/routeTurn.ts).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { applyClaim, releaseClaim } from "../../components/fork/routeSync";
import type { ForkRouteClaim } from "../../components/fork/routes";
import type { TurnStats } from "../../components/fork/routeTurn";
import { clientNodeAccess } from "../../components/kube/clientNode";
import { isForkRoute, isRetiredRouteName, retiredRouteName, routeName, serviceFqdn } from "../../components/naming";
import { countingConflicts, ensureNamespace } from "../harness/fixtures";
import { apply, get, list } from "../harness/objects";
import { adminRest, e2eState } from "../harness/state";

const state = e2eState();
const rest = adminRest(state);
const kubeconfig = () => require("node:fs").readFileSync(state.kubeconfigPath, "utf8") as string;
const VS = "networking.istio.io/v1";

function claim(namespace: string, service: string, forkId: string): ForkRouteClaim {
  return { forkId, headerName: "x-fork-identifier", service: { name: service, namespace }, targetHost: serviceFqdn(`${service}-${forkId}`, namespace) };
}

const CONTENDED = { maxAttempts: 40 } as const;

const routeNames = (vs: any): string[] => (vs?.spec?.http ?? []).map((r: any) => r.name);

describe("50 forks writing one new VirtualService at the same moment", () => {
  const ns = "e2e-routes";
  const forks = Array.from({ length: 50 }, (_, i) => `f${String(i + 1).padStart(2, "0")}`);
  let conflictsOnApply = 0;
  let afterApply: any;

  before(async () => {
    await ensureNamespace(rest, ns);
    // Each fork has its own client, as separate `pulumi up` processes would.
    const writers = await Promise.all(forks.map(async () => countingConflicts((await clientNodeAccess(kubeconfig())).virtualServices)));
    // A wider retry budget than the default (10 attempts): 50 writers on one object, on a 2-core
    // machine shared with other work, exhausted 10 attempts for some fork in one of two runs
    // (ConflictRetriesExhaustedError). 50 simultaneous `pulumi up`s of one Service is far beyond
    // real use; what this checks is that no write is lost however long the contention lasts.
    await Promise.all(forks.map((f, i) => applyClaim(writers[i].api, claim(ns, "api", f), CONTENDED)));
    conflictsOnApply = writers.reduce((n, w) => n + w.conflicts(), 0);
    afterApply = await get(rest, VS, "VirtualService", ns, "forkstack-api");
  });

  it("keeps every fork's named route, each once, above the default route", () => {
    const names = routeNames(afterApply);
    assert.deepEqual([...names.filter(isForkRoute)].sort(), forks.map((f) => routeName(f)).sort());
    assert.equal(names[names.length - 1], "default");
    assert.equal(names.length, forks.length + 1);
  });

  it("really raced: the API server answered 409 Conflict to some writes, and they were retried", (t) => {
    t.diagnostic(`${conflictsOnApply} writes answered 409 Conflict`);
    assert.ok(conflictsOnApply > 0, "no write conflicted; the test did not exercise optimistic concurrency");
  });

  it("routes each fork's header to that fork's copy", () => {
    const r = afterApply.spec.http.find((x: any) => x.name === routeName("f17"));
    assert.deepEqual(r.match, [{ headers: { "x-fork-identifier": { exact: "f17" } } }]);
    assert.deepEqual(r.route, [{ destination: { host: serviceFqdn("api-f17", ns) } }]);
  });

  it("half of them leaving at once takes out exactly their routes; the next write removes what they left retired; the last one out deletes the VirtualService", async (t) => {
    const leaving = forks.filter((_, i) => i % 2 === 0);
    const staying = forks.filter((_, i) => i % 2 === 1);
    const accesses = await Promise.all(leaving.map(() => clientNodeAccess(kubeconfig())));
    await Promise.all(leaving.map((f, i) => releaseClaim(accesses[i].virtualServices, claim(ns, "api", f), CONTENDED)));
    const mid = routeNames(await get(rest, VS, "VirtualService", ns, "forkstack-api")).filter(isForkRoute);
    // Next to live forks, a leaving fork renames its route to …--gone and removes the retired routes
    // once (fork/routePatch.ts): when that removal lost a race, the retired route stays, still
    // matching only its own fork's header, until the next write there.
    const retired = mid.filter(isRetiredRouteName);
    t.diagnostic(`${retired.length} of ${leaving.length} leaving forks' routes left retired`);
    assert.deepEqual(mid.filter((n) => !isRetiredRouteName(n)).sort(), staying.map((f) => routeName(f)).sort());
    assert.deepEqual(retired.filter((n) => !leaving.some((f) => n === retiredRouteName(routeName(f)))), []);

    const late = await clientNodeAccess(kubeconfig());
    await applyClaim(late.virtualServices, claim(ns, "api", "late"));
    const afterLate = routeNames(await get(rest, VS, "VirtualService", ns, "forkstack-api")).filter(isForkRoute);
    assert.deepEqual(afterLate.sort(), [...staying, "late"].map((f) => routeName(f)).sort());

    const rest2 = await Promise.all([...staying, "late"].map(() => clientNodeAccess(kubeconfig())));
    await Promise.all([...staying, "late"].map((f, i) => releaseClaim(rest2[i].virtualServices, claim(ns, "api", f), CONTENDED)));
    assert.equal(await get(rest, VS, "VirtualService", ns, "forkstack-api"), undefined);
  });
});

describe("an app team's VirtualService adopted by forks", () => {
  const ns = "e2e-adopted";
  const appVs = {
    apiVersion: VS,
    kind: "VirtualService",
    metadata: { name: "reviews", namespace: ns, labels: { team: "books" } },
    spec: {
      hosts: ["reviews"],
      gateways: ["mesh"],
      http: [
        {
          name: "primary",
          timeout: "5s",
          retries: { attempts: 2, perTryTimeout: "2s" },
          route: [
            { destination: { host: "reviews", subset: "v1" }, weight: 90 },
            { destination: { host: "reviews", subset: "v2" }, weight: 10 },
          ],
        },
      ],
    },
  };
  let original: any;

  before(async () => {
    await ensureNamespace(rest, ns);
    original = await apply(rest, appVs, { fieldManager: "app-team" });
  });

  it("gets the fork's copy of the app route, and its spec back byte for byte when the fork leaves", async () => {
    const access = await clientNodeAccess(kubeconfig());
    const written = await applyClaim(access.virtualServices, claim(ns, "reviews", "alice"));
    assert.deepEqual(routeNames(written), [routeName("alice"), "primary"]);
    const forkRoute = (written.spec as any).http[0];
    assert.equal(forkRoute.timeout, "5s");
    assert.deepEqual(forkRoute.route, [{ destination: { host: serviceFqdn("reviews-alice", ns) }, weight: 100 }]);

    await releaseClaim(access.virtualServices, claim(ns, "reviews", "alice"));
    const after = await get(rest, VS, "VirtualService", ns, "reviews");
    assert.equal(JSON.stringify(after.spec), JSON.stringify(original.spec));
    assert.deepEqual(after.metadata.labels, original.metadata.labels);
    assert.notEqual(after.metadata.resourceVersion, original.metadata.resourceVersion);
  });

  it("refuses to pick one of two VirtualServices for the same host (Istio honours only one)", async () => {
    await apply(rest, { ...appVs, metadata: { name: "reviews-2", namespace: ns } });
    const access = await clientNodeAccess(kubeconfig());
    await assert.rejects(applyClaim(access.virtualServices, claim(ns, "reviews", "bob")), /both cover reviews\.e2e-adopted\.svc\.cluster\.local/);
    const items = await list(rest, VS, "VirtualService", ns);
    assert.ok(items.every((vs) => !routeNames(vs).some(isForkRoute)), "a fork route was written although the claim was refused");
  });
});

describe("50 forks of one Service taking turns with its Lease (the ForkRoutes provider's path)", () => {
  const ns = "e2e-turns";
  const forks = Array.from({ length: 50 }, (_, i) => `t${String(i + 1).padStart(2, "0")}`);
  const stats: TurnStats[] = [];
  let conflicts = 0;

  before(async () => {
    await ensureNamespace(rest, ns);
    const writers = await Promise.all(
      forks.map(async () => {
        const access = await clientNodeAccess(kubeconfig());
        return { ...countingConflicts(access.virtualServices), leases: access.leases };
      }),
    );
    await Promise.all(forks.map((f, i) => applyClaim(writers[i].api, claim(ns, "api", f), { leases: writers[i].leases, turn: { onTurn: (s) => stats.push(s) } })));
    conflicts = writers.reduce((n, w) => n + w.conflicts(), 0);
  });

  it("every fork held the turn, and no write to the VirtualService was refused (where all at once, creates collide)", () => {
    assert.deepEqual(
      stats.map((s) => s.held),
      forks.map(() => true),
    );
    assert.equal(conflicts, 0);
  });

  it("every fork's route landed once, and the turns' Leases are gone", async () => {
    assert.deepEqual(routeNames(await get(rest, VS, "VirtualService", ns, "forkstack-api")).filter(isForkRoute).sort(), forks.map((f) => routeName(f)).sort());
    assert.deepEqual((await list(rest, "coordination.k8s.io/v1", "Lease", ns)).map((l: any) => l.metadata.name), []);
  });
});
