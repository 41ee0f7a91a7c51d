/**
 * The fork group's admission policies, evaluated with a CEL library the way the API server
 * evaluates them (test/helpers/admission.ts), against what forkstack itself produces (allowed) and
 * against the changes a fork must never make (refused with the policy's message).
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { addRoutesWrite, releaseRoutesWrite, removeRoutesWrite, RouteWrite, sweepRetiredWrite } from "../components/fork/routePatch";
import { addForkRoutes, removeForkRoutes } from "../components/fork/routes";
import { applyJsonPatch } from "../components/kube/jsonPatch";
import { forkOwnerRoles, forkPolicies, forkRoleBindings, forkRoles, mappingPolicy, PolicyContext, routePolicy, turnPolicy, workloadPolicy } from "../components/forkPolicy";
import { turnLease } from "../components/fork/routeTurn";
import { LABELS, turnTicketName } from "../components/naming";
import type { KubeObject } from "../render/cluster";
import { renderStacks } from "../render/render";
import { admit, AdmissionRequest } from "./helpers/admission";
import { validateAgainstSchema } from "./helpers/schemas";

const ctx: PolicyContext = {
  access: {
    group: "forkstack-forkers",
    namespaces: { shop: { serviceAccounts: ["default"] }, payments: { serviceAccounts: ["fork-runner"], secrets: ["payments-config"] } },
    principals: [],
    // alice@example.com (the helper's default user) owns alice and alice-*, bob@example.com owns bob, CI every pr-*.
    owners: [
      { ids: ["alice", "alice-*"], users: ["alice@example.com"], groups: [], serviceAccounts: [] },
      { ids: ["bob"], users: ["bob@example.com"], groups: [], serviceAccounts: [] },
      { ids: ["pr-*"], users: [], groups: ["forkstack-ci"], serviceAccounts: [] },
    ],
    maxContainerResources: { cpu: "2", memory: "4Gi" },
  },
  headerName: "x-fork-identifier",
  gatewayNamespace: "emissary",
  ambassadorId: "fork-proxy-ambassador",
  upstreams: [
    { host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } },
    // Nested under the first: fork "admin" of shop would be this shared host.
    { host: "admin.shop.dev.example.com", service: { name: "admin", namespace: "shop", port: 80 } },
  ],
  hostScheme: "subdomain",
  domain: "dev.example.com",
  maxForkReplicas: 3,
};
/** The RBAC objects the authorizer answers ownership from, as the base stack creates them. */
const RBAC = [...forkRoles(ctx), ...forkRoleBindings(ctx)];

const EXAMPLES = path.join(__dirname, "..", "examples");
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));
const APP_VS = YAML.parse(fs.readFileSync(path.join(__dirname, "fixtures", "live", "shop-api-virtualservice.yaml"), "utf8")) as KubeObject;
const claim = (forkId: string) => ({ forkId, headerName: "x-fork-identifier", service: { name: "api", namespace: "shop" }, targetHost: `api-${forkId}.shop.svc.cluster.local` });

let objects: KubeObject[];
beforeAll(async () => {
  const render = await renderStacks({ stacks: ["dev", "alice"], configDir: EXAMPLES, clusterFiles: [path.join(EXAMPLES, "cluster", "shop.yaml")] });
  objects = render.cluster.all();
});
const find = (kind: string, name: string) => clone(objects.find((o) => o.kind === kind && o.metadata.name === name)!);
const shared = (kind: string, name: string) => find(kind, name);
const aliceMapping = () => clone(objects.find((o) => o.kind === "Mapping" && o.metadata.labels?.[LABELS.fork] === "alice")!);

const policies = { workloads: workloadPolicy(ctx), routes: routePolicy(ctx), mappings: mappingPolicy(ctx), turns: turnPolicy(ctx) };
const check = (policy: KubeObject, req: AdmissionRequest) => admit(policy, { rbac: RBAC, ...req });
const refused = (policy: KubeObject, req: AdmissionRequest, message: RegExp) => {
  const verdict = check(policy, req);
  expect(verdict).toEqual({ allowed: false, message: expect.stringMatching(message) });
};

describe("what forkstack creates passes the fork group's policies", () => {
  it("the fork's copies of api", () => {
    for (const kind of ["Deployment", "Service"]) {
      expect(check(policies.workloads, { operation: "CREATE", object: find(kind, "api-alice") })).toEqual({ allowed: true, applied: true });
    }
  });

  it("the fork's Mapping", () => {
    expect(check(policies.mappings, { operation: "CREATE", object: aliceMapping() })).toEqual({ allowed: true, applied: true });
  });

  it("a fork route added to an app team's VirtualService, and removed again", () => {
    const withAlice = addForkRoutes(clone(APP_VS), claim("alice"));
    expect(check(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: withAlice })).toEqual({ allowed: true, applied: true });
    const removed = removeForkRoutes(withAlice, "alice");
    expect(removed.action).toBe("update");
    const back = (removed as { virtualService: KubeObject }).virtualService;
    expect(check(policies.routes, { operation: "UPDATE", oldObject: withAlice, object: back })).toEqual({ allowed: true, applied: true });
  });

  it("a VirtualService forkstack creates for a service without one, and its deletion when the last fork leaves", () => {
    const created = addForkRoutes(undefined, claim("alice"));
    expect(check(policies.routes, { operation: "CREATE", object: created })).toEqual({ allowed: true, applied: true });
    expect(check(policies.routes, { operation: "DELETE", oldObject: created })).toEqual({ allowed: true, applied: true });
  });

  it("a second fork's route next to the first, written by its owner", () => {
    const withAlice = addForkRoutes(clone(APP_VS), claim("alice"));
    expect(check(policies.routes, { operation: "UPDATE", oldObject: withAlice, object: addForkRoutes(withAlice, claim("bob")), username: "bob@example.com" })).toEqual({ allowed: true, applied: true });
  });

  it("the Lease a fork takes its turn with, renewed and deleted", () => {
    const lease = turnLease({ service: { name: "api", namespace: "shop" }, holder: "alice/x1" }, 15, Date.now());
    for (const req of [{ operation: "CREATE", object: lease }, { operation: "UPDATE", oldObject: lease, object: lease }, { operation: "DELETE", oldObject: lease }] as AdmissionRequest[]) {
      expect([req.operation, check(policies.turns, req)]).toEqual([req.operation, { allowed: true, applied: true }]);
    }
  });
});

describe("the JSON Patches of a fork's route writes pass the policies (the API server admits a PATCH as an UPDATE of the patched object)", () => {
  const patched = (vs: KubeObject, w: RouteWrite) => {
    if (w.kind !== "patch") throw new Error(`expected a patch, got ${w.kind}`);
    return applyJsonPatch(vs, w.ops);
  };
  const withBob = addForkRoutes(clone(APP_VS), claim("bob"));

  it("inserting a fork's routes above the others", () => {
    expect(check(policies.routes, { operation: "UPDATE", oldObject: withBob, object: patched(withBob, addRoutesWrite(withBob, claim("alice"))) })).toEqual({ allowed: true, applied: true });
  });

  it("changing them in place", () => {
    const both = patched(withBob, addRoutesWrite(withBob, claim("alice")));
    const retargeted = patched(both, addRoutesWrite(both, { ...claim("alice"), targetHost: "api-alice-2.shop.svc.cluster.local" }));
    expect(check(policies.routes, { operation: "UPDATE", oldObject: both, object: retargeted })).toEqual({ allowed: true, applied: true });
  });

  it("removing them", () => {
    const both = patched(withBob, addRoutesWrite(withBob, claim("alice")));
    expect(check(policies.routes, { operation: "UPDATE", oldObject: both, object: patched(both, removeRoutesWrite(both, "alice", "x-fork-identifier")) })).toEqual({ allowed: true, applied: true });
  });

  it("retiring them (the rename a fork leaving next to other forks makes first), and removing the retired routes", () => {
    const both = patched(withBob, addRoutesWrite(withBob, claim("alice")));
    const retired = patched(both, releaseRoutesWrite(both, "alice", "x-fork-identifier"));
    const swept = patched(retired, releaseRoutesWrite(retired, "alice", "x-fork-identifier"));
    expect([
      check(policies.routes, { operation: "UPDATE", oldObject: both, object: retired }),
      check(policies.routes, { operation: "UPDATE", oldObject: retired, object: swept }),
    ]).toEqual([
      { allowed: true, applied: true },
      { allowed: true, applied: true },
    ]);
  });

  it("removing the retired routes other forks left, with its own as the last live fork, or after adding its own", () => {
    const both = patched(withBob, addRoutesWrite(withBob, claim("alice")));
    const bobRetired = patched(both, releaseRoutesWrite(both, "bob", "x-fork-identifier"));
    const lastOut = patched(bobRetired, releaseRoutesWrite(bobRetired, "alice", "x-fork-identifier"));
    const carolIn = patched(bobRetired, addRoutesWrite(bobRetired, claim("carol")));
    const carolSwept = patched(carolIn, sweepRetiredWrite(carolIn, "x-fork-identifier"));
    expect([
      check(policies.routes, { operation: "UPDATE", oldObject: bobRetired, object: lastOut }),
      check(policies.routes, { operation: "UPDATE", oldObject: carolIn, object: carolSwept }),
    ]).toEqual([
      { allowed: true, applied: true },
      { allowed: true, applied: true },
    ]);
  });

  it("deleting forkstack's VirtualService once its last route is gone", () => {
    const created = addForkRoutes(undefined, claim("alice"));
    const empty = { ...created, spec: { ...(created.spec as object), http: (created.spec as any).http.filter((r: any) => r.name === "default") } };
    expect(check(policies.routes, { operation: "DELETE", oldObject: empty })).toEqual({ allowed: true, applied: true });
  });
});

describe("what a fork may never do is refused by the API server", () => {
  it("change a shared route", () => {
    const before = addForkRoutes(clone(APP_VS), claim("alice"));
    const after = clone(before);
    const app = (after.spec as any).http.find((r: any) => !String(r.name).startsWith("forkstack-"));
    app.route = [{ destination: { host: "api-alice.shop.svc.cluster.local" } }];
    refused(policies.routes, { operation: "UPDATE", oldObject: before, object: after }, /a fork may add, change or remove only its own routes/);
  });

  it("reorder shared routes", () => {
    const after = clone(APP_VS);
    (after.spec as any).http.reverse();
    refused(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: after }, /the other routes must stay as they are, in order/);
  });

  it("add a catch-all route dressed as a fork route", () => {
    const after = clone(APP_VS);
    (after.spec as any).http.unshift({ name: "forkstack-alice", route: [{ destination: { host: "api-alice.shop.svc.cluster.local" } }] });
    refused(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: after }, /only its own routes/);
  });

  it("add a route named for one fork that matches another fork's header", () => {
    const after = clone(APP_VS);
    (after.spec as any).http.unshift({ name: "forkstack-alice", match: [{ headers: { "x-fork-identifier": { exact: "bob" } } }], route: [{ destination: { host: "api-alice.shop.svc.cluster.local" } }] });
    refused(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: after }, /only its own routes/);
  });

  it("change the hosts of a shared VirtualService", () => {
    const after = addForkRoutes(clone(APP_VS), claim("alice"));
    (after.spec as any).hosts = ["api", "cart"];
    refused(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: after }, /hosts, gateways, tcp, tls, exportTo, labels and annotations must stay/);
  });

  it("add a fork route that delegates", () => {
    const after = clone(APP_VS);
    (after.spec as any).http.unshift({ name: "forkstack-alice", match: [{ headers: { "x-fork-identifier": { exact: "alice" } } }], delegate: { name: "api-routes", namespace: "shop" } });
    refused(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: after }, /may not delegate/);
  });

  it("add a fork route to a gateway-bound VirtualService without gateways: [mesh]", () => {
    const bound = clone(APP_VS);
    (bound.spec as any).gateways = ["mesh", "shop/public-gw"];
    const after = clone(bound);
    (after.spec as any).http.unshift({ name: "forkstack-alice", match: [{ headers: { "x-fork-identifier": { exact: "alice" } } }], route: [{ destination: { host: "api-alice.shop.svc.cluster.local" } }] });
    refused(policies.routes, { operation: "UPDATE", oldObject: bound, object: after }, /every match of a fork route applies to the mesh only \(gateways: \[mesh\], required where the VirtualService is bound to a gateway\)/);
    (after.spec as any).http[0].match[0].gateways = ["mesh"];
    expect(check(policies.routes, { operation: "UPDATE", oldObject: bound, object: after })).toMatchObject({ allowed: true });
  });

  it("delete an app team's VirtualService", () => {
    refused(policies.routes, { operation: "DELETE", oldObject: clone(APP_VS) }, /may delete only a VirtualService forkstack created/);
  });

  it("create a VirtualService that routes shared traffic elsewhere", () => {
    const created = addForkRoutes(undefined, claim("alice"));
    (created.spec as any).http[1].route = [{ destination: { host: "api-alice.shop.svc.cluster.local" } }];
    refused(policies.routes, { operation: "CREATE", object: created }, /a fork may create only forkstack's VirtualService: one host <service>.shop.svc.cluster.local/);
  });

  it("delete a shared Service", () => {
    refused(policies.workloads, { operation: "DELETE", oldObject: shared("Service", "api") }, /^Service shop\/api is shared \(no forkstack.dev\/fork label\): a fork may not change or delete it$/);
  });

  it("change a shared Deployment", () => {
    const after = shared("Deployment", "api");
    (after.spec as any).template.spec.containers[0].image = "evil:1";
    refused(policies.workloads, { operation: "UPDATE", oldObject: shared("Deployment", "api"), object: after }, /^Deployment shop\/api is shared/);
  });

  it("take a shared Service over by labelling it", () => {
    const after = shared("Service", "api");
    after.metadata.labels = { ...after.metadata.labels, [LABELS.fork]: "alice" };
    refused(policies.workloads, { operation: "UPDATE", oldObject: shared("Service", "api"), object: after }, /is shared/);
  });

  it("move a copy to another fork", () => {
    const after = find("Deployment", "api-alice");
    after.metadata.labels = { ...after.metadata.labels, [LABELS.fork]: "bob" };
    refused(policies.workloads, { operation: "UPDATE", oldObject: find("Deployment", "api-alice"), object: after }, /belongs to fork alice: its forkstack.dev\/fork label may not change/);
  });

  it("create a Deployment whose pods do not carry the fork label", () => {
    const copy = find("Deployment", "api-alice");
    delete (copy.spec as any).template.metadata.labels[LABELS.fork];
    refused(policies.workloads, { operation: "CREATE", object: copy }, /the pods of a fork's Deployment must carry forkstack.dev\/fork: alice/);
  });

  it("create an unlabelled Service", () => {
    const svc = find("Service", "api-alice");
    delete svc.metadata.labels![LABELS.fork];
    refused(policies.workloads, { operation: "CREATE", object: svc }, /^a fork may create only objects labelled forkstack.dev\/fork; Service shop\/api-alice has no such label$/);
  });

  it("run a copy as a ServiceAccount the namespace does not allow", () => {
    const copy = find("Deployment", "api-alice");
    copy.metadata.namespace = "payments";
    copy.metadata.name = "payments-alice";
    (copy.spec as any).template.spec.serviceAccountName = "payments-admin";
    refused(policies.workloads, { operation: "CREATE", object: copy }, /must run as one of fork-runner \(the ServiceAccounts forks may use in payments\)/);
    (copy.spec as any).template.spec.serviceAccountName = "fork-runner";
    expect(check(policies.workloads, { operation: "CREATE", object: copy })).toMatchObject({ allowed: true });
  });

  it("create a copy in a namespace that is not forkable", () => {
    const copy = find("Deployment", "api-alice");
    copy.metadata.namespace = "billing";
    refused(policies.workloads, { operation: "CREATE", object: copy }, /^namespace billing is not forkable$/);
  });

  it("take over, renew or delete an app's leader-election Lease", () => {
    const leader = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "payments-controller-leader", namespace: "payments" }, spec: { holderIdentity: "payments-7d9f" } };
    for (const req of [{ operation: "CREATE", object: leader }, { operation: "UPDATE", oldObject: leader, object: { ...leader, spec: { holderIdentity: "alice" } } }, { operation: "DELETE", oldObject: leader }] as AdmissionRequest[]) {
      refused(policies.turns, req, /^Lease payments\/payments-controller-leader: a fork may write only the Leases forks take turns with \(forkstack-routes\.<service>\)$/);
    }
  });

  it("create a Mapping for a shared host", () => {
    const m = aliceMapping();
    (m.spec as any).hostname = "shop.dev.example.com";
    refused(policies.mappings, { operation: "CREATE", object: m }, /hostname shop.dev.example.com is not a fork hostname of alice/);
  });

  it("create a Mapping for another fork's host", () => {
    const m = aliceMapping();
    (m.spec as any).hostname = "bob.shop.dev.example.com";
    refused(policies.mappings, { operation: "CREATE", object: m }, /is not a fork hostname of alice/);
  });

  it("create a Mapping without the fork header, or one a client could append to", () => {
    const without = aliceMapping();
    delete (without.spec as any).add_request_headers["x-fork-identifier"];
    refused(policies.mappings, { operation: "CREATE", object: without }, /must set x-fork-identifier: alice with append: false/);
    const appending = aliceMapping();
    (appending.spec as any).add_request_headers["x-fork-identifier"].append = true;
    refused(policies.mappings, { operation: "CREATE", object: appending }, /with append: false/);
  });

  it("delete the shared host's Mapping", () => {
    const sharedMapping = clone(objects.find((o) => o.kind === "Mapping" && o.metadata.labels?.[LABELS.fork] === undefined)!);
    refused(policies.mappings, { operation: "DELETE", oldObject: sharedMapping }, /is not this fork's/);
  });
});

describe("scope", () => {
  it("leaves requests of users outside the fork group to RBAC alone", () => {
    expect(check(policies.workloads, { operation: "DELETE", oldObject: shared("Service", "api"), groups: ["platform-admins"] })).toEqual({ allowed: true, applied: false });
  });

  it("flat host scheme: a fork may claim <fork>--<label>.<domain> only", () => {
    const flat = mappingPolicy({ ...ctx, hostScheme: "flat" });
    const m = aliceMapping();
    (m.spec as any).hostname = "alice--shop.dev.example.com";
    expect(check(flat, { operation: "CREATE", object: m })).toMatchObject({ allowed: true });
    (m.spec as any).hostname = "alice.shop.dev.example.com";
    refused(flat, { operation: "CREATE", object: m }, /is not a fork hostname of alice/);
  });
});

describe("RBAC and policy objects", () => {
  it("are valid for the API server's schemas", () => {
    for (const o of [...forkRoles(ctx), ...forkRoleBindings(ctx), ...forkPolicies(ctx)]) validateAgainstSchema(o);
  });

  it("bind the fork role in each forkable namespace and the Mapping role in the gateway namespace only", () => {
    const bindings = forkRoleBindings(ctx).filter((b) => b.kind === "RoleBinding");
    expect(bindings.map((b) => `${b.metadata.namespace}/${(b as any).roleRef.name}`)).toEqual(["payments/forkstack-fork", "shop/forkstack-fork", "emissary/forkstack-fork-mappings"]);
  });

  it("grant patch on VirtualServices in forkable namespaces (route writes are JSON Patches), read-only elsewhere", () => {
    const verbs = (name: string) => ((forkRoles(ctx).find((r) => r.metadata.name === name) as any).rules as any[]).find((r) => r.resources.includes("virtualservices")).verbs;
    expect([verbs("forkstack-fork").includes("patch"), verbs("forkstack-fork-read")]).toEqual([true, ["get", "list", "watch"]]);
  });

  it("grant no verb on Secrets, RBAC, namespaces' contents outside the listed kinds, or admission objects", () => {
    const resources = forkRoles(ctx).flatMap((r) => ((r as any).rules as any[]).flatMap((rule) => rule.resources as string[]));
    for (const forbidden of ["secrets", "roles", "rolebindings", "clusterroles", "validatingadmissionpolicies", "configmaps", "*"]) expect(resources).not.toContain(forbidden);
  });
});

/**
 * What a hostile member of the fork group sends with raw requests, class by class (issue 24): the
 * policies judge the whole object and who asks, not what forkstack itself would write.
 */
describe("a hostile member's requests are refused", () => {
  const ok = { allowed: true, applied: true };
  const created = () => addForkRoutes(undefined, claim("alice"));
  const cart = () => {
    const vs = addForkRoutes(undefined, { ...claim("alice"), service: { name: "cart", namespace: "shop" } });
    return vs;
  };
  const spec = (o: KubeObject) => o.spec as any;

  describe("class 1: a VirtualService a fork creates has exactly forkstack's shape", () => {
    it("admits forkstack's own (one fork route above the default route to its own host)", () => {
      expect(check(policies.routes, { operation: "CREATE", object: cart() })).toEqual(ok);
    });

    const shapes: Array<[string, (vs: any) => void]> = [
      ["a wildcard host covering every service of the namespace", (vs) => (vs.spec.hosts = ["*.shop.svc.cluster.local"])],
      ["a host of another namespace", (vs) => (vs.spec.hosts = ["ledger.billing.svc.cluster.local"])],
      ["two hosts", (vs) => vs.spec.hosts.push("api.shop.svc.cluster.local")],
      ["exportTo everywhere", (vs) => (vs.spec.exportTo = ["*"])],
      ["a gateways list", (vs) => (vs.spec.gateways = ["mesh", "shop/public-gw"])],
      ["a tcp section", (vs) => (vs.spec.tcp = [{ route: [{ destination: { host: "cart-alice.shop.svc.cluster.local" } }] }])],
      ["a tls section", (vs) => (vs.spec.tls = [{ match: [{ sniHosts: ["cart"] }], route: [{ destination: { host: "cart-alice.shop.svc.cluster.local" } }] }])],
      ["only a fork route, no default route", (vs) => vs.spec.http.pop()],
      ["a default route with a fault abort", (vs) => (vs.spec.http[1].fault = { abort: { httpStatus: 503, percentage: { value: 100 } } })],
      ["a default route that mirrors shared traffic", (vs) => (vs.spec.http[1].mirror = { host: "cart-alice.shop.svc.cluster.local" })],
      ["a default route that redirects", (vs) => (vs.spec.http[1] = { name: "default", redirect: { uri: "/x", authority: "evil.example.com" } })],
      ["a default route answering directly", (vs) => (vs.spec.http[1] = { name: "default", directResponse: { status: 503 } })],
      ["a default route with no destination", (vs) => (vs.spec.http[1].route = [])],
      ["a default route that re-tags shared users as a fork", (vs) => (vs.spec.http[1].headers = { request: { set: { "x-fork-identifier": "alice" } } })],
      ["a default route to the fork's copy", (vs) => (vs.spec.http[1].route = [{ destination: { host: "cart-alice.shop.svc.cluster.local" } }])],
      ["an app route above the default", (vs) => vs.spec.http.splice(1, 0, { name: "canary", route: [{ destination: { host: "cart.shop.svc.cluster.local", subset: "v2" } }] })],
      ["an extra label", (vs) => (vs.metadata.labels["istio.io/rev"] = "canary")],
      ["no created-by annotation", (vs) => delete vs.metadata.annotations],
      ["an ownerReference", (vs) => (vs.metadata.ownerReferences = [{ apiVersion: "v1", kind: "Service", name: "cart", uid: "u-1" }])],
    ];
    for (const [name, mutate] of shapes) {
      it(`refuses ${name}`, () => {
        const vs = clone(cart()) as any;
        mutate(vs);
        expect(check(policies.routes, { operation: "CREATE", object: vs })).toMatchObject({ allowed: false });
      });
    }

    it("refuses a new VirtualService holding another fork's route", () => {
      const bobs = addForkRoutes(undefined, { ...claim("bob"), service: { name: "cart", namespace: "shop" } });
      refused(policies.routes, { operation: "CREATE", object: bobs }, /fork bob is not owned by alice@example.com/);
    });

    it("refuses deleting forkstack's VirtualService while another fork's live route is in it, and allows it once that route is retired", () => {
      const bobs = addForkRoutes(undefined, claim("bob"));
      refused(policies.routes, { operation: "DELETE", oldObject: bobs }, /fork bob is not owned by alice@example.com/);
      const both = addForkRoutes(created(), claim("bob"));
      refused(policies.routes, { operation: "DELETE", oldObject: both }, /one write changes the routes of one fork only; this one changes routes of bob, alice/);
      const bobRetired = clone(both) as any;
      bobRetired.spec.http.find((r: any) => r.name === "forkstack-bob").name = "forkstack-bob--gone";
      expect(check(policies.routes, { operation: "DELETE", oldObject: bobRetired })).toEqual(ok);
    });
  });

  it("refuses deleting forkstack's VirtualService once the platform gave it more than forkstack's shape", () => {
    const bound = clone(cart()) as any;
    bound.spec.http = bound.spec.http.filter((r: any) => r.name === "default");
    expect(check(policies.routes, { operation: "DELETE", oldObject: bound })).toEqual(ok);
    bound.spec.gateways = ["mesh", "shop/public-gw"];
    refused(policies.routes, { operation: "DELETE", oldObject: bound }, /may delete only a VirtualService forkstack created/);
  });

  describe("class 2: metadata of shared objects", () => {
    it("refuses ownerReferences on an app team's VirtualService (the garbage collector would delete it)", () => {
      const after = clone(APP_VS);
      after.metadata.ownerReferences = [{ apiVersion: "apps/v1", kind: "Deployment", name: "api-alice", uid: "u-2" }];
      refused(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: after }, /may not set or change ownerReferences or finalizers/);
    });

    it("refuses finalizers on an app team's VirtualService, even with a fork route in the same write", () => {
      const after = addForkRoutes(clone(APP_VS), claim("alice"));
      after.metadata.finalizers = ["example.com/hold"];
      refused(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: after }, /may not set or change ownerReferences or finalizers/);
    });

    it("refuses finalizers on a fork's own copy", () => {
      const copy = find("Service", "api-alice");
      copy.metadata.finalizers = ["example.com/hold"];
      refused(policies.workloads, { operation: "CREATE", object: copy }, /may not set or change ownerReferences or finalizers/);
    });
  });

  describe("class 3: what a copy may run", () => {
    const copy = () => find("Deployment", "api-alice") as any;
    const pod = (d: any) => d.spec.template.spec;
    const cases: Array<[string, (d: any) => void, RegExp]> = [
      ["the node's network", (d) => (pod(d).hostNetwork = true), /node's network, PID or IPC namespace/],
      ["the node's PIDs", (d) => (pod(d).hostPID = true), /node's network, PID or IPC namespace/],
      ["the node's IPC", (d) => (pod(d).hostIPC = true), /node's network, PID or IPC namespace/],
      ["a hostPath of /", (d) => (pod(d).volumes = [{ name: "root", hostPath: { path: "/" } }]), /hostPath/],
      ["a privileged container", (d) => (pod(d).containers[0].securityContext = { privileged: true }), /privileged or add capabilities/],
      ["an init container with SYS_ADMIN", (d) => (pod(d).initContainers = [{ name: "i", image: "busybox", securityContext: { capabilities: { add: ["SYS_ADMIN"] } } }]), /privileged or add capabilities/],
      ["a hostPort", (d) => (pod(d).containers[0].ports = [{ containerPort: 80, hostPort: 80 }]), /hostPort/],
      ["seccomp Unconfined", (d) => (pod(d).securityContext = { seccompProfile: { type: "Unconfined" } }), /unconfined/],
      ["an unmasked /proc", (d) => (pod(d).containers[0].securityContext = { procMount: "Unmasked" }), /unconfined/],
      ["an unsafe sysctl", (d) => (pod(d).securityContext = { sysctls: [{ name: "kernel.core_pattern", value: "|/x" }] }), /unconfined/],
      ["AppArmor unconfined by annotation", (d) => (d.spec.template.metadata.annotations = { "container.apparmor.security.beta.kubernetes.io/api": "unconfined" }), /unconfined/],
      ["an SELinux type outside baseline", (d) => (pod(d).containers[0].securityContext = { seLinuxOptions: { type: "spc_t" } }), /unconfined/],
      ["a Windows host process", (d) => (pod(d).securityContext = { windowsOptions: { hostProcess: true } }), /unconfined/],
      ["a ServiceAccount the namespace does not list", (d) => (pod(d).serviceAccountName = "shop-deployer"), /must run as one of default/],
      ["the deprecated serviceAccount field", (d) => (pod(d).serviceAccount = "shop-deployer"), /must run as one of default/],
      ["pods carrying the shared Service's selector value", (d) => (d.spec.template.metadata.labels.app = "api"), /every pod label value of a copy ends in -forkstack-alice/],
      ["pods carrying another label's shared value", (d) => (d.spec.template.metadata.labels["app.kubernetes.io/name"] = "api"), /ends in -forkstack-alice/],
      // A shared value that merely ends in -<fork> (fork alice-api, shared app web-alice-api) is not a fork's.
      ["pods carrying a shared value that ends in -<fork>", (d) => (d.spec.template.metadata.labels.app = "web-alice"), /ends in -forkstack-alice/],
      ["a selector without the fork label", (d) => delete d.spec.selector.matchLabels["forkstack.dev/fork"], /selector and the pods of a fork's Deployment/],
      ["50 replicas", (d) => (d.spec.replicas = 50), /at most 3 replicas/],
      ["64 CPUs", (d) => (pod(d).containers[0].resources = { requests: { cpu: "64" } }), /at most cpu 2 and memory 4Gi/],
      ["a 100Gi memory limit", (d) => (pod(d).containers[0].resources = { limits: { memory: "100Gi" } }), /at most cpu 2 and memory 4Gi/],
      ["a priority class", (d) => (pod(d).priorityClassName = "system-node-critical"), /may not set a priority/],
      ["a shared name", (d) => (d.metadata.name = "payments"), /name of a fork's copy ends in -alice/],
    ];
    for (const [name, mutate, message] of cases) {
      it(`refuses a copy with ${name}`, () => {
        const d = copy();
        mutate(d);
        refused(policies.workloads, { operation: "CREATE", object: d }, message);
      });
    }

    for (const [key, value] of [
      ["sidecar.istio.io/userVolume", '{"host":{"hostPath":{"path":"/"}}}'],
      ["sidecar.istio.io/proxyImage", "evil.example.com/proxy:1"],
      ["sidecar.istio.io/interceptionMode", "TPROXY"],
      ["inject.istio.io/templates", "evil"],
      ["seccomp.security.alpha.kubernetes.io/pod", "unconfined"],
    ]) {
      it(`refuses a copy whose pods carry ${key} (Istio's injector, or a legacy profile, would give them more than their spec)`, () => {
        const d = copy();
        d.spec.template.metadata.annotations = { ...(d.spec.template.metadata.annotations ?? {}), [key]: value };
        refused(policies.workloads, { operation: "CREATE", object: d }, /a copy's pods may not carry sidecar.istio.io\/userVolume/);
      });
    }

    it("admits the Istio annotations copies carry from shared pods", () => {
      const d = copy();
      d.spec.template.metadata.annotations = { "sidecar.istio.io/inject": "true", "proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}', "prometheus.io/scrape": "true" };
      expect(check(policies.workloads, { operation: "CREATE", object: d })).toEqual(ok);
    });

    it("refuses a required pod anti-affinity that could keep shared pods from scheduling, and admits one scoped to the fork", () => {
      const term = (labelSelector: object, extra: object = {}) => ({ topologyKey: "topology.kubernetes.io/zone", labelSelector, ...extra });
      const withTerm = (t: object) => {
        const d = copy();
        pod(d).affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [t] } };
        return d;
      };
      for (const t of [
        term({ matchExpressions: [{ key: "app", operator: "Exists" }] }, { namespaceSelector: {} }),
        term({ matchLabels: { app: "api" } }),
        term({ matchLabels: { [LABELS.fork]: "alice" } }, { namespaces: ["payments"] }),
      ]) {
        refused(policies.workloads, { operation: "CREATE", object: withTerm(t) }, /required pod anti-affinity may select only its fork's pods/);
      }
      expect(check(policies.workloads, { operation: "CREATE", object: withTerm(term({ matchLabels: { [LABELS.fork]: "alice", app: "api-forkstack-alice" } })) })).toEqual(ok);
    });

    it("refuses deleting a copy so that its ReplicaSet is orphaned (it would keep running)", () => {
      for (const options of [{ propagationPolicy: "Orphan" }, { orphanDependents: true }]) {
        refused(policies.workloads, { operation: "DELETE", oldObject: copy(), options }, /may not orphan what its objects own/);
      }
      expect(check(policies.workloads, { operation: "DELETE", oldObject: copy(), options: { propagationPolicy: "Background" } })).toEqual(ok);
    });

    it("refuses a fork Service that carries Emissary configuration (or any annotation but Istio's, forkstack's and Pulumi's)", () => {
      const svc = find("Service", "api-alice") as any;
      svc.metadata.annotations = { ...(svc.metadata.annotations ?? {}), "getambassador.io/config": "apiVersion: getambassador.io/v3alpha1\nkind: Mapping\nname: takeover\nhostname: shop.dev.example.com" };
      refused(policies.workloads, { operation: "CREATE", object: svc }, /may carry only Istio's, forkstack's and Pulumi's annotations/);
      svc.metadata.annotations = { "networking.istio.io/exportTo": ".", "pulumi.com/skipAwait": "true", [LABELS.stack]: "organization/forkstack/alice" };
      expect(check(policies.workloads, { operation: "CREATE", object: svc })).toEqual(ok);
    });

    it("refuses the same on an update of the fork's own copy", () => {
      const d = copy();
      pod(d).hostNetwork = true;
      refused(policies.workloads, { operation: "UPDATE", oldObject: copy(), object: d }, /node's network/);
    });

    it("admits baseline's allowed capabilities, quantities under the ceiling and the mesh enrolment label", () => {
      const d = copy();
      pod(d).containers[0].securityContext = { capabilities: { add: ["NET_BIND_SERVICE"] }, seccompProfile: { type: "RuntimeDefault" } };
      pod(d).containers[0].resources = { requests: { cpu: "1500m", memory: "512Mi" }, limits: { cpu: "2", memory: "4Gi" } };
      d.spec.template.metadata.labels["sidecar.istio.io/inject"] = "true";
      expect(check(policies.workloads, { operation: "CREATE", object: d })).toEqual(ok);
    });

    describe("in a namespace that lists the Secrets copies may use", () => {
      const inPayments = () => {
        const d = copy();
        d.metadata.namespace = "payments";
        d.metadata.name = "payments-alice";
        pod(d).serviceAccountName = "fork-runner";
        return d;
      };
      const secretUses: Array<[string, (d: any, name: string) => void]> = [
        ["a secret volume", (d, name) => (pod(d).volumes = [{ name: "s", secret: { secretName: name } }])],
        ["a projected secret", (d, name) => (pod(d).volumes = [{ name: "s", projected: { sources: [{ secret: { name } }] } }])],
        ["an env secretKeyRef", (d, name) => (pod(d).containers[0].env = [{ name: "K", valueFrom: { secretKeyRef: { name, key: "k" } } }])],
        ["an envFrom secretRef", (d, name) => (pod(d).containers[0].envFrom = [{ secretRef: { name } }])],
        ["an imagePullSecret", (d, name) => (pod(d).imagePullSecrets = [{ name }])],
      ];
      for (const [name, use] of secretUses) {
        it(`refuses ${name} of an unlisted Secret and admits the listed one`, () => {
          const bad = inPayments();
          use(bad, "payments-db-root");
          refused(policies.workloads, { operation: "CREATE", object: bad }, /may use only the Secrets payments-config/);
          const good = inPayments();
          use(good, "payments-config");
          expect(check(policies.workloads, { operation: "CREATE", object: good })).toEqual(ok);
        });
      }
    });

    it("says a namespace that lists no Secret allows none", () => {
      const none = workloadPolicy({ ...ctx, access: { ...ctx.access, namespaces: { ...ctx.access.namespaces, shop: { serviceAccounts: ["default"], secrets: [] } } } });
      const d = copy();
      pod(d).volumes = [{ name: "s", secret: { secretName: "shop-secret" } }];
      expect(check(none, { operation: "CREATE", object: d })).toEqual({ allowed: false, message: expect.stringMatching(/a copy in shop may use no Secret \(forkstack:forkAccess.namespaces.shop.secrets\)$/) });
    });

    const services: Array<[string, (s: any) => void]> = [
      ["a LoadBalancer", (s) => (s.spec.type = "LoadBalancer")],
      ["a NodePort", (s) => (s.spec.type = "NodePort")],
      ["externalIPs (CVE-2020-8554)", (s) => (s.spec.externalIPs = ["10.0.0.1"])],
      ["an ExternalName", (s) => (s.spec = { type: "ExternalName", externalName: "vault.internal" })],
      ["a selector without the fork label (it would select shared pods)", (s) => (s.spec.selector = { app: "api" })],
    ];
    for (const [name, mutate] of services) {
      it(`refuses a fork Service that is ${name}`, () => {
        const svc = find("Service", "api-alice") as any;
        mutate(svc);
        refused(policies.workloads, { operation: "CREATE", object: svc }, /a fork's Service is a ClusterIP Service without externalIPs that selects forkstack.dev\/fork: alice/);
      });
    }
  });

  describe("class 4: Mappings", () => {
    const anyOwner = (policy: KubeObject, req: AdmissionRequest) => admit(policy, req); // no rbac: every id owned

    it("refuses a fork named like the first label of a nested upstream (fork admin + shop = the shared admin host)", () => {
      const m = aliceMapping() as any;
      m.metadata.labels[LABELS.fork] = "admin";
      m.spec.hostname = "admin.shop.dev.example.com";
      m.spec.add_request_headers["x-fork-identifier"].value = "admin";
      expect(anyOwner(policies.mappings, { operation: "CREATE", object: m })).toEqual({ allowed: false, message: expect.stringMatching(/hostname admin.shop.dev.example.com is not a fork hostname of admin; .*never a shared one/) });
    });

    const targets = ["vault.secrets:8200", "kubernetes.default:443", "api.shop:80", "api-bob.shop:80", "api-alice.billing:80", "https://api-alice.shop:80"];
    for (const target of targets) {
      it(`refuses a fork Mapping to ${target}`, () => {
        const m = aliceMapping() as any;
        m.spec.service = target;
        refused(policies.mappings, { operation: "CREATE", object: m }, /is neither an upstream's entry Service nor a copy of fork alice/);
      });
    }

    it("admits a fork Mapping to the fork's copy of the entry service", () => {
      const m = aliceMapping() as any;
      m.spec.service = "frontend-alice.shop:80";
      expect(check(policies.mappings, { operation: "CREATE", object: m })).toEqual(ok);
    });

    for (const field of ["bypass_auth", "envoy_override", "shadow", "host_regex", "regex_headers", "precedence", "weight"]) {
      it(`refuses a fork Mapping that sets ${field}`, () => {
        const m = aliceMapping() as any;
        m.spec[field] = field === "precedence" || field === "weight" ? 100 : field === "regex_headers" ? { ":authority": ".*" } : true;
        refused(policies.mappings, { operation: "CREATE", object: m }, /a fork's Mapping may set only ambassador_id, hostname/);
      });
    }

    for (const [name, headers] of [
      ["the fork header spelt in capitals (Envoy lower-cases it, and the second may win)", { "X-Fork-Identifier": { value: "bob", append: false } }],
      ["a pseudo-header", { ":path": { value: "/admin", append: false } }],
      ["host", { host: { value: "shop.dev.example.com", append: false } }],
      ["a hop-by-hop header", { connection: { value: "close", append: false } }],
    ] as const) {
      it(`refuses a fork Mapping that adds ${name}`, () => {
        const m = aliceMapping() as any;
        Object.assign(m.spec.add_request_headers, headers);
        refused(policies.mappings, { operation: "CREATE", object: m }, /may add only lowercase header names that are not x-fork-identifier spelt otherwise, host or hop-by-hop/);
      });
    }

    it("admits a fork Mapping that adds the fork's own headers, and refuses a prefix that is not a path", () => {
      const m = aliceMapping() as any;
      m.spec.add_request_headers["x-feature-flags"] = { value: "new-checkout=on", append: false };
      expect(check(policies.mappings, { operation: "CREATE", object: m })).toEqual(ok);
      m.spec.prefix = "admin";
      refused(policies.mappings, { operation: "CREATE", object: m }, /prefix is a path starting with \//);
    });

    it("refuses a fork id the config would refuse (checked on the server too)", () => {
      const m = aliceMapping() as any;
      m.metadata.labels[LABELS.fork] = "Alice_1";
      expect(anyOwner(policies.mappings, { operation: "CREATE", object: m })).toEqual({ allowed: false, message: expect.stringMatching(/Alice_1 is not a fork id/) });
    });
  });

  describe("class 5: forks are owned", () => {
    const asBob = (req: AdmissionRequest): AdmissionRequest => ({ username: "bob@example.com", ...req });

    it("refuses another member every change to alice's copies, Mappings and routes", () => {
      const d = find("Deployment", "api-alice");
      const changed = clone(d);
      (changed.spec as any).replicas = 2;
      refused(policies.workloads, asBob({ operation: "UPDATE", oldObject: d, object: changed }), /fork alice is not owned by bob@example.com/);
      refused(policies.workloads, asBob({ operation: "DELETE", oldObject: find("Service", "api-alice") }), /fork alice is not owned by bob@example.com/);
      refused(policies.mappings, asBob({ operation: "DELETE", oldObject: aliceMapping() }), /fork alice is not owned by bob@example.com/);
      const withAlice = addForkRoutes(clone(APP_VS), claim("alice"));
      const back = (removeForkRoutes(withAlice, "alice") as { virtualService: KubeObject }).virtualService;
      refused(policies.routes, asBob({ operation: "UPDATE", oldObject: withAlice, object: back }), /fork alice is not owned by bob@example.com/);
    });

    it("refuses creating objects labelled as another's fork", () => {
      refused(policies.workloads, asBob({ operation: "CREATE", object: find("Deployment", "api-alice") }), /fork alice is not owned by bob@example.com/);
      refused(policies.mappings, asBob({ operation: "CREATE", object: aliceMapping() }), /fork alice is not owned by bob@example.com/);
      refused(policies.routes, asBob({ operation: "UPDATE", oldObject: clone(APP_VS), object: addForkRoutes(clone(APP_VS), claim("alice")) }), /fork alice is not owned by bob@example.com/);
    });

    it("refuses retiring, retargeting or moving another fork's live route below the app's routes", () => {
      const both = addForkRoutes(addForkRoutes(clone(APP_VS), claim("bob")), claim("alice"));
      const retire = clone(both) as any;
      retire.spec.http.find((r: any) => r.name === "forkstack-bob").name = "forkstack-bob--gone";
      refused(policies.routes, { operation: "UPDATE", oldObject: both, object: retire }, /fork bob is not owned/);
      const retarget = clone(both) as any;
      retarget.spec.http.find((r: any) => r.name === "forkstack-bob").route = [{ destination: { host: "api-alice.shop.svc.cluster.local" } }];
      refused(policies.routes, { operation: "UPDATE", oldObject: both, object: retarget }, /fork bob is not owned/);
      const moved = clone(both) as any;
      const bob = moved.spec.http.findIndex((r: any) => r.name === "forkstack-bob");
      moved.spec.http.push(...moved.spec.http.splice(bob, 1));
      refused(policies.routes, { operation: "UPDATE", oldObject: both, object: moved }, /the routes of other forks stay as they are, in order/);
      const alone = addForkRoutes(clone(APP_VS), claim("bob"));
      const below = clone(alone) as any;
      // Its last route moved to the end: bob's routes keep their order, but one is now below the app's.
      below.spec.http.push(...below.spec.http.splice(1, 1));
      expect(below.spec.http.map((r: any) => r.name).slice(-1)).toEqual(["forkstack-bob--1"]);
      refused(policies.routes, { operation: "UPDATE", oldObject: alone, object: below }, /fork routes stay above every other route/);
    });

    it("refuses swapping another fork's route variants, or duplicating one of its routes", () => {
      const both = addForkRoutes(addForkRoutes(clone(APP_VS), claim("bob")), claim("alice"));
      const swapped = clone(both) as any;
      const i = swapped.spec.http.findIndex((r: any) => r.name === "forkstack-bob");
      const j = swapped.spec.http.findIndex((r: any) => r.name === "forkstack-bob--1");
      expect(j).toBeGreaterThan(i);
      [swapped.spec.http[i], swapped.spec.http[j]] = [swapped.spec.http[j], swapped.spec.http[i]];
      refused(policies.routes, { operation: "UPDATE", oldObject: both, object: swapped }, /the routes of other forks stay as they are, in order/);
      const doubled = clone(both) as any;
      doubled.spec.http.unshift(clone(doubled.spec.http[i]));
      refused(policies.routes, { operation: "UPDATE", oldObject: both, object: doubled }, /the routes of other forks stay as they are, in order/);
    });

    it("admits removing another fork's retired route (forks leaving together leave theirs to the last one out)", () => {
      const both = addForkRoutes(addForkRoutes(clone(APP_VS), claim("bob")), claim("alice"));
      const bobRetired = clone(both) as any;
      bobRetired.spec.http.find((r: any) => r.name === "forkstack-bob").name = "forkstack-bob--gone";
      const swept = clone(bobRetired) as any;
      swept.spec.http = swept.spec.http.filter((r: any) => r.name !== "forkstack-bob--gone");
      expect(check(policies.routes, { operation: "UPDATE", oldObject: bobRetired, object: swept })).toEqual(ok);
    });

    it("refuses one write that changes the routes of two forks, even two the caller owns", () => {
      const after = addForkRoutes(addForkRoutes(clone(APP_VS), claim("alice")), claim("alice-2"));
      refused(policies.routes, { operation: "UPDATE", oldObject: clone(APP_VS), object: after }, /one write changes the routes of one fork only; this one changes routes of alice-2, alice|alice, alice-2/);
    });

    it("grants ids by prefix: alice owns alice-feature, not alice2; a CI group owns every pr-*", () => {
      const as = (id: string, who: Partial<AdmissionRequest>) => {
        const m = aliceMapping() as any;
        m.metadata.labels[LABELS.fork] = id;
        m.spec.hostname = `${id}.shop.dev.example.com`;
        m.spec.add_request_headers["x-fork-identifier"].value = id;
        return check(policies.mappings, { operation: "CREATE", object: m, ...who }).allowed;
      };
      const ci = { username: "system:serviceaccount:ci:runner", groups: ["forkstack-forkers", "forkstack-ci"] };
      expect([as("alice-feature", {}), as("alice2", {}), as("pr-12", {}), as("pr-12", ci), as("alice", ci)]).toEqual([true, false, false, true, false]);
    });

    it("refuses a turn Lease held in another fork's name, or taken over; deleting one stays open (how a dead holder is passed over)", () => {
      const bobs = turnLease({ service: { name: "api", namespace: "shop" }, holder: "bob/x1" }, 15, Date.now());
      refused(policies.turns, { operation: "CREATE", object: bobs }, /fork bob is not owned by alice@example.com/);
      refused(policies.turns, { operation: "UPDATE", oldObject: bobs, object: bobs }, /fork bob is not owned by alice@example.com/);
      const takeover = clone(bobs) as any;
      takeover.spec.holderIdentity = "alice/x2";
      refused(policies.turns, { operation: "UPDATE", oldObject: bobs, object: takeover }, /fork bob is not owned by alice@example.com/);
      expect(check(policies.turns, { operation: "DELETE", oldObject: bobs })).toEqual(ok);
    });

    it("lets a holder hand its turn to the next writer in the queue, whoever that is, and nothing else", () => {
      const alices = turnLease({ service: { name: "api", namespace: "shop" }, holder: "alice/x1" }, 15, Date.now());
      const handed = (holder: string) => ({ ...clone(alices), spec: { ...(alices.spec as object), holderIdentity: holder, leaseDurationSeconds: 5 } });
      expect(check(policies.turns, { operation: "UPDATE", oldObject: alices, object: handed("bob/q7") })).toEqual(ok);
      // A ticket in bob's name is bob's owners' to take; alice's is hers.
      const ticket = (holder: string) => ({ ...turnLease({ service: { name: "api", namespace: "shop" }, holder }, 15, Date.now()), metadata: { name: turnTicketName("api", holder), namespace: "shop", labels: { [LABELS.managedBy]: "forkstack" } } });
      refused(policies.turns, { operation: "CREATE", object: ticket("bob/q7") }, /fork bob is not owned by alice@example.com/);
      expect(check(policies.turns, { operation: "CREATE", object: ticket("alice/q8") })).toEqual(ok);
      // Handed on only to a writer's name (a fork id and a writer), and only by the holder's owners.
      refused(policies.turns, { operation: "UPDATE", oldObject: alices, object: handed("nobody") }, /a turn is held as <fork>\/<writer>, and renewed or handed on by its holder only/);
      refused(policies.turns, { operation: "UPDATE", oldObject: handed("bob/q7"), object: handed("alice/x3") }, /fork bob is not owned by alice@example.com/);
    });

    it("without forkAccess.owners (a base of the previous release), every member owns every fork", () => {
      const open = { ...ctx, access: { ...ctx.access, owners: undefined } };
      const rbac = [...forkRoles(open), ...forkRoleBindings(open)];
      expect(admit(workloadPolicy(open), { operation: "CREATE", object: find("Deployment", "api-alice"), username: "mallory", rbac }).allowed).toBe(true);
      expect(forkOwnerRoles(open).roles.map((r) => (r as any).rules[0].resourceNames)).toEqual([undefined]);
    });
  });

  it("admits a route write next to 200 other forks' routes (the cost the real server checks in e2e)", () => {
    let vs = clone(APP_VS);
    for (let i = 0; i < 200; i++) vs = addForkRoutes(vs, claim(`pr-${i}`));
    expect(check(policies.routes, { operation: "UPDATE", oldObject: vs, object: addForkRoutes(vs, claim("alice")) })).toEqual(ok);
  });
});
