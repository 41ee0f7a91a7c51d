/**
 * A hostile member of the fork group against the real API server (issue 24): the fork role's RBAC
 * and ValidatingAdmissionPolicies as the base stack builds them (components/forkPolicy.ts), over a
 * shared environment shaped like a platform's (an app-owned VirtualService with a canary route, a
 * gateway-bound one, a TCP service, a privileged ServiceAccount, Secrets, an app's leader-election
 * Lease, an upstream host nested under another, a second forkable namespace that lists its
 * ServiceAccounts and Secrets), and another member's live fork.
 *
 * Member `h-mallory` owns the fork ids mallory, mallory-* and admin; `h-alice` owns alice and has a
 * fork running; a CI identity owns pr-*. Mallory sends what an attacker would — other fields, other
 * verbs (POST, PUT, JSON Patch, merge patch, server-side apply, DELETE), other kinds, other forks'
 * objects — and every request must be refused by the server with a message that names the rule.
 * Then every shared object, and alice's fork, is byte for byte as before (resourceVersion included:
 * nothing was written).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { copyDeployment, copyService } from "../../components/fork/copy";
import { addRoutesWrite } from "../../components/fork/routePatch";
import { addForkRoutes } from "../../components/fork/routes";
import { turnLease } from "../../components/fork/routeTurn";
import { forkPolicies, forkRoleBindings, forkRoles, PolicyContext, POLICY_NAMES } from "../../components/forkPolicy";
import { forkMapping, sharedMapping } from "../../components/mappings";
import { copyName, LABELS, routeName, serviceFqdn, turnTicketName } from "../../components/naming";
import { ensureNamespace } from "../harness/fixtures";
import { apply, get, list, objectPath, remove } from "../harness/objects";
import { request, RestConfig, RestResponse, waitFor } from "../harness/rest";
import { adminRest, e2eState } from "../harness/state";
import { forkUser } from "../harness/stacks";

const state = e2eState();
const rest = adminRest(state);

const NS = "h-shop";
const PAY = "h-pay";
const GW = "h-gw";
const GROUP = "forkstack-forkers";
const HEADER = "x-fork-identifier";
const VS = "networking.istio.io/v1";
const MAPPING = "getambassador.io/v3alpha1";
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

const ctx: PolicyContext = {
  access: {
    group: GROUP,
    principals: [],
    namespaces: { [NS]: { serviceAccounts: ["default"] }, [PAY]: { serviceAccounts: ["fork-runner"], secrets: ["pay-config"] } },
    owners: [
      { ids: ["alice", "alice-*"], users: ["h-alice"], groups: [], serviceAccounts: [] },
      { ids: ["mallory", "mallory-*", "admin"], users: ["h-mallory"], groups: [], serviceAccounts: [] },
      { ids: ["pr-*"], users: [], groups: ["forkstack-ci"], serviceAccounts: [] },
    ],
    maxContainerResources: { cpu: "2", memory: "4Gi" },
  },
  headerName: HEADER,
  gatewayNamespace: GW,
  ambassadorId: "fork-proxy-ambassador",
  upstreams: [
    { host: "shop.dev.example.com", service: { name: "frontend", namespace: NS, port: 80 } },
    { host: "admin.shop.dev.example.com", service: { name: "admin", namespace: NS, port: 80 } },
  ],
  hostScheme: "subdomain",
  domain: "dev.example.com",
  maxForkReplicas: 3,
};
const gatewayCtx = { ambassadorId: ctx.ambassadorId, namespace: GW, headerName: HEADER };

// --- the shared environment --------------------------------------------------------------------------

function app(name: string, ns = NS): any[] {
  const labels = { app: name, "app.kubernetes.io/name": name };
  return [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: ns, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { ...labels, version: "v1" } },
          spec: { containers: [{ name, image: "ghcr.io/stefanprodan/podinfo:6.7.1", ports: [{ name: "http", containerPort: 9898 }], resources: { requests: { cpu: "10m", memory: "32Mi" } } }] },
        },
      },
    },
    { apiVersion: "v1", kind: "Service", metadata: { name, namespace: ns, labels }, spec: { selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: "http" }] } },
  ];
}

const appVirtualService = {
  apiVersion: VS,
  kind: "VirtualService",
  metadata: { name: "api", namespace: NS, labels: { team: "checkout" } },
  spec: {
    hosts: ["api"],
    http: [
      { name: "canary", match: [{ headers: { "x-canary": { exact: "1" } } }], route: [{ destination: { host: "api", subset: "v2" } }], retries: { attempts: 3, perTryTimeout: "2s" } },
      { name: "primary", route: [{ destination: { host: "api", subset: "v1" }, weight: 90 }, { destination: { host: "api", subset: "v2" }, weight: 10 }] },
    ],
  },
};

const SHARED: any[] = [
  ...app("api"),
  ...app("frontend"),
  ...app("admin"),
  ...app("cart"),
  ...app("ledger", PAY),
  appVirtualService,
  {
    apiVersion: VS,
    kind: "VirtualService",
    metadata: { name: "public-frontend", namespace: NS },
    spec: { hosts: ["frontend.h-shop.svc.cluster.local"], gateways: ["mesh", `${NS}/public-gw`], http: [{ name: "default", route: [{ destination: { host: "frontend" } }] }] },
  },
  { apiVersion: "v1", kind: "Service", metadata: { name: "db", namespace: NS }, spec: { selector: { app: "db" }, ports: [{ name: "tcp-db", port: 5432 }] } },
  { apiVersion: VS, kind: "VirtualService", metadata: { name: "db", namespace: NS }, spec: { hosts: ["db"], tcp: [{ route: [{ destination: { host: "db" } }] }] } },
  // 200 pr-* forks' routes go here (the policy cost on the real server).
  { apiVersion: VS, kind: "VirtualService", metadata: { name: "catalog", namespace: NS }, spec: { hosts: ["catalog"], http: [{ name: "default", route: [{ destination: { host: "catalog" } }] }] } },
  { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "deployer", namespace: NS } },
  { apiVersion: "v1", kind: "Secret", metadata: { name: "shop-secret", namespace: NS }, stringData: { token: "s3cret" } },
  { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "api-leader", namespace: NS }, spec: { holderIdentity: "api-7d9f", leaseDurationSeconds: 15 } },
  { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "fork-runner", namespace: PAY } },
  { apiVersion: "v1", kind: "Secret", metadata: { name: "pay-config", namespace: PAY }, stringData: { mode: "test" } },
  { apiVersion: "v1", kind: "Secret", metadata: { name: "pay-db-root", namespace: PAY }, stringData: { password: "root" } },
  ...ctx.upstreams.map((u) => sharedMapping(u, gatewayCtx)),
];

// --- requests ------------------------------------------------------------------------------------------

const JSON_PATCH = "application/json-patch+json";
const MERGE_PATCH = "application/merge-patch+json";
const APPLY = "application/apply-patch+yaml";

async function pathFor(obj: any): Promise<string> {
  return objectPath(rest, obj);
}
async function collection(obj: any): Promise<string> {
  const p = await pathFor(obj);
  return p.slice(0, p.lastIndexOf("/"));
}

interface Member {
  name: string;
  rest: RestConfig;
}

/** One request as a member: create (POST), replace (PUT), patch (JSON / merge / apply) or delete. */
async function send(m: Member, verb: "create" | "put" | "json" | "merge" | "apply" | "delete", obj: any, patch?: unknown): Promise<RestResponse> {
  switch (verb) {
    case "create":
      return request(m.rest, "POST", await collection(obj), obj);
    case "put":
      return request(m.rest, "PUT", await pathFor(obj), obj);
    case "json":
      return request(m.rest, "PATCH", await pathFor(obj), patch, { contentType: JSON_PATCH });
    case "merge":
      return request(m.rest, "PATCH", await pathFor(obj), patch, { contentType: MERGE_PATCH });
    case "apply":
      return request(m.rest, "PATCH", `${await pathFor(obj)}?fieldManager=${m.name}&force=true`, patch ?? obj, { contentType: APPLY });
    case "delete":
      return request(m.rest, "DELETE", await pathFor(obj));
  }
}

async function live(obj: any): Promise<any> {
  const o = await get(rest, obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
  assert.ok(o, `${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name} is missing`);
  return o;
}

/** A copy of a shared app for `fork`, exactly as forkstack builds it. */
function forkCopies(name: string, fork: string, ns = NS, serviceAccount?: string): { deployment: any; service: any } {
  const [dep, svc] = app(name, ns);
  const opts = { forkId: fork, env: {}, replicas: 1, owner: `organization/forkstack/${fork}`, ...(serviceAccount ? { serviceAccount } : {}) };
  return { deployment: copyDeployment(dep, svc, opts), service: copyService(svc, dep, opts) };
}

function forkMappingOf(fork: string, upstream = ctx.upstreams[0]): any {
  return forkMapping({ upstream, forkId: fork, headers: {}, target: upstream.service, scheme: "subdomain", ctx: gatewayCtx });
}

const claim = (fork: string, service = "api") => ({ forkId: fork, headerName: HEADER, service: { name: service, namespace: NS }, targetHost: serviceFqdn(copyName(service, fork), NS) });
const forkRoute = (fork: string, host = serviceFqdn(copyName("api", fork), NS), extra: Record<string, unknown> = {}) => ({
  name: routeName(fork),
  match: [{ headers: { [HEADER]: { exact: fork } } }],
  route: [{ destination: { host } }],
  ...extra,
});

/** Every rule's message, as the policies word it; a refusal must carry one of these. */
const RULE = {
  shape: /a fork may create only forkstack's VirtualService/,
  otherRoutes: /a fork may add, change or remove only its own routes/,
  fields: /a fork may change only its routes; hosts, gateways, tcp, tls, exportTo, labels and annotations must stay/,
  metadata: /a fork may not set or change ownerReferences or finalizers/,
  notOwned: /fork (alice|pr-7|alice2) is not owned by h-mallory/,
  onTop: /fork routes stay above every other route|the routes of other forks stay as they are, in order/,
  otherForks: /the routes of other forks stay as they are, in order/,
  podAnnotations: /a copy's pods may not carry sidecar.istio.io\/userVolume/,
  antiAffinity: /required pod anti-affinity may select only its fork's pods/,
  serviceAnnotations: /may carry only Istio's, forkstack's and Pulumi's annotations/,
  orphan: /a fork may not orphan what its objects own/,
  mappingHeaders: /may add only lowercase header names that are not x-fork-identifier spelt otherwise, host or hop-by-hop/,
  delegate: /a fork route may not delegate/,
  meshOnly: /every match of a fork route applies to the mesh only/,
  deleteVs: /a fork may delete only a VirtualService forkstack created/,
  shared: /is shared \(no forkstack.dev\/fork label\): a fork may not change or delete it/,
  relabel: /its forkstack.dev\/fork label may not change|is not owned by h-mallory/,
  hostNs: /may not use the node's network, PID or IPC namespace/,
  hostPath: /may not mount a hostPath volume/,
  privileged: /may not be privileged or add capabilities beyond Pod Security baseline/,
  hostPort: /may not use hostPort/,
  unconfined: /may not run unconfined/,
  serviceAccount: /must run as one of default/,
  podLabels: /every pod label value of a copy ends in -forkstack-mallory/,
  replicas: /a copy runs at most 3 replicas/,
  resources: /may request or limit at most cpu 2 and memory 4Gi each/,
  priority: /may not set a priority/,
  secrets: /may use only the Secrets pay-config/,
  copyName: /the name of a fork's copy ends in -mallory/,
  service: /a fork's Service is a ClusterIP Service without externalIPs that selects forkstack.dev\/fork: mallory/,
  unlabelled: /a fork may create only objects labelled forkstack.dev\/fork/,
  hostname: /is not a fork hostname of (mallory|admin); a fork may route only its own hosts, never a shared one/,
  target: /is neither an upstream's entry Service nor a copy of fork mallory/,
  mappingFields: /a fork's Mapping may set only ambassador_id, hostname/,
  header: /must set x-fork-identifier: mallory with append: false/,
  notForkMapping: /is not this fork's: a fork may change or delete only its own Mappings|has no such label/,
  forkId: /is not a fork id/,
  lease: /a fork may write only the Leases forks take turns with/,
  holder: /a turn is held as <fork>\/<writer>, and renewed or handed on by its holder only/,
  rbac: /cannot (create|get|list|patch|update|delete) resource/,
};

describe("a hostile member of the fork group against the real API server", { timeout: 600_000 }, () => {
  let mallory: Member;
  let alice: Member;
  let ci: Member;
  let dir: string;
  const aliceFork = { ...forkCopies("api", "alice"), mapping: forkMappingOf("alice") };
  const aliceCart = addForkRoutes(undefined, claim("alice", "cart"));
  const aliceTurn = turnLease({ service: { name: "api", namespace: NS }, holder: "alice/held" }, 15, Date.now());
  const snapshot = new Map<string, string>();
  const watched: any[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostile-"));
    const member = (name: string, groups: string[]): Member => ({ name, rest: forkUser(state, dir, name, groups, rest.ca).rest });
    mallory = member("h-mallory", [GROUP]);
    alice = member("h-alice", [GROUP]);
    ci = member("h-ci", [GROUP, "forkstack-ci"]);
    for (const ns of [NS, PAY, GW]) await ensureNamespace(rest, ns);
    for (const o of SHARED) await apply(rest, o);
    // The fork role as the base stack creates it: RBAC first, policies before their bindings.
    const policyObjects = forkPolicies(ctx);
    for (const o of [...forkRoles(ctx), ...forkRoleBindings(ctx), ...policyObjects.filter((p) => p.kind === "ValidatingAdmissionPolicy")]) await apply(rest, o);
    for (const o of policyObjects.filter((p) => p.kind === "ValidatingAdmissionPolicyBinding")) await apply(rest, o);
    // The authorizer and the admission plugin see new objects through informers, a moment later.
    const unlabelled = { apiVersion: "v1", kind: "Service", metadata: { name: "probe-mallory", namespace: NS }, spec: { ports: [{ port: 80 }] } };
    await waitFor("the fork role and its policies to take effect", async () => {
      // A dry run: admission runs, nothing is stored while the policy is not in force yet.
      const res = await request(mallory.rest, "POST", `${await collection(unlabelled)}?dryRun=All`, unlabelled);
      return res.status === 403 && RULE.unlabelled.test(res.body?.message ?? "");
    }, 30_000);

    // Alice's live fork, written as alice with what forkstack writes: the server admits each.
    const aliceWrites: Array<[string, Promise<RestResponse>]> = [];
    for (const [what, obj] of [["copy Deployment", aliceFork.deployment], ["copy Service", aliceFork.service], ["Mapping", aliceFork.mapping], ["VirtualService for cart", aliceCart], ["turn Lease", aliceTurn]] as const) {
      aliceWrites.push([what, send(alice, "create", obj)]);
    }
    const vs = await live(appVirtualService);
    const w = addRoutesWrite(vs, claim("alice"));
    assert.equal(w.kind, "patch");
    aliceWrites.push(["route in the app's VirtualService", send(alice, "json", vs, (w as any).ops)]);
    for (const [what, p] of aliceWrites) {
      const res = await p;
      assert.ok(res.status === 200 || res.status === 201, `alice's ${what}: ${res.status} ${res.body?.message}`);
    }

    // Everything mallory must not change: the shared objects and alice's fork, as the server holds them.
    watched.push(...SHARED.filter((o) => o.kind !== "Secret"), aliceFork.deployment, aliceFork.service, aliceFork.mapping, aliceCart, aliceTurn);
    for (const o of watched) snapshot.set(`${o.kind} ${o.metadata.namespace}/${o.metadata.name}`, JSON.stringify(await live(o)));
  });

  after(async () => {
    // Cluster-scoped objects go (the base stack of the next test file creates the same names); the
    // namespaces stay, they are this file's own.
    for (const o of [...forkPolicies(ctx), ...forkRoles(ctx), ...forkRoleBindings(ctx)].filter((o) => !o.metadata.namespace)) await remove(rest, o).catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("admits the CI identity's 200 forks' routes in one VirtualService, each write checked by the policy (its cost stays within the server's limits)", async () => {
    const catalog = SHARED.find((o) => o.metadata.name === "catalog" && o.kind === "VirtualService");
    for (let i = 0; i < 200; i++) {
      const res = await send(ci, "json", catalog, [{ op: "add", path: "/spec/http/0", value: forkRoute(`pr-${i}`, serviceFqdn(copyName("catalog", `pr-${i}`), NS)) }]);
      assert.equal(res.status, 200, `route of pr-${i}: ${res.status} ${res.body?.message}`);
    }
    const full = await live(catalog);
    assert.equal(full.spec.http.length, 201);
    // Mallory changing pr-7's route among them is refused by the rule, not by a cost overrun.
    const i = full.spec.http.findIndex((r: any) => r.name === "forkstack-pr-7");
    const res = await send(mallory, "json", catalog, [{ op: "replace", path: `/spec/http/${i}/route/0/destination/host`, value: "api-mallory.h-shop.svc.cluster.local" }]);
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.match(res.body.message, /fork pr-7 is not owned by h-mallory/);
    // Back to the app's own route (as the platform: one write removing 200 forks' routes is not a fork's).
    await apply(rest, catalog);
    assert.deepEqual((await live(catalog)).spec.http.map((r: any) => r.name), ["default"]);
    snapshot.set(`VirtualService ${NS}/catalog`, JSON.stringify(await live(catalog)));
  });

  it("refuses every hostile request, each with the rule it breaks", async () => {
    const vsApi = await live(appVirtualService);
    const aliceAt = vsApi.spec.http.findIndex((r: any) => r.name === routeName("alice"));
    const canaryAt = vsApi.spec.http.findIndex((r: any) => r.name === "canary");
    const publicVs = SHARED.find((o) => o.metadata.name === "public-frontend");
    const dbVs = SHARED.find((o) => o.kind === "VirtualService" && o.metadata.name === "db");
    const sharedApi = SHARED.filter((o) => o.metadata.name === "api" && o.metadata.namespace === NS);
    const [sharedDeployment, sharedService] = [sharedApi.find((o) => o.kind === "Deployment"), sharedApi.find((o) => o.kind === "Service")];
    const sharedShopMapping = SHARED.find((o) => o.kind === "Mapping" && o.spec.hostname === "shop.dev.example.com");
    const mine = forkCopies("api", "mallory");
    const dep = (mutate: (d: any) => void, base = mine.deployment) => {
      const d = clone(base);
      mutate(d);
      return d;
    };
    const pod = (d: any) => d.spec.template.spec;
    const svc = (mutate: (s: any) => void) => {
      const s = clone(mine.service);
      mutate(s);
      return s;
    };
    const createdVs = (mutate: (vs: any) => void, service = "frontend") => {
      const vs = clone(addForkRoutes(undefined, claim("mallory", service)));
      mutate(vs);
      return vs;
    };
    const mapping = (mutate: (m: any) => void) => {
      const m = clone(forkMappingOf("mallory"));
      mutate(m);
      return m;
    };
    const inPay = () => {
      const c = forkCopies("ledger", "mallory", PAY, "fork-runner").deployment;
      return c;
    };
    const lease = (name: string, holder: string) => ({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace: NS }, spec: { holderIdentity: holder, leaseDurationSeconds: 15 } });

    type Attempt = [string, () => Promise<RestResponse>, RegExp];
    const attempts: Attempt[] = [
      // Class 1: VirtualServices created for shared hosts, or of another shape than forkstack's.
      ["create a VirtualService for the shared api host holding only a fork route", () => send(mallory, "create", createdVs((vs) => vs.spec.http.pop(), "api")), RULE.shape],
      ["create one for every service of the namespace (wildcard host)", () => send(mallory, "create", createdVs((vs) => (vs.spec.hosts = ["*.h-shop.svc.cluster.local"]))), RULE.shape],
      ["create one for a host of a namespace that is not forkable, exported everywhere", () => send(mallory, "create", createdVs((vs) => ((vs.spec.hosts = ["kube-dns.kube-system.svc.cluster.local"]), (vs.spec.exportTo = ["*"])))), RULE.shape],
      ["create one exported everywhere", () => send(mallory, "create", createdVs((vs) => (vs.spec.exportTo = ["*"]))), RULE.shape],
      ["create one whose default route aborts every request", () => send(mallory, "create", createdVs((vs) => (vs.spec.http[1].fault = { abort: { httpStatus: 503, percentage: { value: 100 } } }))), RULE.shape],
      ["create one whose default route mirrors shared traffic to the fork", () => send(mallory, "create", createdVs((vs) => (vs.spec.http[1].mirror = { host: "api-mallory.h-shop.svc.cluster.local" }))), RULE.shape],
      ["create one whose default route redirects", () => send(mallory, "create", createdVs((vs) => (vs.spec.http[1] = { name: "default", redirect: { authority: "evil.example.com" } }))), RULE.shape],
      ["create one whose default route answers directly", () => send(mallory, "create", createdVs((vs) => (vs.spec.http[1] = { name: "default", directResponse: { status: 503 } }))), RULE.shape],
      ["create one whose default route re-tags shared users as the fork", () => send(mallory, "create", createdVs((vs) => (vs.spec.http[1].headers = { request: { set: { [HEADER]: "mallory" } } }))), RULE.shape],
      ["create one whose default route goes to the fork's copy", () => send(mallory, "create", createdVs((vs) => (vs.spec.http[1].route = [{ destination: { host: "api-mallory.h-shop.svc.cluster.local" } }]))), RULE.shape],
      ["create one with a tcp section", () => send(mallory, "create", createdVs((vs) => (vs.spec.tcp = [{ route: [{ destination: { host: "api-mallory.h-shop.svc.cluster.local" } }] }]))), RULE.shape],
      // Refused first by the mesh-only rule (its fork route lacks gateways: [mesh]); the shape rule would too.
      ["create one bound to a gateway", () => send(mallory, "create", createdVs((vs) => (vs.spec.gateways = ["mesh", `${NS}/public-gw`]))), RULE.meshOnly],
      ["create one carrying an ownerReference", () => send(mallory, "create", createdVs((vs) => (vs.metadata.ownerReferences = [{ apiVersion: "v1", kind: "Service", name: "frontend", uid: "00000000-0000-0000-0000-000000000001" }]))), RULE.metadata],
      ["create one holding alice's route", () => send(mallory, "create", { ...clone(addForkRoutes(undefined, claim("alice", "frontend"))) }), RULE.notOwned],
      ["server-side apply one holding only a catch-all", () => send(mallory, "apply", createdVs((vs) => (vs.spec.http = [{ name: "default", route: [{ destination: { host: "api-mallory.h-shop.svc.cluster.local" } }] }]), "admin")), RULE.shape],
      ["delete forkstack's VirtualService holding alice's live route (to re-create it poisoned)", () => send(mallory, "delete", aliceCart), RULE.notOwned],
      // It holds alice's live route: refused as a change of alice's routes before the shape is looked at.
      ["delete the app team's VirtualService", () => send(mallory, "delete", appVirtualService), RULE.notOwned],
      ["delete the tcp service's VirtualService", () => send(mallory, "delete", dbVs), RULE.deleteVs],
      // Class 1 and 5: writes into a shared VirtualService.
      ["replace the app's canary route (JSON Patch)", () => send(mallory, "json", appVirtualService, [{ op: "replace", path: `/spec/http/${canaryAt}/route/0/destination/host`, value: "api-mallory" }]), RULE.otherRoutes],
      ["insert a catch-all dressed as a fork route", () => send(mallory, "json", appVirtualService, [{ op: "add", path: "/spec/http/0", value: { name: "forkstack-mallory", route: [{ destination: { host: "api-mallory" } }] } }]), RULE.otherRoutes],
      ["insert a route named for mallory that matches alice's header", () => send(mallory, "json", appVirtualService, [{ op: "add", path: "/spec/http/0", value: { ...forkRoute("mallory"), match: [{ headers: { [HEADER]: { exact: "alice" } } }] } }]), RULE.otherRoutes],
      ["remove alice's route", () => send(mallory, "json", appVirtualService, [{ op: "remove", path: `/spec/http/${aliceAt}` }]), RULE.notOwned],
      ["retire alice's route (rename it --gone)", () => send(mallory, "json", appVirtualService, [{ op: "replace", path: `/spec/http/${aliceAt}/name`, value: "forkstack-alice--gone" }]), RULE.notOwned],
      ["point alice's route at mallory's copy", () => send(mallory, "json", appVirtualService, [{ op: "replace", path: `/spec/http/${aliceAt}/route/0/destination/host`, value: "api-mallory.h-shop.svc.cluster.local" }]), RULE.notOwned],
      ["move alice's route below the app's routes", () => send(mallory, "json", appVirtualService, [{ op: "move", from: `/spec/http/${aliceAt}`, path: "/spec/http/-" }]), RULE.onTop],
      ["swap alice's two route variants", () => send(mallory, "json", appVirtualService, [{ op: "move", from: `/spec/http/${aliceAt + 1}`, path: `/spec/http/${aliceAt}` }]), RULE.otherForks],
      ["duplicate alice's route", () => send(mallory, "json", appVirtualService, [{ op: "add", path: "/spec/http/0", value: vsApi.spec.http[aliceAt] }]), RULE.otherForks],
      ["add a route for alice2 (an id alice's prefixes)", () => send(mallory, "json", appVirtualService, [{ op: "add", path: "/spec/http/0", value: forkRoute("alice2") }]), RULE.notOwned],
      ["server-side apply a route for alice", () => send(mallory, "apply", appVirtualService, { apiVersion: VS, kind: "VirtualService", metadata: { name: "api", namespace: NS }, spec: { http: [forkRoute("alice"), ...vsApi.spec.http.filter((r: any) => r.name !== routeName("alice"))] } }), RULE.notOwned],
      ["add mallory's route and export the VirtualService everywhere", () => send(mallory, "json", appVirtualService, [{ op: "add", path: "/spec/http/0", value: forkRoute("mallory") }, { op: "add", path: "/spec/exportTo", value: ["*"] }]), RULE.fields],
      ["add mallory's route with a delegate", () => send(mallory, "json", appVirtualService, [{ op: "add", path: "/spec/http/0", value: { name: "forkstack-mallory", match: [{ headers: { [HEADER]: { exact: "mallory" } } }], delegate: { name: "api", namespace: NS } } }]), RULE.delegate],
      ["add mallory's route to a gateway-bound VirtualService without gateways: [mesh]", () => send(mallory, "json", publicVs, [{ op: "add", path: "/spec/http/0", value: forkRoute("mallory", "frontend-mallory.h-shop.svc.cluster.local") }]), RULE.meshOnly],
      ["give the app's VirtualService an ownerReference (PUT)", async () => send(mallory, "put", { ...(await live(appVirtualService)), metadata: { ...(await live(appVirtualService)).metadata, ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: "api-mallory", uid: "00000000-0000-0000-0000-000000000002" }] } }), RULE.metadata],
      ["give the app's VirtualService a finalizer (JSON Patch)", () => send(mallory, "json", appVirtualService, [{ op: "add", path: "/metadata/finalizers", value: ["example.com/hold"] }]), RULE.metadata],
      ["relabel the app's VirtualService (merge patch)", () => send(mallory, "merge", appVirtualService, { metadata: { labels: { team: "mallory" } } }), RULE.fields],
      ["add a tcp route to the tcp service's VirtualService", () => send(mallory, "json", dbVs, [{ op: "add", path: "/spec/tcp/0", value: { route: [{ destination: { host: "api-mallory" } }] } }]), RULE.fields],
      // Class 3: what a copy may run.
      ["run a copy on the node's network", () => send(mallory, "create", dep((d) => (pod(d).hostNetwork = true))), RULE.hostNs],
      ["run a copy in the node's PID namespace", () => send(mallory, "create", dep((d) => (pod(d).hostPID = true))), RULE.hostNs],
      ["mount the node's / into a copy", () => send(mallory, "create", dep((d) => (pod(d).volumes = [{ name: "root", hostPath: { path: "/" } }]))), RULE.hostPath],
      ["run a privileged copy", () => send(mallory, "create", dep((d) => (pod(d).containers[0].securityContext = { privileged: true }))), RULE.privileged],
      ["add SYS_ADMIN in an init container", () => send(mallory, "create", dep((d) => (pod(d).initContainers = [{ name: "init", image: "busybox:1.37", securityContext: { capabilities: { add: ["SYS_ADMIN"] } } }]))), RULE.privileged],
      ["bind a hostPort", () => send(mallory, "create", dep((d) => (pod(d).containers[0].ports = [{ containerPort: 9898, hostPort: 80 }]))), RULE.hostPort],
      ["run unconfined by seccomp", () => send(mallory, "create", dep((d) => (pod(d).securityContext = { seccompProfile: { type: "Unconfined" } }))), RULE.unconfined],
      ["set an unsafe sysctl", () => send(mallory, "create", dep((d) => (pod(d).securityContext = { sysctls: [{ name: "kernel.core_pattern", value: "|/tmp/x" }] }))), RULE.unconfined],
      ["run as the namespace's deployer ServiceAccount", () => send(mallory, "create", dep((d) => (pod(d).serviceAccountName = "deployer"))), RULE.serviceAccount],
      ["give the copy's pods the shared Service's selector value", () => send(mallory, "create", dep((d) => ((d.spec.template.metadata.labels.app = "api"), (d.spec.selector.matchLabels.app = "api")))), RULE.podLabels],
      ["give the copy's pods a shared value under a label nobody selects today", () => send(mallory, "create", dep((d) => (d.spec.template.metadata.labels["app.kubernetes.io/name"] = "api"))), RULE.podLabels],
      ["run 50 replicas", () => send(mallory, "create", dep((d) => (d.spec.replicas = 50))), RULE.replicas],
      ["request 64 CPUs", () => send(mallory, "create", dep((d) => (pod(d).containers[0].resources = { requests: { cpu: "64" } }))), RULE.resources],
      ["mount the node's / through Istio's injector (sidecar.istio.io/userVolume)", () => send(mallory, "create", dep((d) => (d.spec.template.metadata.annotations = { "sidecar.istio.io/userVolume": '{"root":{"hostPath":{"path":"/"}}}', "sidecar.istio.io/userVolumeMount": '{"root":{"mountPath":"/host"}}' }))), RULE.podAnnotations],
      ["run its own proxy image as the sidecar", () => send(mallory, "create", dep((d) => (d.spec.template.metadata.annotations = { "sidecar.istio.io/proxyImage": "evil.example.com/proxy:1" }))), RULE.podAnnotations],
      ["keep every pod with an app label off its zones (required anti-affinity)", () => send(mallory, "create", dep((d) => (pod(d).affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "topology.kubernetes.io/zone", namespaceSelector: {}, labelSelector: { matchExpressions: [{ key: "app", operator: "Exists" }] } }] } }))), RULE.antiAffinity],
      ["set a priority class", () => send(mallory, "create", dep((d) => (pod(d).priorityClassName = "system-cluster-critical"))), RULE.priority],
      ["mount an unlisted Secret in the namespace that lists them", () => send(mallory, "create", dep((d) => (pod(d).volumes = [{ name: "s", secret: { secretName: "pay-db-root" } }]), inPay())), RULE.secrets],
      ["read an unlisted Secret into the environment", () => send(mallory, "create", dep((d) => (pod(d).containers[0].envFrom = [{ secretRef: { name: "pay-db-root" } }]), inPay())), RULE.secrets],
      ["name a copy like a shared Deployment", () => send(mallory, "create", dep((d) => (d.metadata.name = "api-canary"))), RULE.copyName],
      ["create a LoadBalancer Service", () => send(mallory, "create", svc((s) => (s.spec.type = "LoadBalancer"))), RULE.service],
      ["create a NodePort Service", () => send(mallory, "create", svc((s) => (s.spec.type = "NodePort"))), RULE.service],
      ["create a Service with externalIPs (CVE-2020-8554)", () => send(mallory, "create", svc((s) => (s.spec.externalIPs = ["203.0.113.10"]))), RULE.service],
      ["create a Service that selects the shared pods", () => send(mallory, "create", svc((s) => (s.spec.selector = { app: "api" }))), RULE.service],
      ["create a Service named like a shared one to come", () => send(mallory, "create", svc((s) => (s.metadata.name = "payments"))), RULE.copyName],
      ["configure the shared gateway through a Service annotation (getambassador.io/config)", () => send(mallory, "create", svc((s) => (s.metadata.annotations = { "getambassador.io/config": "apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nname: takeover\nambassador_id: [fork-proxy-ambassador]\nhostname: shop.dev.example.com\nprefix: /\nservice: api-mallory.h-shop:80\nprecedence: 1000\n" }))), RULE.serviceAnnotations],
      ["create an unlabelled Deployment", () => send(mallory, "create", dep((d) => delete d.metadata.labels[LABELS.fork])), RULE.unlabelled],
      ["relabel the shared Service (PUT)", async () => send(mallory, "put", { ...(await live(sharedService)), metadata: { ...(await live(sharedService)).metadata, labels: { [LABELS.fork]: "mallory" } } }), RULE.shared],
      ["change the shared Deployment's image (JSON Patch)", () => send(mallory, "json", sharedDeployment, [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "evil:1" }]), RULE.shared],
      ["change the shared Service's selector (server-side apply)", () => send(mallory, "apply", sharedService, { apiVersion: "v1", kind: "Service", metadata: { name: "api", namespace: NS }, spec: { selector: { app: "api-mallory" } } }), RULE.shared],
      ["delete the shared Deployment", () => send(mallory, "delete", sharedDeployment), RULE.shared],
      ["point the shared Service at mallory's pods (JSON Patch)", () => send(mallory, "json", sharedService, [{ op: "replace", path: "/spec/selector", value: { app: "api-forkstack-mallory" } }]), RULE.shared],
      // Class 5: alice's fork.
      ["change alice's copy's image (JSON Patch)", () => send(mallory, "json", aliceFork.deployment, [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "evil:1" }]), RULE.notOwned],
      ["move alice's copy to mallory's fork (merge patch)", () => send(mallory, "merge", aliceFork.deployment, { metadata: { labels: { [LABELS.fork]: "mallory" } } }), RULE.relabel],
      ["replace alice's Service (PUT)", async () => send(mallory, "put", await live(aliceFork.service)), RULE.notOwned],
      ["replace alice's copy with one on the node's network (PUT)", async () => {
        const d = await live(aliceFork.deployment);
        d.spec.template.spec.hostNetwork = true;
        return send(mallory, "put", d);
      }, RULE.notOwned],
      ["delete alice's Service", () => send(mallory, "delete", aliceFork.service), RULE.notOwned],
      ["create a Deployment labelled as alice's", () => send(mallory, "create", clone(forkCopies("cart", "alice").deployment)), RULE.notOwned],
      ["server-side apply alice's Deployment", () => send(mallory, "apply", aliceFork.deployment, { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: aliceFork.deployment.metadata.name, namespace: NS, labels: { [LABELS.fork]: "alice" } }, spec: { replicas: 0 } }), RULE.notOwned],
      // Class 4: Mappings.
      ["claim the nested shared host admin.shop as fork admin", () => send(mallory, "create", clone(forkMappingOf("admin"))), RULE.hostname],
      ["route the shared host shop.dev.example.com", () => send(mallory, "create", mapping((m) => (m.spec.hostname = "shop.dev.example.com"))), RULE.hostname],
      ["route alice's fork host", () => send(mallory, "create", mapping((m) => (m.spec.hostname = "alice.shop.dev.example.com"))), RULE.hostname],
      ["point a fork Mapping at a vault", () => send(mallory, "create", mapping((m) => (m.spec.service = "vault.vault:8200"))), RULE.target],
      ["point a fork Mapping at the API server", () => send(mallory, "create", mapping((m) => (m.spec.service = "kubernetes.default:443"))), RULE.target],
      ["point a fork Mapping at alice's copy", () => send(mallory, "create", mapping((m) => (m.spec.service = "frontend-alice.h-shop:80"))), RULE.target],
      ["bypass the gateway's auth", () => send(mallory, "create", mapping((m) => (m.spec.bypass_auth = true))), RULE.mappingFields],
      ["override Envoy's route configuration", () => send(mallory, "create", mapping((m) => (m.spec.envoy_override = { per_filter_config: {} }))), RULE.mappingFields],
      ["shadow traffic", () => send(mallory, "create", mapping((m) => (m.spec.shadow = true))), RULE.mappingFields],
      ["outrank the shared Mapping with precedence", () => send(mallory, "create", mapping((m) => (m.spec.precedence = 1000))), RULE.mappingFields],
      ["add the fork header spelt in capitals, as alice", () => send(mallory, "create", mapping((m) => (m.spec.add_request_headers["X-Fork-Identifier"] = { value: "alice", append: false }))), RULE.mappingHeaders],
      ["add a :path header (Envoy would refuse the gateway's whole route configuration)", () => send(mallory, "create", mapping((m) => (m.spec.add_request_headers[":path"] = { value: "/admin", append: false }))), RULE.mappingHeaders],
      ["let clients append to the fork header", () => send(mallory, "create", mapping((m) => (m.spec.add_request_headers[HEADER].append = true))), RULE.header],
      ["use an id the config refuses", () => send(mallory, "create", mapping((m) => (m.metadata.labels[LABELS.fork] = "Mallory_1"))), RULE.forkId],
      ["delete the shared host's Mapping", () => send(mallory, "delete", sharedShopMapping), RULE.notForkMapping],
      ["take the shared host's Mapping over (merge patch)", () => send(mallory, "merge", sharedShopMapping, { metadata: { labels: { [LABELS.fork]: "mallory" } } }), RULE.notForkMapping],
      ["point alice's Mapping at mallory's copy (JSON Patch)", () => send(mallory, "json", aliceFork.mapping, [{ op: "replace", path: "/spec/service", value: "frontend-mallory.h-shop:80" }]), RULE.notOwned],
      ["delete alice's Mapping", () => send(mallory, "delete", aliceFork.mapping), RULE.notOwned],
      ["replace alice's Mapping (PUT)", async () => send(mallory, "put", { ...(await live(aliceFork.mapping)), spec: { ...(await live(aliceFork.mapping)).spec, service: "frontend-mallory.h-shop:80" } }), RULE.notOwned],
      ["take the shared host's Mapping over (server-side apply)", () => send(mallory, "apply", sharedShopMapping, { apiVersion: MAPPING, kind: "Mapping", metadata: { name: sharedShopMapping.metadata.name, namespace: GW }, spec: { service: "frontend-mallory.h-shop:80" } }), RULE.notForkMapping],
      // Leases.
      ["take over the app's leader-election Lease (PUT)", async () => send(mallory, "put", { ...(await live(lease("api-leader", "x"))), spec: { holderIdentity: "mallory", leaseDurationSeconds: 3600 } }), RULE.lease],
      ["delete the app's leader-election Lease", () => send(mallory, "delete", lease("api-leader", "x")), RULE.lease],
      // The fork role grants no patch on Leases (a turn is written whole): RBAC refuses these first.
      ["take the app's leader-election Lease (JSON Patch)", () => send(mallory, "json", lease("api-leader", "x"), [{ op: "replace", path: "/spec/holderIdentity", value: "mallory" }]), RULE.rbac],
      ["take alice's turn over (server-side apply)", () => send(mallory, "apply", aliceTurn, { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: aliceTurn.metadata.name, namespace: NS }, spec: { holderIdentity: "mallory/x" } }), RULE.rbac],
      ["hold a turn in alice's name", () => send(mallory, "create", lease("forkstack-routes.cart", "alice/x")), RULE.notOwned],
      ["take alice's turn over", async () => send(mallory, "put", { ...(await live(aliceTurn)), spec: { ...(await live(aliceTurn)).spec, holderIdentity: "mallory/x" } }), RULE.notOwned],
      ["hand alice's turn to bob", async () => send(mallory, "put", { ...(await live(aliceTurn)), spec: { ...(await live(aliceTurn)).spec, holderIdentity: "bob/x" } }), RULE.notOwned],
      ["queue for a turn in alice's name (a ticket)", () => send(mallory, "create", lease(turnTicketName("cart", "alice/q1"), "alice/q1")), RULE.notOwned],
      ["hold a turn as a name that is no writer", () => send(mallory, "create", lease("forkstack-routes.inventory", "mallory")), RULE.holder],
      ["renew alice's turn as alice", async () => send(mallory, "put", await live(aliceTurn)), RULE.notOwned],
      // What RBAC alone refuses: other kinds, other namespaces.
      ["read a Secret", () => request(mallory.rest, "GET", `/api/v1/namespaces/${NS}/secrets/shop-secret`), RULE.rbac],
      ["create a Pod directly", () => send(mallory, "create", { apiVersion: "v1", kind: "Pod", metadata: { name: "p-mallory", namespace: NS }, spec: { hostNetwork: true, containers: [{ name: "c", image: "busybox:1.37" }] } }), RULE.rbac],
      ["bind itself a role", () => send(mallory, "create", { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "mallory-admin", namespace: NS }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" }, subjects: [{ kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "h-mallory" }] }), RULE.rbac],
      ["unbind the routes policy", () => request(mallory.rest, "DELETE", `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${POLICY_NAMES.routes}`), RULE.rbac],
      ["create a copy in a namespace that is not forkable", () => send(mallory, "create", dep((d) => (d.metadata.namespace = "default"))), RULE.rbac],
    ];

    const wrong: string[] = [];
    for (const [name, run, rule] of attempts) {
      const res = await run();
      const message = String(res.body?.message ?? res.text);
      if (res.status !== 403 || !rule.test(message)) wrong.push(`${name}: ${res.status} ${message.slice(0, 300)}`);
    }
    console.log(`hostile: ${attempts.length} requests sent as a member of the fork group, ${attempts.length - wrong.length} refused with the rule they break`);
    assert.ok(attempts.length >= 60);
    assert.deepEqual(wrong, []);
  });

  it("leaves every shared object and alice's fork byte for byte as they were", async () => {
    const changed: string[] = [];
    for (const o of watched) {
      const id = `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
      if (JSON.stringify(await live(o)) !== snapshot.get(id)) changed.push(id);
    }
    assert.deepEqual(changed, []);
    // Nothing of mallory's is left in the namespaces.
    const leftovers = [];
    for (const [v, k] of [["apps/v1", "Deployment"], ["v1", "Service"]] as const) {
      leftovers.push(...(await list(rest, v, k, NS)).filter((o) => o.metadata.labels?.[LABELS.fork] === "mallory").map((o) => `${k} ${o.metadata.name}`));
    }
    leftovers.push(...(await list(rest, MAPPING, "Mapping", GW)).filter((o) => o.metadata.labels?.[LABELS.fork] === "mallory").map((o) => `Mapping ${o.metadata.name}`));
    assert.deepEqual(leftovers, []);
  });
  it("admits the queue as forkstack runs it: tickets in one's own name, a holder handing its turn to the oldest, the new holder renewing it", async () => {
    const turn = turnLease({ service: { name: "inventory", namespace: NS }, holder: "alice/h2" }, 15, Date.now());
    const ciTicket = { ...turnLease({ service: { name: "inventory", namespace: NS }, holder: "pr-1/q1" }, 15, Date.now()), metadata: { ...turn.metadata, name: turnTicketName("inventory", "pr-1/q1") } };
    for (const [who, obj] of [[alice, turn], [ci, ciTicket]] as const) {
      const res = await send(who, "create", obj);
      assert.equal(res.status, 201, `${who.name}: ${res.body?.message}`);
    }
    // alice is done: she hands the turn to pr-1's writer, for 5 s, as fork/routeTurn.ts does.
    const held = await live(turn);
    const handed = await send(alice, "put", { ...held, spec: { ...held.spec, holderIdentity: "pr-1/q1", leaseDurationSeconds: 5 } });
    assert.equal(handed.status, 200, handed.body?.message);
    // Now it is pr-1's: alice may not take it back, the CI identity renews it as its own.
    const back = await send(alice, "put", { ...handed.body, spec: { ...handed.body.spec, holderIdentity: "alice/h3" } });
    assert.equal(back.status, 403, back.body?.message);
    assert.match(back.body.message, /fork pr-1 is not owned by h-alice/);
    const renewed = await send(ci, "put", { ...handed.body, spec: { ...handed.body.spec, leaseDurationSeconds: 15 } });
    assert.equal(renewed.status, 200, renewed.body?.message);
    for (const obj of [turn, ciTicket]) assert.equal((await send(ci, "delete", obj)).status, 200);
  });

  it("admits mallory's own fork written as forkstack writes it, and its removal", async () => {
    const mine = forkCopies("api", "mallory");
    const m = forkMappingOf("mallory");
    for (const o of [mine.deployment, mine.service, m]) {
      const res = await send(mallory, "create", o);
      assert.equal(res.status, 201, `${o.kind}: ${res.body?.message}`);
    }
    const vs = await live(appVirtualService);
    const w = addRoutesWrite(vs, claim("mallory"));
    const res = await send(mallory, "json", vs, (w as any).ops);
    assert.equal(res.status, 200, res.body?.message);
    // Deleting the copy so that its ReplicaSet would be orphaned (and keep running) is refused.
    const orphaning = await request(mallory.rest, "DELETE", `${await pathFor(mine.deployment)}?propagationPolicy=Orphan`);
    assert.equal(orphaning.status, 403, JSON.stringify(orphaning.body));
    assert.match(orphaning.body.message, RULE.orphan);
    const withMine = await live(appVirtualService);
    const at = withMine.spec.http.findIndex((r: any) => r.name === routeName("mallory"));
    const out = await send(mallory, "json", withMine, [{ op: "test", path: `/spec/http/${at}/name`, value: routeName("mallory") }, { op: "remove", path: `/spec/http/${at}` }]);
    assert.equal(out.status, 200, out.body?.message);
    for (const o of [mine.deployment, mine.service, m]) {
      const del = await send(mallory, "delete", o);
      assert.equal(del.status, 200, `${o.kind}: ${del.body?.message}`);
    }
  });
});
