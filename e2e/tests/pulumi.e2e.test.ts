/**
 * Stage 2: the real engine. `pulumi up` of a base stack and of two forks at once on the e2e API
 * server (file:// backend, passphrase secrets, the Kubernetes provider and the ForkRoutes dynamic
 * provider as plugins), the forks run as a member of the base's fork group (RBAC and the base's
 * ValidatingAdmissionPolicies decide what they may do), then: the cluster equals the offline render
 * of the same stacks, a preview
 * of an unchanged fork changes nothing, and destroying the forks leaves every shared object as it
 * was, byte for byte.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import type { Stack } from "@pulumi/pulumi/automation";
import { isForkRoute, LABELS, MANAGED_BY, routeName } from "../../components/naming";
import { request, RestConfig } from "../harness/rest";
import { compareObjects, idOf } from "../harness/compare";
import { ensureNamespace, seedShop, SHOP_FIXTURE, yamlDocs } from "../harness/fixtures";
import { FAKE_LB_HOSTNAME, fakeLoadBalancer } from "../harness/loadBalancer";
import { apply, get, list, resourceOf } from "../harness/objects";
import { changes, E2E_ANNOTATIONS, Engine, engine } from "../harness/pulumi";
import { render, Rendered } from "../harness/render";
import { exampleConfigs, forkGroupOf, forkUser, platformTlsSecret } from "../harness/stacks";
import { adminRest, e2eState } from "../harness/state";

const state = e2eState();
const rest = adminRest(state);
const VS = "networking.istio.io/v1";

const KINDS: Array<[string, string]> = [
  ["apps/v1", "Deployment"],
  ["v1", "Service"],
  [VS, "VirtualService"],
  ["getambassador.io/v3alpha1", "Mapping"],
  ["getambassador.io/v3alpha1", "Host"],
  ["getambassador.io/v3alpha1", "Listener"],
  ["autoscaling/v2", "HorizontalPodAutoscaler"],
  ["rbac.authorization.k8s.io/v1", "Role"],
  ["rbac.authorization.k8s.io/v1", "RoleBinding"],
];

/** Cluster-scoped kinds the base creates (ForkAccess); listed when labelled as forkstack's. */
const CLUSTER_KINDS: Array<[string, string]> = [
  ["rbac.authorization.k8s.io/v1", "ClusterRole"],
  ["rbac.authorization.k8s.io/v1", "ClusterRoleBinding"],
  ["admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"],
  ["admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"],
];

async function liveObjects(namespaces: string[]): Promise<any[]> {
  const out: any[] = [];
  for (const ns of namespaces) for (const [v, k] of KINDS) out.push(...(await list(rest, v, k, ns)).map((o) => ({ apiVersion: v, kind: k, ...o })));
  for (const [v, k] of CLUSTER_KINDS) {
    out.push(...(await list(rest, v, k)).filter((o) => o.metadata.labels?.[LABELS.managedBy] === MANAGED_BY).map((o) => ({ apiVersion: v, kind: k, ...o })));
  }
  return out;
}

/** What `kubectl get -o json` shows for every shared object and both namespaces, keyed by id. */
async function snapshot(): Promise<Map<string, string>> {
  const objs = [...(await liveObjects(["shop", "emissary"])), ...(await list(rest, "v1", "Namespace")).filter((n) => ["shop", "emissary"].includes(n.metadata.name)).map((o) => ({ kind: "Namespace", ...o }))];
  return new Map(objs.map((o) => [idOf(o), JSON.stringify(o)]));
}

/**
 * Two forks that `pulumi up` at the same moment append their routes in whichever order their writes
 * land; the render runs stacks one after another. Fork routes are compared sorted by name; every
 * other route keeps its place.
 */
function forkRoutesSorted(o: any): any {
  if (o.kind !== "VirtualService" || !Array.isArray(o.spec?.http)) return o;
  const c = JSON.parse(JSON.stringify(o));
  const forks = c.spec.http.filter((r: any) => isForkRoute(r.name)).sort((a: any, b: any) => a.name.localeCompare(b.name));
  c.spec.http = [...forks, ...c.spec.http.filter((r: any) => !isForkRoute(r.name))];
  return c;
}

/**
 * Differences between the render and `pulumi up`, each explained in docs/e2e.md. When one
 * is fixed, this test fails until the line is removed here.
 *
 * Fork `env` order: the Pulumi CLI hands object-valued config to the program as JSON with its keys
 * sorted (Go's encoding/json sorts map keys), while the render reads Pulumi.<stack>.yaml in file
 * order; the copy's env follows the keys' order. Same variables, other order: Kubernetes treats it
 * as a change of the pod template (a rollout).
 */
const EXPLAINED_DIFFERENCES = [
  'Deployment shop/api-alice .spec.template.spec.containers[0].env[0].name: render "PODINFO_UI_MESSAGE", live "FEATURE_CHECKOUT_V2"',
  'Deployment shop/api-alice .spec.template.spec.containers[0].env[0].value: render "api from alice", live "on"',
  'Deployment shop/api-alice .spec.template.spec.containers[0].env[1].name: render "FEATURE_CHECKOUT_V2", live "PODINFO_UI_MESSAGE"',
  'Deployment shop/api-alice .spec.template.spec.containers[0].env[1].value: render "on", live "api from alice"',
];

describe("pulumi up / preview / destroy with the real engine", { timeout: 900_000 }, () => {
  let eng: Engine;
  let dev: Stack;
  let alice: Stack;
  let bob: Stack;
  let rendered: Rendered;
  let seededIds: Set<string>;
  let sharedBeforeForks: Map<string, string>;
  let forkKubeconfig: string;
  let forkRest: RestConfig;
  /** The fork program's own reads (preflight) run in this process and use $KUBECONFIG too. */
  const asForkUser = () => (process.env.KUBECONFIG = forkKubeconfig);

  before(async () => {
    // The shared environment as the platform runs it: the shop, and the namespace Emissary runs in.
    await seedShop(rest, "shop");
    await ensureNamespace(rest, "emissary");
    await platformTlsSecret(rest, "emissary");
    seededIds = new Set(yamlDocs(SHOP_FIXTURE).map(idOf));
    const cfg = exampleConfigs();
    eng = await engine(state, cfg);
    const configDir = fs.mkdtempSync(path.join(eng.workDir, "render-config-"));
    for (const [s, text] of Object.entries(cfg)) fs.writeFileSync(path.join(configDir, `Pulumi.${s}.yaml`), text);
    rendered = render(["dev", "alice", "bob"], { configDir });
    const program = require("../../index") as () => Promise<Record<string, unknown>>;
    // The forks run as a developer in the base's fork group (examples/Pulumi.dev.yaml
    // forkstack:forkAccess.group), with a kubeconfig of their own: the base publishes no credential.
    const user = forkUser(state, eng.workDir, "dev-alice", forkGroupOf(cfg.dev), rest.ca);
    forkKubeconfig = user.kubeconfig;
    forkRest = user.rest;
    // bob's fork runs as its owner, dev-bob (examples/Pulumi.dev.yaml forkstack:forkAccess.owners):
    // each member may write only the forks it owns.
    const bobUser = forkUser(state, eng.workDir, "dev-bob", forkGroupOf(cfg.dev), rest.ca);
    // The base is index.ts itself, as a platform without AWS runs it (harness/stacks.ts exampleConfigs).
    dev = await eng.stack("dev", program, { KUBECONFIG: state.kubeconfigPath });
    alice = await eng.stack("alice", program, { KUBECONFIG: forkKubeconfig });
    bob = await eng.stack("bob", program, { KUBECONFIG: bobUser.kubeconfig });
    // The forks' Kubernetes provider finds the ambient kubeconfig as the default provider would:
    // the stack's kubernetes:kubeconfig first (components/forkProgram.ts). Both programs run in
    // this one process, whose $KUBECONFIG they would otherwise share.
    await alice.setConfig("kubernetes:kubeconfig", { value: forkKubeconfig });
    await bob.setConfig("kubernetes:kubeconfig", { value: bobUser.kubeconfig });
  });

  after(async () => {
    if (eng) fs.rmSync(eng.workDir, { recursive: true, force: true });
  });

  it("pulumi up of the base stack creates the gateway's objects in the existing emissary namespace", { timeout: 300_000 }, async () => {
    const stopLb = fakeLoadBalancer(rest, "emissary");
    const res = await dev.up({ onOutput: () => undefined }).finally(stopLb);
    assert.equal(res.summary.result, "succeeded");
    assert.equal(res.outputs.gatewayHostname.value, FAKE_LB_HOSTNAME);
    const mappings = await list(rest, "getambassador.io/v3alpha1", "Mapping", "emissary");
    assert.ok(mappings.length >= 1, "no shared-host Mapping");
    assert.equal(res.outputs.gatewayNamespace.value, "emissary");
    sharedBeforeForks = await snapshot();
  });

  it("two forks' pulumi up at the same time each create their copies and both routes land in the one api VirtualService", { timeout: 300_000 }, async () => {
    // A turn Lease left by a fork whose process died (never renewed): the forks' ForkRoutes, run
    // by the engine as the fork group, must pass it over and delete it. Had they written without
    // a turn (no Lease access, a closure that lost the turn code), it would still be here.
    await apply(rest, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "forkstack-routes.api", namespace: "shop" }, spec: { holderIdentity: "crashed/e2e", leaseDurationSeconds: 1 } });
    asForkUser();
    const [a, b] = await Promise.all([alice.up({ onOutput: () => undefined }), bob.up({ onOutput: () => undefined })]);
    assert.equal(a.summary.result, "succeeded");
    assert.equal(b.summary.result, "succeeded");
    assert.equal(await get(rest, "coordination.k8s.io/v1", "Lease", "shop", "forkstack-routes.api"), undefined);
    const api = await get(rest, VS, "VirtualService", "shop", "forkstack-api");
    const names = (api.spec.http as any[]).map((r) => r.name);
    assert.deepEqual(names.filter(isForkRoute).sort(), [routeName("alice"), routeName("bob")].sort());
    assert.ok(await get(rest, "apps/v1", "Deployment", "shop", "api-alice"));
    assert.ok(await get(rest, "apps/v1", "Deployment", "shop", "catalog-bob"));
  });

  it("the cluster holds exactly what the offline render of the same stacks predicts", async () => {
    // Not compared: the seeded shop and the platform's TLS Secret (the same objects on both sides).
    const notes: string[] = [];
    const predicted: any[] = [];
    for (const o of rendered.objects) {
      if (seededIds.has(idOf(o)) || o.kind === "Namespace") continue;
      const c = forkRoutesSorted(o);
      if (c.metadata.namespace && !(await resourceOf(rest, c.apiVersion, c.kind)).namespaced) {
        notes.push(`${idOf(c)}: the render gives a cluster-scoped object a namespace`);
        delete c.metadata.namespace;
      }
      predicted.push(c);
    }
    const live = (await liveObjects(["shop", "emissary"]))
      .filter((o) => !seededIds.has(idOf(o)))
      .map((o) => {
        // The one thing the e2e adds on purpose (see harness/pulumi.ts): no pods ever run here.
        const c = JSON.parse(JSON.stringify(o));
        for (const a of E2E_ANNOTATIONS) delete c.metadata.annotations?.[a];
        if (c.metadata.annotations && Object.keys(c.metadata.annotations).length === 0) delete c.metadata.annotations;
        return forkRoutesSorted(c);
      });
    assert.deepEqual([...notes, ...compareObjects(predicted, live)].sort(), [...EXPLAINED_DIFFERENCES].sort());
  });

  it("the fork group may not change a shared Service: the base's admission policy refuses it, naming why", async () => {
    const res = await request(forkRest, "PATCH", "/api/v1/namespaces/shop/services/api?fieldManager=dev-alice", { metadata: { labels: { hijacked: "yes" } } }, { contentType: "application/merge-patch+json" });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.match(res.body.message, /is shared .*a fork may not change or delete it/);
  });

  it("the fork group may not delete the shared-host Mapping", async () => {
    const shared = (await list(rest, "getambassador.io/v3alpha1", "Mapping", "emissary")).find((m) => !m.metadata.labels?.[LABELS.fork]);
    const res = await request(forkRest, "DELETE", `/apis/getambassador.io/v3alpha1/namespaces/emissary/mappings/${shared.metadata.name}`);
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.ok(await get(rest, "getambassador.io/v3alpha1", "Mapping", "emissary", shared.metadata.name));
  });

  it("the fork group may not delete a shared Service", async () => {
    const res = await request(forkRest, "DELETE", "/api/v1/namespaces/shop/services/api");
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.match(res.body.message, /is shared .*a fork may not change or delete it/);
    assert.ok(await get(rest, "v1", "Service", "shop", "api"));
  });

  it("the fork group may not change a shared route of a VirtualService that holds its own route", async () => {
    const before = await get(rest, VS, "VirtualService", "shop", "forkstack-api");
    const http = JSON.parse(JSON.stringify(before.spec.http)) as any[];
    const shared = http.find((r) => !isForkRoute(r.name));
    assert.ok(shared, "the api VirtualService has no shared route");
    // Point the shared default at alice's copy: everyone's requests would reach her fork.
    shared.route = [{ destination: { host: "api-alice.shop.svc.cluster.local" } }];
    const res = await request(forkRest, "PUT", `/apis/${VS}/namespaces/shop/virtualservices/forkstack-api`, { ...before, spec: { ...before.spec, http } });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.match(res.body.message, /a fork may add, change or remove only its own routes/);
    assert.deepEqual((await get(rest, VS, "VirtualService", "shop", "forkstack-api")).spec, before.spec);
  });

  it("the fork group may write the Lease forks take turns with, and no other Lease (an app's leader election)", async () => {
    const leases = "/apis/coordination.k8s.io/v1/namespaces/shop/leases";
    const lease = (name: string) => ({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name }, spec: { holderIdentity: "alice/e2e", leaseDurationSeconds: 15 } });
    const own = await request(forkRest, "POST", leases, lease("forkstack-routes.e2e-probe"));
    assert.equal(own.status, 201, JSON.stringify(own.body));
    assert.equal((await request(forkRest, "DELETE", `${leases}/forkstack-routes.e2e-probe`)).status, 200);
    const other = await request(forkRest, "POST", leases, lease("api-leader"));
    assert.equal(other.status, 403, JSON.stringify(other.body));
    assert.match(other.body.message, /Lease shop\/api-leader: a fork may write only the Leases forks take turns with/);
    // The forks' own turns left nothing behind.
    assert.deepEqual((await list(rest, "coordination.k8s.io/v1", "Lease", "shop")).map((l) => l.metadata.name), []);
  });

  describe("Mappings the fork group may and may not create", () => {
    const MAPPING = "getambassador.io/v3alpha1";
    const mappingsPath = `/apis/${MAPPING}/namespaces/emissary/mappings`;
    /** alice's own Mapping (as `pulumi up` created it) under another name, changed by `edit`. */
    async function aliceMappingAs(name: string, edit: (spec: any) => void): Promise<any> {
      const own = (await list(rest, MAPPING, "Mapping", "emissary")).find((m) => m.metadata.labels?.[LABELS.fork] === "alice");
      assert.ok(own, "alice has no Mapping");
      const spec = JSON.parse(JSON.stringify(own.spec));
      edit(spec);
      return { apiVersion: MAPPING, kind: "Mapping", metadata: { name, namespace: "emissary", labels: own.metadata.labels }, spec };
    }

    it("a copy of the fork's own Mapping is admitted (the refusals below are the policy's, not RBAC's)", async () => {
      const res = await request(forkRest, "POST", mappingsPath, await aliceMappingAs("alice-e2e-probe", () => undefined));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const del = await request(forkRest, "DELETE", `${mappingsPath}/alice-e2e-probe`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
    });

    it("refuses a Mapping for a shared upstream host", async () => {
      const shared = (await list(rest, MAPPING, "Mapping", "emissary")).find((m) => !m.metadata.labels?.[LABELS.fork]);
      const res = await request(forkRest, "POST", mappingsPath, await aliceMappingAs("alice-e2e-shared-host", (spec) => (spec.hostname = shared.spec.hostname)));
      assert.equal(res.status, 403, JSON.stringify(res.body));
      assert.match(res.body.message, new RegExp(`hostname ${shared.spec.hostname.replace(/[.*]/g, "\\$&")} is not a fork hostname of alice`));
    });

    it("refuses a Mapping that does not set the fork header, or lets a client append to it", async () => {
      const header = String(parse(exampleConfigs().dev).config["forkstack:headerName"] ?? "x-fork-identifier");
      for (const [name, edit] of [
        ["alice-e2e-no-header", (spec: any) => delete spec.add_request_headers],
        ["alice-e2e-append", (spec: any) => (spec.add_request_headers[header] = { ...spec.add_request_headers[header], append: true })],
      ] as const) {
        const res = await request(forkRest, "POST", mappingsPath, await aliceMappingAs(name, edit));
        assert.equal(res.status, 403, `${name}: ${JSON.stringify(res.body)}`);
        assert.match(res.body.message, /must set .* alice with append: false/, name);
      }
    });
  });

  it("a preview of an unchanged fork shows no changes", async () => {
    asForkUser();
    const res = await alice.preview({ onOutput: () => undefined });
    assert.deepEqual(changes(res.changeSummary as Record<string, number>), {});
  });

  it(
    "pulumi up restores a fork route removed out of band",
    { timeout: 300_000 },
    async () => {
      const api = await get(rest, VS, "VirtualService", "shop", "forkstack-api");
      const http = (api.spec.http as any[]).filter((r) => r.name !== routeName("alice"));
      await apply(rest, { apiVersion: VS, kind: "VirtualService", metadata: { name: api.metadata.name, namespace: "shop" }, spec: { ...api.spec, http } }, { fieldManager: "someone-else" });
      asForkUser();
      // No refresh: ForkRoutes' diff reads the live VirtualService when its inputs are unchanged.
      const res = await alice.up({ onOutput: () => undefined });
      assert.equal(res.summary.resourceChanges?.update, 1, JSON.stringify(res.summary.resourceChanges));
      const again = await get(rest, VS, "VirtualService", "shop", "forkstack-api");
      assert.ok((again.spec.http as any[]).some((r) => r.name === routeName("alice")), "alice's route was not restored");
    },
  );

  it("destroying both forks leaves every shared object byte for byte as it was before them", { timeout: 300_000 }, async () => {
    asForkUser();
    await Promise.all([alice.destroy({ onOutput: () => undefined }), bob.destroy({ onOutput: () => undefined })]);
    const now = await snapshot();
    const changed = [...new Set([...sharedBeforeForks.keys(), ...now.keys()])].filter((id) => sharedBeforeForks.get(id) !== now.get(id)).sort();
    assert.deepEqual(changed, []);
  });
});
