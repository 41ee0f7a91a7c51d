/**
 * What a member of the fork group may do, as Kubernetes objects the API server enforces itself:
 * RBAC (which verbs on which kinds, in the namespaces the platform team marks forkable) and
 * ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1, GA in Kubernetes 1.30; CEL evaluated
 * inside the API server, no webhook to run: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/).
 * Pure builders; components/forkAccess.ts registers them.
 *
 * The rules, for requests whose user is in the fork group (`matchConditions` on
 * `request.userInfo.groups`):
 * - Deployments and Services: created only with the `forkstack.dev/fork` label (a Deployment's pods
 *   too), changed or deleted only when they already carry it, never relabelled to another fork;
 *   copies run only as the ServiceAccounts the namespace allows.
 * - VirtualServices: changed only in routes a fork owns — named `forkstack-<fork>[--n]` and matching
 *   only requests whose fork header is exactly `<fork>`, no `delegate`, mesh-only where the
 *   VirtualService is bound to a gateway — every other route (in order) and field unchanged;
 *   created or deleted only when forkstack made it (annotation) and it holds nothing but fork routes
 *   and the default route to its own host.
 * - Mappings: only a fork's, for a fork hostname `<fork>.<upstream>` (or `<fork>--<label>.<domain>`),
 *   never a shared host, always setting the fork header to the fork id with `append: false`.
 * - Leases: only the ones forks take turns with to write a Service's routes
 *   (`forkstack-routes.<service>`, fork/routeTurn.ts), never an app's (leader election).
 *
 * What CEL cannot see (other objects) is not enforced here and stays the plan's job: whether a
 * copy's pods match a shared Service's selector, and whether a VirtualService a fork creates
 * covers a host another namespace's VirtualService covers too.
 *
 * CEL notes that shape the expressions: `object`/`oldObject` are untyped maps for CRDs with
 * preserved fields and typed for built-ins, so every optional field is guarded with `has()`; list
 * `==` compares in order, key by key; `variables` are evaluated lazily; each expression's cost must
 * stay under 1,000,000 (10,000,000 per binding), which the O(routes × matches) checks here do.
 */
import type { ForkAccessConfig } from "./config/access";
import type { HostScheme, Upstream } from "./config/common";
import type { KubeObject } from "./kube/objects";
import { LABELS, MANAGED_BY, ROUTE_PREFIX, TURN_LEASE_PREFIX } from "./naming";

export type { ForkAccessConfig, ServiceAccountRule } from "./config/access";

export interface PolicyContext {
  readonly access: ForkAccessConfig;
  readonly headerName: string;
  readonly gatewayNamespace: string;
  readonly ambassadorId: string;
  readonly upstreams: readonly Upstream[];
  readonly hostScheme: HostScheme;
  readonly domain: string;
}

export const ROLE_NAME = "forkstack-fork";
export const POLICY_NAMES = { workloads: "forkstack-fork-workloads", routes: "forkstack-fork-routes", mappings: "forkstack-fork-mappings", turns: "forkstack-fork-turns" } as const;

const managed = { [LABELS.managedBy]: MANAGED_BY };

/** A CEL string literal. */
export const celString = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
const celList = (items: readonly string[]) => `[${items.map(celString).join(", ")}]`;

/** CEL: `obj.metadata.labels[fork]`, or '' when the object or the label is absent. */
function forkOf(obj: "object" | "oldObject"): string {
  const skip = obj === "object" ? "request.operation == 'DELETE'" : "request.operation == 'CREATE'";
  const label = celString(LABELS.fork);
  return `${skip} || !has(${obj}.metadata.labels) || !(${label} in ${obj}.metadata.labels) ? '' : ${obj}.metadata.labels[${label}]`;
}

/** The group check every policy starts with. */
function inGroup(group: string) {
  return [{ name: "fork-group", expression: `request.userInfo.groups.exists(g, g == ${celString(group)})` }];
}

// --- RBAC ------------------------------------------------------------------------------------------

/** Exactly what a fork stack calls, per namespace kind. */
export function forkRoles(ctx: PolicyContext): KubeObject[] {
  const write = ["get", "list", "watch", "create", "update", "patch", "delete"];
  const namespaced: KubeObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: ROLE_NAME, labels: managed },
    rules: [
      { apiGroups: ["apps"], resources: ["deployments"], verbs: write },
      { apiGroups: [""], resources: ["services"], verbs: write },
      { apiGroups: ["networking.istio.io"], resources: ["virtualservices"], verbs: write },
      // Taking turns to write a Service's routes (fork/routeTurn.ts); which Leases: turnPolicy.
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update", "delete"] },
      // Read only: what the plan checks (selectors, ServiceAccounts) and the provider waits on.
      { apiGroups: [""], resources: ["pods", "endpoints", "serviceaccounts"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["apps"], resources: ["replicasets"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["get", "list"] },
      { apiGroups: ["networking.k8s.io"], resources: ["networkpolicies"], verbs: ["get", "list"] },
    ],
  };
  const clusterRead: KubeObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: `${ROLE_NAME}-read`, labels: managed },
    // A host may be covered by a VirtualService in any namespace (one per host, IST0109).
    rules: [
      { apiGroups: ["networking.istio.io"], resources: ["virtualservices"], verbs: ["get", "list", "watch"] },
      { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list"] },
    ],
  };
  const gateway: KubeObject = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: `${ROLE_NAME}-mappings`, namespace: ctx.gatewayNamespace, labels: managed },
    rules: [{ apiGroups: ["getambassador.io"], resources: ["mappings"], verbs: write }],
  };
  return [namespaced, clusterRead, gateway];
}

export function forkRoleBindings(ctx: PolicyContext): KubeObject[] {
  const subjects = [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: ctx.access.group }];
  const ref = (kind: "ClusterRole" | "Role", name: string) => ({ apiGroup: "rbac.authorization.k8s.io", kind, name });
  return [
    ...Object.keys(ctx.access.namespaces)
      .sort()
      .map((namespace) => ({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: ROLE_NAME, namespace, labels: managed },
        subjects,
        roleRef: ref("ClusterRole", ROLE_NAME),
      })),
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${ROLE_NAME}-read`, labels: managed },
      subjects,
      roleRef: ref("ClusterRole", `${ROLE_NAME}-read`),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${ROLE_NAME}-mappings`, namespace: ctx.gatewayNamespace, labels: managed },
      subjects,
      roleRef: ref("Role", `${ROLE_NAME}-mappings`),
    },
  ];
}

// --- admission policies ------------------------------------------------------------------------------

interface Validation {
  expression: string;
  messageExpression: string;
  reason?: string;
}

function policy(name: string, rules: object[], variables: { name: string; expression: string }[], validations: Validation[], group: string): KubeObject {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicy",
    metadata: { name, labels: managed },
    spec: {
      failurePolicy: "Fail",
      matchConstraints: { resourceRules: rules },
      matchConditions: inGroup(group),
      variables,
      validations: validations.map((v) => ({ reason: "Forbidden", ...v })),
    },
  };
}

function binding(policyName: string): KubeObject {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingAdmissionPolicyBinding",
    metadata: { name: policyName, labels: managed },
    spec: { policyName, validationActions: ["Deny"] },
  };
}

const what = "request.kind.kind + ' ' + request.namespace + '/' + request.name";

/** Deployments and Services: only the fork's own, with pods a fork labels and ServiceAccounts the namespace allows. */
export function workloadPolicy(ctx: PolicyContext): KubeObject {
  const ops = ["CREATE", "UPDATE", "DELETE"];
  const sa = Object.fromEntries(Object.entries(ctx.access.namespaces).map(([ns, rule]) => [ns, rule === "shared" ? ["*"] : [...rule]]));
  const saMap = `{${Object.entries(sa)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([ns, names]) => `${celString(ns)}: ${celList(names)}`)
    .join(", ")}}`;
  const fork = celString(LABELS.fork);
  return policy(
    POLICY_NAMES.workloads,
    [
      { apiGroups: ["apps"], apiVersions: ["v1"], resources: ["deployments"], operations: ops },
      { apiGroups: [""], apiVersions: ["v1"], resources: ["services"], operations: ops },
    ],
    [
      { name: "newFork", expression: forkOf("object") },
      { name: "oldFork", expression: forkOf("oldObject") },
      { name: "serviceAccounts", expression: saMap },
    ],
    [
      {
        expression: "request.operation != 'CREATE' || variables.newFork != ''",
        messageExpression: `'a fork may create only objects labelled ${LABELS.fork}; ' + ${what} + ' has no such label'`,
      },
      {
        expression: "request.operation == 'CREATE' || variables.oldFork != ''",
        messageExpression: `${what} + ' is shared (no ${LABELS.fork} label): a fork may not change or delete it'`,
      },
      {
        expression: "request.operation != 'UPDATE' || variables.newFork == variables.oldFork",
        messageExpression: `${what} + ' belongs to fork ' + variables.oldFork + ': its ${LABELS.fork} label may not change'`,
      },
      {
        expression:
          `request.operation == 'DELETE' || request.kind.kind != 'Deployment' || ` +
          `(has(object.spec.template.metadata.labels) && ${fork} in object.spec.template.metadata.labels && object.spec.template.metadata.labels[${fork}] == variables.newFork)`,
        messageExpression: `${what} + ': the pods of a fork\\'s Deployment must carry ${LABELS.fork}: ' + variables.newFork`,
      },
      {
        expression:
          `request.operation == 'DELETE' || request.kind.kind != 'Deployment' || ` +
          `(request.namespace in variables.serviceAccounts && (variables.serviceAccounts[request.namespace].exists(s, s == '*') || ` +
          `(has(object.spec.template.spec.serviceAccountName) ? object.spec.template.spec.serviceAccountName : 'default') in variables.serviceAccounts[request.namespace]))`,
        messageExpression:
          `request.namespace in variables.serviceAccounts ? ${what} + ' must run as one of ' + variables.serviceAccounts[request.namespace].join(', ') + ' (the ServiceAccounts forks may use in ' + request.namespace + ')' : ` +
          `'namespace ' + request.namespace + ' is not forkable'`,
      },
    ],
    ctx.access.group,
  );
}

/** CEL: route `r` is a fork's — named for a fork, every match requiring exactly that fork's header. */
export function isForkRoute(r: string, headerName: string): string {
  const h = celString(headerName);
  const id = `${r}.name.substring(${ROUTE_PREFIX.length}).split('--')[0]`;
  return (
    `(has(${r}.name) && ${r}.name.startsWith(${celString(ROUTE_PREFIX)}) && has(${r}.match) && size(${r}.match) > 0 && ` +
    `${r}.match.all(m, has(m.headers) && ${h} in m.headers && has(m.headers[${h}].exact) && m.headers[${h}].exact == ${id}))`
  );
}

/** VirtualServices: only fork routes change; every other route and field stays as it was. */
export function routePolicy(ctx: PolicyContext): KubeObject {
  const fork = (r: string) => isForkRoute(r, ctx.headerName);
  const created = `has(%O.metadata.annotations) && ${celString(LABELS.createdBy)} in %O.metadata.annotations && %O.metadata.annotations[${celString(LABELS.createdBy)}] == ${celString(MANAGED_BY)}`;
  // Only fork routes and the default route to the VirtualService's own host: what forkstack creates.
  const onlyForkAndDefault = (obj: string, routes: string) =>
    `${routes}.all(r, ${fork("r")} || (has(r.name) && r.name == 'default' && !has(r.match) && has(r.route) && ` +
    `r.route.all(d, has(${obj}.spec.hosts) && size(${obj}.spec.hosts) == 1 && d.destination.host == ${obj}.spec.hosts[0])))`;
  const same = (field: string, empty: string) =>
    `(has(object.${field}) ? object.${field} : ${empty}) == (has(oldObject.${field}) ? oldObject.${field} : ${empty})`;
  return policy(
    POLICY_NAMES.routes,
    [{ apiGroups: ["networking.istio.io"], apiVersions: ["*"], resources: ["virtualservices"], operations: ["CREATE", "UPDATE", "DELETE"] }],
    [
      { name: "newRoutes", expression: "request.operation == 'DELETE' || !has(object.spec.http) ? [] : object.spec.http" },
      { name: "oldRoutes", expression: "request.operation == 'CREATE' || !has(oldObject.spec.http) ? [] : oldObject.spec.http" },
      { name: "gatewayBound", expression: "request.operation != 'DELETE' && has(object.spec.gateways) && object.spec.gateways.exists(g, g != 'mesh')" },
    ],
    [
      {
        expression: `request.operation != 'UPDATE' || variables.newRoutes.filter(r, !${fork("r")}) == variables.oldRoutes.filter(r, !${fork("r")})`,
        messageExpression: `${what} + ': a fork may add, change or remove only its own routes (forkstack-<fork>, matching ${ctx.headerName} exactly); the other routes must stay as they are, in order'`,
      },
      {
        expression:
          `request.operation != 'UPDATE' || (${same("spec.hosts", "[]")} && ${same("spec.gateways", "[]")} && ${same("spec.tcp", "[]")} && ` +
          `${same("spec.tls", "[]")} && ${same("spec.exportTo", "[]")} && ${same("metadata.labels", "{}")} && ${same("metadata.annotations", "{}")})`,
        messageExpression: `${what} + ': a fork may change only its routes; hosts, gateways, tcp, tls, exportTo, labels and annotations must stay as they are'`,
      },
      {
        expression: `variables.newRoutes.all(r, !${fork("r")} || !has(r.delegate))`,
        messageExpression: `${what} + ': a fork route may not delegate (it would send the fork\\'s requests to the shared delegate\\'s routes)'`,
      },
      {
        expression: `!variables.gatewayBound || variables.newRoutes.all(r, !${fork("r")} || r.match.all(m, has(m.gateways) && m.gateways == ['mesh']))`,
        messageExpression: `${what} + ' is bound to a gateway: every match of a fork route must say gateways: [mesh], or clients outside the mesh could pick a fork'`,
      },
      {
        expression: `request.operation != 'CREATE' || ((${created.replace(/%O/g, "object")}) && ${onlyForkAndDefault("object", "variables.newRoutes")})`,
        messageExpression: `${what} + ': a fork may create only a VirtualService annotated ${LABELS.createdBy}: ${MANAGED_BY} that holds fork routes and a default route to its own host'`,
      },
      {
        expression: `request.operation != 'DELETE' || ((${created.replace(/%O/g, "oldObject")}) && ${onlyForkAndDefault("oldObject", "variables.oldRoutes")})`,
        messageExpression: `${what} + ': a fork may delete only a VirtualService forkstack created that holds nothing but fork routes and its default route'`,
      },
    ],
    ctx.access.group,
  );
}

/** The hostnames a fork may claim, as CEL over `variables.newFork`. */
function forkHostExpression(ctx: PolicyContext): string {
  if (ctx.hostScheme === "flat") {
    const labels = ctx.upstreams.map((u) => u.host.slice(0, u.host.length - ctx.domain.length - 1));
    return `${celList(labels)}.exists(l, object.spec.hostname == variables.newFork + '--' + l + '.' + ${celString(ctx.domain)})`;
  }
  return `${celList(ctx.upstreams.map((u) => u.host))}.exists(u, object.spec.hostname == variables.newFork + '.' + u)`;
}

/** Mappings: a fork's own, for its fork hostnames only, setting the fork header with append: false. */
export function mappingPolicy(ctx: PolicyContext): KubeObject {
  const h = celString(ctx.headerName);
  const header = `object.spec.add_request_headers[${h}]`;
  return policy(
    POLICY_NAMES.mappings,
    [{ apiGroups: ["getambassador.io"], apiVersions: ["*"], resources: ["mappings"], operations: ["CREATE", "UPDATE", "DELETE"] }],
    [
      { name: "newFork", expression: forkOf("object") },
      { name: "oldFork", expression: forkOf("oldObject") },
    ],
    [
      {
        expression: "request.operation == 'DELETE' || variables.newFork != ''",
        messageExpression: `'a fork may create or change only Mappings labelled ${LABELS.fork}; Mapping ' + request.namespace + '/' + request.name + ' has no such label'`,
      },
      {
        expression: "request.operation == 'CREATE' || (variables.oldFork != '' && (request.operation == 'DELETE' || variables.oldFork == variables.newFork))",
        messageExpression: `'Mapping ' + request.namespace + '/' + request.name + ' is not this fork\\'s: a fork may change or delete only its own Mappings'`,
      },
      {
        expression: `request.operation == 'DELETE' || (has(object.spec.hostname) && !has(object.spec.host) && !has(object.spec.host_regex) && ${forkHostExpression(ctx)})`,
        messageExpression: `'Mapping ' + request.namespace + '/' + request.name + ': hostname ' + (has(object.spec.hostname) ? object.spec.hostname : '(none)') + ' is not a fork hostname of ' + variables.newFork + '; a fork may route only its own hosts, never a shared one'`,
      },
      {
        expression:
          `request.operation == 'DELETE' || (has(object.spec.add_request_headers) && ${h} in object.spec.add_request_headers && ` +
          `has(${header}.value) && ${header}.value == variables.newFork && has(${header}.append) && ${header}.append == false)`,
        messageExpression: `'Mapping ' + request.namespace + '/' + request.name + ' must set ${ctx.headerName}: ' + variables.newFork + ' with append: false, so a client cannot send another fork\\'s id'`,
      },
      {
        expression: `request.operation == 'DELETE' || (has(object.spec.ambassador_id) && object.spec.ambassador_id == [${celString(ctx.ambassadorId)}])`,
        messageExpression: `'Mapping ' + request.namespace + '/' + request.name + ' must name ambassador_id [${ctx.ambassadorId}], the shared gateway'`,
      },
    ],
    ctx.access.group,
  );
}

/**
 * Leases: only those forks take turns with. RBAC cannot say which (`resourceNames` does not limit
 * create), and an app's leader-election Lease in the same namespace must stay out of a fork's reach:
 * taking it over would stop or split the app's leader.
 */
export function turnPolicy(ctx: PolicyContext): KubeObject {
  return policy(
    POLICY_NAMES.turns,
    [{ apiGroups: ["coordination.k8s.io"], apiVersions: ["v1"], resources: ["leases"], operations: ["CREATE", "UPDATE", "DELETE"] }],
    [],
    [
      {
        expression: `request.name.startsWith(${celString(TURN_LEASE_PREFIX)})`,
        messageExpression: `'Lease ' + request.namespace + '/' + request.name + ': a fork may write only the Leases forks take turns with (${TURN_LEASE_PREFIX}<service>)'`,
      },
    ],
    ctx.access.group,
  );
}

/** Every policy with its binding. */
export function forkPolicies(ctx: PolicyContext): KubeObject[] {
  const policies = [workloadPolicy(ctx), routePolicy(ctx), mappingPolicy(ctx), turnPolicy(ctx)];
  return [...policies, ...policies.map((p) => binding(p.metadata.name))];
}
