/**
 * The ForkRoutes dynamic provider (components/fork/forkRoutes.ts) called directly — create, diff,
 * update, delete — against the real API server, plus the `.get` reads a fork's preflight makes.
 * Stage 2 (pulumi.e2e.test.ts) runs the same provider serialized, in the engine's own process.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { before, describe, it } from "node:test";
import { forkRoutesProvider, FORK_ROUTES_KIND, ForkRoutesState } from "../../components/fork/forkRoutes";
import { clientNodeAccess } from "../../components/kube/clientNode";
import { routeName, serviceFqdn } from "../../components/naming";
import { seedShop } from "../harness/fixtures";
import { apply, get } from "../harness/objects";
import { adminRest, e2eState } from "../harness/state";

const state = e2eState();
const rest = adminRest(state);
const VS = "networking.istio.io/v1";
const ns = "e2e-provider";

function inputs(over: Partial<ForkRoutesState> = {}): ForkRoutesState {
  return {
    forkstackKind: FORK_ROUTES_KIND,
    kubeconfig: fs.readFileSync(state.kubeconfigPath, "utf8"),
    context: "",
    forkId: "alice",
    headerName: "x-fork-identifier",
    serviceName: "catalog",
    serviceNamespace: ns,
    targetHost: serviceFqdn("catalog-alice", ns),
    ...over,
  };
}

const routes = async () => ((await get(rest, VS, "VirtualService", ns, "forkstack-catalog"))?.spec?.http ?? []) as any[];

describe("ForkRoutes provider on a real API server", () => {
  before(async () => {
    await seedShop(rest, ns);
  });

  it("create writes the fork's route and reports where", async () => {
    const res = await forkRoutesProvider.create!(inputs());
    assert.equal(res.id, `${ns}/catalog/alice`);
    assert.equal(res.outs.virtualServiceName, "forkstack-catalog");
    assert.equal(res.outs.virtualServiceNamespace, ns);
    assert.deepEqual((await routes()).map((r) => r.name), [routeName("alice"), "default"]);
  });

  it("diff sees a changed target and nothing else", async () => {
    assert.equal((await forkRoutesProvider.diff!("id", inputs(), inputs())).changes, false);
    assert.equal((await forkRoutesProvider.diff!("id", inputs(), inputs({ targetHost: "x.svc" }))).changes, true);
  });

  it("read and diff notice a route removed out of band, and update puts it back", async () => {
    const vs = await get(rest, VS, "VirtualService", ns, "forkstack-catalog");
    const http = (vs.spec.http as any[]).filter((r) => r.name !== routeName("alice"));
    await apply(rest, { apiVersion: VS, kind: "VirtualService", metadata: { name: vs.metadata.name, namespace: ns }, spec: { ...vs.spec, http } }, { fieldManager: "someone-else" });
    const read = await forkRoutesProvider.read!(`${ns}/catalog/alice`, inputs());
    assert.equal(read.props?.routes, "missing");
    assert.equal((await forkRoutesProvider.diff!("id", inputs(), inputs())).changes, true);
    await forkRoutesProvider.update!(`${ns}/catalog/alice`, inputs(), inputs());
    assert.deepEqual((await routes()).map((r) => r.name), [routeName("alice"), "default"]);
  });

  it("update rewrites the route in place", async () => {
    const target = serviceFqdn("catalog-alice-v2", ns);
    await forkRoutesProvider.update!(`${ns}/catalog/alice`, inputs(), inputs({ targetHost: target }));
    const mine = (await routes()).find((r) => r.name === routeName("alice"));
    assert.deepEqual(mine.route, [{ destination: { host: target } }]);
  });

  it("update to another fork id adds the new routes before it removes the old ones", async () => {
    await forkRoutesProvider.update!(`${ns}/catalog/alice`, inputs(), inputs({ forkId: "alice2" }));
    assert.deepEqual((await routes()).map((r) => r.name), [routeName("alice2"), "default"]);
  });

  it("delete removes the routes and the VirtualService forkstack created for them", async () => {
    await forkRoutesProvider.delete!(`${ns}/catalog/alice2`, inputs({ forkId: "alice2" }));
    assert.equal(await get(rest, VS, "VirtualService", ns, "forkstack-catalog"), undefined);
  });

  it("delete of routes already gone succeeds (idempotent, as the engine may retry it)", async () => {
    await forkRoutesProvider.delete!(`${ns}/catalog/alice2`, inputs({ forkId: "alice2" }));
  });

  it("create and delete take their turn: a Lease its holder stopped renewing is passed over after its duration, and none is left", async () => {
    const LEASE = "coordination.k8s.io/v1";
    await apply(rest, { apiVersion: LEASE, kind: "Lease", metadata: { name: "forkstack-routes.catalog", namespace: ns }, spec: { holderIdentity: "crashed/e2e", leaseDurationSeconds: 1 } });
    const start = Date.now();
    await forkRoutesProvider.create!(inputs({ forkId: "carol" }));
    // Not before the stale Lease had gone unchanged for its 1 s: it was waited for, not ignored.
    assert.ok(Date.now() - start >= 1000, `create took ${Date.now() - start} ms`);
    assert.equal(await get(rest, LEASE, "Lease", ns, "forkstack-routes.catalog"), undefined);
    assert.deepEqual((await routes()).map((r) => r.name), [routeName("carol"), "default"]);
    await forkRoutesProvider.delete!(`${ns}/catalog/carol`, inputs({ forkId: "carol" }));
    assert.equal(await get(rest, LEASE, "Lease", ns, "forkstack-routes.catalog"), undefined);
  });
});

describe(".get reads through client-node", () => {
  it("returns the live Service and Deployment with their server-set fields, and undefined for a missing one", async () => {
    await seedShop(rest, "e2e-reads");
    const { reader } = await clientNodeAccess(fs.readFileSync(state.kubeconfigPath, "utf8"));
    const svc = await reader.getService("e2e-reads", "api");
    const dep = await reader.getDeployment("e2e-reads", "api");
    assert.equal(svc?.metadata.name, "api");
    assert.match(String((svc?.spec as any).clusterIP), /^10\.96\./);
    assert.ok(svc?.metadata.uid && svc.metadata.resourceVersion);
    assert.equal((dep?.spec as any).template.metadata.labels.app, "api");
    assert.equal(await reader.getService("e2e-reads", "apx"), undefined);
    assert.equal(await reader.getDeployment("e2e-reads", "apx"), undefined);
  });

  it("rejects a context the kubeconfig does not have, naming the ones it has", async () => {
    await assert.rejects(clientNodeAccess(fs.readFileSync(state.kubeconfigPath, "utf8"), "nope"), /forkstack:cluster\.context.*"e2e"/);
  });
});
