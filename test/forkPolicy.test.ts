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
import { forkPolicies, forkRoleBindings, forkRoles, mappingPolicy, PolicyContext, routePolicy, turnPolicy, workloadPolicy } from "../components/forkPolicy";
import { turnLease } from "../components/fork/routeTurn";
import { LABELS } from "../components/naming";
import type { KubeObject } from "../render/cluster";
import { renderStacks } from "../render/render";
import { admit, AdmissionRequest } from "./helpers/admission";
import { validateAgainstSchema } from "./helpers/schemas";

const ctx: PolicyContext = {
  access: { group: "forkstack-forkers", namespaces: { shop: "shared", payments: ["fork-runner"] }, principals: [] },
  headerName: "x-fork-identifier",
  gatewayNamespace: "emissary",
  ambassadorId: "fork-proxy-ambassador",
  upstreams: [{ host: "shop.dev.example.com", service: { name: "frontend", namespace: "shop", port: 80 } }],
  hostScheme: "subdomain",
  domain: "dev.example.com",
};

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
const check = (policy: KubeObject, req: AdmissionRequest) => admit(policy, req);
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

  it("a second fork's route next to the first", () => {
    const withAlice = addForkRoutes(clone(APP_VS), claim("alice"));
    expect(check(policies.routes, { operation: "UPDATE", oldObject: withAlice, object: addForkRoutes(withAlice, claim("bob")) })).toMatchObject({ allowed: true });
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
    refused(policies.routes, { operation: "UPDATE", oldObject: bound, object: after }, /is bound to a gateway: every match of a fork route must say gateways: \[mesh\]/);
    (after.spec as any).http[0].match[0].gateways = ["mesh"];
    expect(check(policies.routes, { operation: "UPDATE", oldObject: bound, object: after })).toMatchObject({ allowed: true });
  });

  it("delete an app team's VirtualService", () => {
    refused(policies.routes, { operation: "DELETE", oldObject: clone(APP_VS) }, /may delete only a VirtualService forkstack created/);
  });

  it("create a VirtualService that routes shared traffic elsewhere", () => {
    const created = addForkRoutes(undefined, claim("alice"));
    (created.spec as any).http[1].route = [{ destination: { host: "api-alice.shop.svc.cluster.local" } }];
    refused(policies.routes, { operation: "CREATE", object: created }, /may create only a VirtualService annotated forkstack.dev\/created-by/);
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
