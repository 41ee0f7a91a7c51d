/**
 * What a member of the fork group may do, as Kubernetes objects the API server enforces itself:
 * RBAC (which verbs on which kinds, in the namespaces the platform team marks forkable) and
 * ValidatingAdmissionPolicies (admissionregistration.k8s.io/v1, GA in Kubernetes 1.30; CEL evaluated
 * inside the API server, no webhook to run: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/).
 * Pure builders; components/forkAccess.ts registers them.
 *
 * Written for a hostile member who sends raw requests, not only for what forkstack sends: every
 * rule judges the whole object (allow-lists and exact shapes, never "the fields forkstack writes"),
 * and trusts nothing the request says about itself except what the authorizer confirms.
 *
 * - Ownership: every request that creates, changes or removes something of fork F needs the
 *   caller to own F, asked of the authorizer inside the policy (CEL `authorizer`, KEP-3488): verb
 *   `own` on the virtual resource `forks.forkstack.dev` named F, or `<first segment of F>-*`. No API
 *   serves that resource; RBAC answers for any name, so plain (Cluster)RoleBindings grant it
 *   (forkOwnerRoles below, from forkstack:forkAccess.owners).
 * - Deployments and Services: only a fork's (label `forkstack.dev/fork`, names ending in `-<fork>`),
 *   never relabelled, never deleted so as to orphan what they own. A Deployment's pods carry the
 *   fork label and every other label value ends in `-forkstack-<fork>` (no shared equality selector
 *   can pick them), run as a listed ServiceAccount, within Kubernetes' `baseline` Pod Security
 *   profile, without priority, without the annotations Istio's injector builds more from, with a
 *   required anti-affinity only on the fork's own pods, with listed Secrets only (where the
 *   namespace lists them), at most maxForkReplicas replicas and the per-container ceiling. A
 *   Service is ClusterIP, without externalIPs, selects the fork label and carries only Istio's,
 *   forkstack's and Pulumi's annotations.
 * - VirtualServices: a write changes the routes of one fork only — the caller's — and nothing else:
 *   every other route (in order, fork routes above the rest; other forks' in order too), host, gateway, tcp/tls section,
 *   exportTo, label, annotation, owner reference and finalizer stays as it was. Another fork's
 *   retired route (`…--gone`) may only be removed. A new VirtualService has exactly forkstack's
 *   shape: one host `<service>.<namespace>.svc.cluster.local` of its own namespace, fork routes and
 *   then the default route to that host, nothing else. It may be deleted only when it still has
 *   that shape and no other fork's live route.
 * - Mappings: a fork's own, for its own hostname `<fork>.<upstream>` (never an upstream host
 *   itself), to the upstream's entry Service or a copy of the fork, with an allow-list of fields,
 *   adding only headers Envoy accepts and never a second spelling of the fork header.
 * - Leases: only the ones forks take turns with (`forkstack-routes.<service>`), held in the
 *   caller's own fork's name.
 *
 * What CEL cannot see (other objects) stays the plan's job, and docs/security.md lists
 * it: whether a VirtualService a fork creates duplicates one in another namespace, and whether a
 * Service exists for a name.
 *
 * CEL notes that shape the expressions: `object`/`oldObject` are untyped maps for CRDs with
 * preserved fields and typed for built-ins, so every optional field is guarded with `has()`; list
 * `==` compares in order, key by key; `variables` are evaluated lazily. Cost: 1,000,000 per
 * expression, 10,000,000 per policy evaluation, and an authorizer check costs 350,000
 * (k8s.io/apiserver/pkg/cel/library/cost.go: "allow for only two authorization checks per
 * expression") — so a request asks the authorizer about one fork id, at most twice.
 */
import type { ForkAccessConfig, ForkOwner } from "./config/access";
import { formatServiceRef, HostScheme, Upstream } from "./config/common";
import { FORBIDDEN_HEADERS, MAX_FORK_ID_LENGTH } from "./config/fork";
import type { KubeObject } from "./kube/objects";
import { FORK_LABEL_SUFFIX, LABELS, MANAGED_BY, MESH_POD_LABELS, ROUTE_PREFIX, TURN_LEASE_PREFIX } from "./naming";
import { BASELINE, FORBIDDEN_POD_ANNOTATION_PREFIXES, FORBIDDEN_POD_ANNOTATIONS } from "./podSecurity";

export type { ForkAccessConfig, ServiceAccountRule } from "./config/access";

export interface PolicyContext {
  readonly access: ForkAccessConfig;
  readonly headerName: string;
  readonly gatewayNamespace: string;
  readonly ambassadorId: string;
  readonly upstreams: readonly Upstream[];
  readonly hostScheme: HostScheme;
  readonly domain: string;
  /** The most replicas a copy may run (forkstack:maxForkReplicas). */
  readonly maxForkReplicas: number;
}

export const ROLE_NAME = "forkstack-fork";
export const POLICY_NAMES = { workloads: "forkstack-fork-workloads", routes: "forkstack-fork-routes", mappings: "forkstack-fork-mappings", turns: "forkstack-fork-turns" } as const;

/** The virtual resource whose `own` verb, per fork id, says who owns a fork (no API serves it). */
export const OWNERSHIP = { apiGroup: "forkstack.dev", resource: "forks", verb: "own" } as const;

const managed = { [LABELS.managedBy]: MANAGED_BY };

/** A CEL string literal. */
export const celString = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
const celList = (items: readonly string[]) => `[${items.map(celString).join(", ")}]`;
const celMapOfLists = (m: Readonly<Record<string, readonly string[]>>) =>
  `{${Object.entries(m)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${celString(k)}: ${celList(v)}`)
    .join(", ")}}`;

/** CEL: `obj.metadata.labels[fork]`, or '' when the object or the label is absent. */
function forkOf(obj: "object" | "oldObject"): string {
  const skip = obj === "object" ? "request.operation == 'DELETE'" : "request.operation == 'CREATE'";
  const label = celString(LABELS.fork);
  return `${skip} || !has(${obj}.metadata.labels) || !(${label} in ${obj}.metadata.labels) ? '' : ${obj}.metadata.labels[${label}]`;
}

/** CEL: whether a string expression is a valid fork id (config validateForkId's rules). */
export function isForkId(id: string): string {
  return `(${id}.matches('^[a-z0-9]([-a-z0-9]{0,${MAX_FORK_ID_LENGTH - 2}}[a-z0-9])?$') && !${id}.contains('--'))`;
}

/**
 * CEL: whether the requesting user owns fork `id` (a CEL string expression): RBAC grants verb `own`
 * on forks.forkstack.dev named the id, or named `<first segment>-*` (a person owns `alice-*`, a CI
 * pipeline `pr-*`). An RBAC rule without resourceNames grants every id.
 */
export function owns(id: string): string {
  const check = (name: string) => `authorizer.group(${celString(OWNERSHIP.apiGroup)}).resource(${celString(OWNERSHIP.resource)}).name(${name}).check(${celString(OWNERSHIP.verb)}).allowed()`;
  return `(${check(id)} || (${id}.contains('-') && ${check(`${id}.split('-')[0] + '-*'`)}))`;
}

const notOwnedMessage = (id: string, what: string) =>
  `${what} + ': fork ' + ${id} + ' is not owned by ' + request.userInfo.username + '; a member may change only the forks it owns (verb ${OWNERSHIP.verb} on ${OWNERSHIP.resource}.${OWNERSHIP.apiGroup}, docs/security.md)'`;

/** The group check every policy starts with. */
function inGroup(group: string) {
  return [{ name: "fork-group", expression: `request.userInfo.groups.exists(g, g == ${celString(group)})` }];
}

/** CEL: `object.<field>` equals `oldObject.<field>`, absent counting as `empty`. */
const same = (field: string, empty: string) => `(has(object.${field}) ? object.${field} : ${empty}) == (has(oldObject.${field}) ? oldObject.${field} : ${empty})`;

/**
 * Metadata that acts on other objects or on deletion: `ownerReferences` (the garbage collector
 * deletes an object whose owner is gone) and `finalizers` (block deletion). Absent on what a fork
 * creates, unchanged by any update.
 */
const metadataKept = `request.operation == 'DELETE' || (request.operation == 'CREATE' ? !has(object.metadata.ownerReferences) && !has(object.metadata.finalizers) : ${same("metadata.ownerReferences", "[]")} && ${same("metadata.finalizers", "[]")})`;
const metadataMessage = (what: string) => `${what} + ': a fork may not set or change ownerReferences or finalizers'`;

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
      // Taking turns to write a Service's routes (fork/routeTurn.ts); which Leases: turnPolicy. A
      // holder lists the queue's tickets to hand the turn on, a waiter watches the turn (this reads
      // apps' Leases too: holder names and times, which the pods and Deployments it reads tell).
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "delete"] },
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
  return [namespaced, clusterRead, gateway, ...forkOwnerRoles(ctx).roles];
}

const RBAC = "rbac.authorization.k8s.io";

/**
 * Who owns which fork ids, as RBAC: a ClusterRole per `forkstack:forkAccess.owners` entry granting
 * `own` on forks.forkstack.dev for its ids (`*`: every id, a rule without resourceNames), bound to
 * its users, groups and ServiceAccounts. Without `owners` (a base of the previous release), the
 * whole fork group owns every id, as before: each member may change every fork.
 */
export function forkOwnerRoles(ctx: PolicyContext): { roles: KubeObject[]; bindings: KubeObject[] } {
  const owners: readonly ForkOwner[] = ctx.access.owners ?? [{ ids: ["*"], users: [], groups: [ctx.access.group], serviceAccounts: [] }];
  const named = (i: number) => (ctx.access.owners === undefined ? `${ROLE_NAME}-owner` : `${ROLE_NAME}-owner-${i + 1}`);
  const roles = owners.map((o, i): KubeObject => {
    const rule: Record<string, unknown> = { apiGroups: [OWNERSHIP.apiGroup], resources: [OWNERSHIP.resource], verbs: [OWNERSHIP.verb] };
    if (!o.ids.includes("*")) rule.resourceNames = [...o.ids];
    return { apiVersion: `${RBAC}/v1`, kind: "ClusterRole", metadata: { name: named(i), labels: managed }, rules: [rule] };
  });
  const bindings = owners.map((o, i): KubeObject => ({
    apiVersion: `${RBAC}/v1`,
    kind: "ClusterRoleBinding",
    metadata: { name: named(i), labels: managed },
    subjects: [
      ...o.users.map((name) => ({ kind: "User", apiGroup: RBAC, name })),
      ...o.groups.map((name) => ({ kind: "Group", apiGroup: RBAC, name })),
      ...o.serviceAccounts.map((sa) => ({ kind: "ServiceAccount", namespace: sa.split("/")[0], name: sa.split("/")[1] })),
    ],
    roleRef: { apiGroup: RBAC, kind: "ClusterRole", name: named(i) },
  }));
  return { roles, bindings };
}

export function forkRoleBindings(ctx: PolicyContext): KubeObject[] {
  const subjects = [{ kind: "Group", apiGroup: RBAC, name: ctx.access.group }];
  const ref = (kind: "ClusterRole" | "Role", name: string) => ({ apiGroup: RBAC, kind, name });
  return [
    ...Object.keys(ctx.access.namespaces)
      .sort()
      .map((namespace) => ({
        apiVersion: `${RBAC}/v1`,
        kind: "RoleBinding",
        metadata: { name: ROLE_NAME, namespace, labels: managed },
        subjects,
        roleRef: ref("ClusterRole", ROLE_NAME),
      })),
    {
      apiVersion: `${RBAC}/v1`,
      kind: "ClusterRoleBinding",
      metadata: { name: `${ROLE_NAME}-read`, labels: managed },
      subjects,
      roleRef: ref("ClusterRole", `${ROLE_NAME}-read`),
    },
    {
      apiVersion: `${RBAC}/v1`,
      kind: "RoleBinding",
      metadata: { name: `${ROLE_NAME}-mappings`, namespace: ctx.gatewayNamespace, labels: managed },
      subjects,
      roleRef: ref("Role", `${ROLE_NAME}-mappings`),
    },
    ...forkOwnerRoles(ctx).bindings,
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

/** CEL over a securityContext `s` (a pod's or a container's): what baseline forbids in both. */
function baselineContext(s: string): string {
  const se = `${s}.seLinuxOptions`;
  return (
    `(!has(${s}.seccompProfile) || ${s}.seccompProfile.type != 'Unconfined') && ` +
    `(!has(${s}.appArmorProfile) || ${s}.appArmorProfile.type != 'Unconfined') && ` +
    `(!has(${se}) || ((!has(${se}.type) || ${se}.type in ${celList(BASELINE.seLinuxTypes)}) && (!has(${se}.user) || ${se}.user == '') && (!has(${se}.role) || ${se}.role == ''))) && ` +
    `(!has(${s}.windowsOptions) || !has(${s}.windowsOptions.hostProcess) || !${s}.windowsOptions.hostProcess)`
  );
}

/** Deployments and Services: only the fork's own, owned by the caller, within what a copy may be. */
export function workloadPolicy(ctx: PolicyContext): KubeObject {
  const ops = ["CREATE", "UPDATE", "DELETE"];
  const fork = celString(LABELS.fork);
  const namespaces = ctx.access.namespaces;
  const serviceAccounts = celMapOfLists(Object.fromEntries(Object.entries(namespaces).map(([ns, a]) => [ns, a.serviceAccounts])));
  const secretRules = Object.fromEntries(Object.entries(namespaces).flatMap(([ns, a]) => (a.secrets === undefined ? [] : [[ns, a.secrets]])));
  const pod = "object.spec.template.spec";
  const deployment = (expr: string) => `request.operation == 'DELETE' || request.kind.kind != 'Deployment' || (${expr})`;
  const service = (expr: string) => `request.operation == 'DELETE' || request.kind.kind != 'Service' || (${expr})`;
  const c = "c.securityContext";
  const max = ctx.access.maxContainerResources ?? {};
  const within = (resource: "cpu" | "memory") => {
    const limit = max[resource];
    if (limit === undefined) return "true";
    const under = (list: string) => `!has(c.resources.${list}) || !(${celString(resource)} in c.resources.${list}) || quantity(string(c.resources.${list}[${celString(resource)}])).compareTo(quantity(${celString(limit)})) <= 0`;
    return `(${under("requests")}) && (${under("limits")})`;
  };
  const validations: Validation[] = [
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
      expression: `variables.fork == '' || ${isForkId("variables.fork")}`,
      messageExpression: `${what} + ': ' + variables.fork + ' is not a fork id (lowercase letters, digits and single "-", at most ${MAX_FORK_ID_LENGTH})'`,
    },
    { expression: `variables.fork == '' || ${owns("variables.fork")}`, messageExpression: notOwnedMessage("variables.fork", what) },
    { expression: metadataKept, messageExpression: metadataMessage(what) },
    {
      // An orphaning delete would leave a copy's ReplicaSet and pods running with no Deployment to delete them by.
      expression:
        `request.operation != 'DELETE' || !has(request.options) || ((!has(request.options.propagationPolicy) || request.options.propagationPolicy != 'Orphan') && ` +
        `(!has(request.options.orphanDependents) || !request.options.orphanDependents))`,
      messageExpression: `${what} + ': a fork may not orphan what its objects own (propagationPolicy Orphan)'`,
    },
    {
      expression: `request.operation == 'DELETE' || request.name.endsWith('-' + variables.newFork)`,
      messageExpression: `${what} + ': the name of a fork\\'s copy ends in -' + variables.newFork + ' (a shared name would take its callers)'`,
    },
    {
      expression: deployment(
        `has(object.spec.selector.matchLabels) && ${fork} in object.spec.selector.matchLabels && object.spec.selector.matchLabels[${fork}] == variables.newFork && ` +
          `has(object.spec.template.metadata.labels) && ${fork} in object.spec.template.metadata.labels && object.spec.template.metadata.labels[${fork}] == variables.newFork`,
      ),
      messageExpression: `${what} + ': the selector and the pods of a fork\\'s Deployment must carry ${LABELS.fork}: ' + variables.newFork`,
    },
    {
      expression: deployment(`!has(object.spec.template.metadata.labels) || object.spec.template.metadata.labels.all(k, k == ${fork} || k in ${celList(MESH_POD_LABELS)} || object.spec.template.metadata.labels[k].endsWith('${FORK_LABEL_SUFFIX}' + variables.newFork))`),
      messageExpression: `${what} + ': every pod label value of a copy ends in ${FORK_LABEL_SUFFIX}' + variables.newFork + ', so no shared Service selects its pods'`,
    },
    {
      expression: deployment(`!has(object.spec.replicas) || (object.spec.replicas >= 0 && object.spec.replicas <= ${ctx.maxForkReplicas})`),
      messageExpression: `${what} + ': a copy runs at most ${ctx.maxForkReplicas} replicas (forkstack:maxForkReplicas)'`,
    },
    {
      expression: deployment(
        `request.namespace in variables.serviceAccounts && (has(${pod}.serviceAccountName) ? ${pod}.serviceAccountName : 'default') in variables.serviceAccounts[request.namespace] && ` +
          `(!has(${pod}.serviceAccount) || ${pod}.serviceAccount in variables.serviceAccounts[request.namespace])`,
      ),
      messageExpression:
        `request.namespace in variables.serviceAccounts ? ${what} + ' must run as one of ' + variables.serviceAccounts[request.namespace].join(', ') + ' (the ServiceAccounts forks may use in ' + request.namespace + ')' : ` +
        `'namespace ' + request.namespace + ' is not forkable'`,
    },
    {
      expression: deployment(`!(has(${pod}.hostNetwork) && ${pod}.hostNetwork) && !(has(${pod}.hostPID) && ${pod}.hostPID) && !(has(${pod}.hostIPC) && ${pod}.hostIPC)`),
      messageExpression: `${what} + ': a copy may not use the node\\'s network, PID or IPC namespace (Pod Security baseline)'`,
    },
    {
      expression: deployment(`!has(${pod}.volumes) || ${pod}.volumes.all(v, !has(v.hostPath))`),
      messageExpression: `${what} + ': a copy may not mount a hostPath volume (Pod Security baseline)'`,
    },
    {
      expression: deployment(
        `variables.containers.all(c, !has(${c}) || ((!has(${c}.privileged) || !${c}.privileged) && ` +
          `(!has(${c}.capabilities) || !has(${c}.capabilities.add) || ${c}.capabilities.add.all(x, x in ${celList(BASELINE.capabilities)}))))`,
      ),
      messageExpression: `${what} + ': a copy\\'s containers may not be privileged or add capabilities beyond Pod Security baseline'`,
    },
    {
      expression: deployment(`variables.containers.all(c, !has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0))`),
      messageExpression: `${what} + ': a copy\\'s containers may not use hostPort (Pod Security baseline)'`,
    },
    {
      expression: deployment(
        `(!has(${pod}.securityContext) || (${baselineContext(`${pod}.securityContext`)} && ` +
          `(!has(${pod}.securityContext.sysctls) || ${pod}.securityContext.sysctls.all(s, s.name in ${celList(BASELINE.sysctls)})))) && ` +
          `variables.containers.all(c, !has(${c}) || (${baselineContext(c)} && (!has(${c}.procMount) || ${c}.procMount == 'Default'))) && ` +
          `(!has(object.spec.template.metadata.annotations) || object.spec.template.metadata.annotations.all(k, !k.startsWith('container.apparmor.security.beta.kubernetes.io/') || ` +
          `object.spec.template.metadata.annotations[k] == 'runtime/default' || object.spec.template.metadata.annotations[k].startsWith('localhost/')))`,
      ),
      messageExpression: `${what} + ': a copy may not run unconfined (seccomp, AppArmor, SELinux, procMount, unsafe sysctls or Windows host processes: Pod Security baseline)'`,
    },
    {
      expression: deployment(`!has(${pod}.priorityClassName) && !has(${pod}.priority)`),
      messageExpression: `${what} + ': a copy may not set a priority (it could preempt shared pods)'`,
    },
    {
      expression: deployment(
        `!has(object.spec.template.metadata.annotations) || object.spec.template.metadata.annotations.all(k, !(k in ${celList(FORBIDDEN_POD_ANNOTATIONS)}) && ` +
          `!${celList(FORBIDDEN_POD_ANNOTATION_PREFIXES)}.exists(p, k.startsWith(p)))`,
      ),
      messageExpression: `${what} + ': a copy\\'s pods may not carry ${[...FORBIDDEN_POD_ANNOTATIONS, ...FORBIDDEN_POD_ANNOTATION_PREFIXES.map((p) => `${p}*`)].join(", ")} (Istio\\'s injector would give them more than their spec says)'`,
    },
    {
      // The scheduler keeps new pods away from existing pods' required anti-affinity terms, in every
      // namespace the term names: a copy's term on shared labels would stop shared pods from scheduling.
      expression: deployment(
        `!has(${pod}.affinity) || !has(${pod}.affinity.podAntiAffinity) || !has(${pod}.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution) || ` +
          `${pod}.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution.all(t, !has(t.namespaces) && !has(t.namespaceSelector) && ` +
          `has(t.labelSelector) && has(t.labelSelector.matchLabels) && ${fork} in t.labelSelector.matchLabels && t.labelSelector.matchLabels[${fork}] == variables.newFork)`,
      ),
      messageExpression: `${what} + ': a copy\\'s required pod anti-affinity may select only its fork\\'s pods (matchLabels ${LABELS.fork}: ' + variables.newFork + ', its own namespace)'`,
    },
    {
      expression: deployment(
        `!(request.namespace in variables.secrets) || (` +
          `(!has(${pod}.volumes) || ${pod}.volumes.all(v, (!has(v.secret) || (has(v.secret.secretName) && v.secret.secretName in variables.secrets[request.namespace])) && ` +
          `(!has(v.projected) || !has(v.projected.sources) || v.projected.sources.all(s, !has(s.secret) || (has(s.secret.name) && s.secret.name in variables.secrets[request.namespace]))))) && ` +
          `variables.containers.all(c, (!has(c.env) || c.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef) || (has(e.valueFrom.secretKeyRef.name) && e.valueFrom.secretKeyRef.name in variables.secrets[request.namespace]))) && ` +
          `(!has(c.envFrom) || c.envFrom.all(e, !has(e.secretRef) || (has(e.secretRef.name) && e.secretRef.name in variables.secrets[request.namespace])))) && ` +
          `(!has(${pod}.imagePullSecrets) || ${pod}.imagePullSecrets.all(s, has(s.name) && s.name in variables.secrets[request.namespace])))`,
      ),
      messageExpression:
        `${what} + ': a copy in ' + request.namespace + ' may use ' + (size(variables.secrets[request.namespace]) == 0 ? 'no Secret' : 'only the Secrets ' + variables.secrets[request.namespace].join(', ')) + ` +
        `' (forkstack:forkAccess.namespaces.' + request.namespace + '.secrets)'`,
    },
    {
      expression: deployment(`variables.containers.all(c, !has(c.resources) || (${within("cpu")} && ${within("memory")}))`),
      messageExpression: `${what} + ': a copy\\'s containers may request or limit at most ${[max.cpu === undefined ? "" : `cpu ${max.cpu}`, max.memory === undefined ? "" : `memory ${max.memory}`].filter(Boolean).join(" and ") || "(no ceiling)"} each (forkstack:forkAccess.maxContainerResources)'`,
    },
    {
      expression: service(
        `(!has(object.spec.type) || object.spec.type == 'ClusterIP') && (!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0) && ` +
          `has(object.spec.selector) && ${fork} in object.spec.selector && object.spec.selector[${fork}] == variables.newFork`,
      ),
      messageExpression: `${what} + ': a fork\\'s Service is a ClusterIP Service without externalIPs that selects ${LABELS.fork}: ' + variables.newFork`,
    },
    {
      // Others act on a Service from outside: getambassador.io/config is whole Emissary resources
      // (a Mapping for a shared host, an AuthService), external-dns publishes names, cloud
      // controllers configure load balancers. A copy keeps Istio's only (fork/copy.ts).
      expression: service(`!has(object.metadata.annotations) || object.metadata.annotations.all(k, k.matches('(^|\\\\.)istio\\\\.io/') || k.startsWith('forkstack.dev/') || k.startsWith('pulumi.com/'))`),
      messageExpression: `${what} + ': a fork\\'s Service may carry only Istio\\'s, forkstack\\'s and Pulumi\\'s annotations (getambassador.io/config, for one, would configure the shared gateway)'`,
    },
  ];
  return policy(
    POLICY_NAMES.workloads,
    [
      { apiGroups: ["apps"], apiVersions: ["v1"], resources: ["deployments"], operations: ops },
      { apiGroups: [""], apiVersions: ["v1"], resources: ["services"], operations: ops },
    ],
    [
      { name: "newFork", expression: forkOf("object") },
      { name: "oldFork", expression: forkOf("oldObject") },
      { name: "fork", expression: "request.operation == 'DELETE' ? variables.oldFork : variables.newFork" },
      { name: "serviceAccounts", expression: serviceAccounts },
      { name: "secrets", expression: celMapOfLists(secretRules) },
      {
        name: "containers",
        expression: `request.operation == 'DELETE' || request.kind.kind != 'Deployment' ? [] : ${pod}.containers + (has(${pod}.initContainers) ? ${pod}.initContainers : [])`,
      },
    ],
    validations,
    ctx.access.group,
  );
}

/** CEL: route `r` is a fork's — named for a fork, every match requiring exactly that fork's header. */
export function isForkRoute(r: string, headerName: string): string {
  const h = celString(headerName);
  return (
    `(has(${r}.name) && ${r}.name.startsWith(${celString(ROUTE_PREFIX)}) && has(${r}.match) && size(${r}.match) > 0 && ` +
    `${r}.match.all(m, has(m.headers) && ${h} in m.headers && has(m.headers[${h}].exact) && m.headers[${h}].exact == ${routeFork(r)}))`
  );
}

/** CEL: the fork id in a fork route's name (`forkstack-<fork>[--…]`). */
const routeFork = (r: string) => `${r}.name.substring(${ROUTE_PREFIX.length}).split('--')[0]`;

/** VirtualServices: a write changes one fork's routes, the caller's; everything else stays as it was. */
export function routePolicy(ctx: PolicyContext): KubeObject {
  const fork = (r: string) => isForkRoute(r, ctx.headerName);
  const retired = (r: string) => `${r}.name.endsWith('--gone')`;
  const created = (o: string) => `has(${o}.metadata.annotations) && ${celString(LABELS.createdBy)} in ${o}.metadata.annotations && ${o}.metadata.annotations[${celString(LABELS.createdBy)}] == ${celString(MANAGED_BY)}`;
  // The default route forkstack's own VirtualService ends with: every request to its host, unchanged.
  // (`dyn`: CEL type-checks a map literal's values as one type; these are a string and a list.)
  const defaultRoute = (host: string) => `{'name': dyn('default'), 'route': dyn([{'destination': {'host': ${host}}}])}`;
  // Fork routes above every other route: a fork route moved below an app route loses its requests.
  const onTop = (routes: string) => `${routes}.filter(r, ${fork("r")}) + ${routes}.filter(r, !${fork("r")}) == ${routes}`;
  return policy(
    POLICY_NAMES.routes,
    [{ apiGroups: ["networking.istio.io"], apiVersions: ["*"], resources: ["virtualservices"], operations: ["CREATE", "UPDATE", "DELETE"] }],
    [
      { name: "newRoutes", expression: "request.operation == 'DELETE' || !has(object.spec.http) ? [] : object.spec.http" },
      { name: "oldRoutes", expression: "request.operation == 'CREATE' || !has(oldObject.spec.http) ? [] : oldObject.spec.http" },
      { name: "gatewayBound", expression: "request.operation != 'DELETE' && has(object.spec.gateways) && object.spec.gateways.exists(g, g != 'mesh')" },
      // Fork routes this write adds or changes, and live ones it removes (a retired one may go by anyone's hand).
      { name: "added", expression: `variables.newRoutes.filter(r, ${fork("r")} && !(r in variables.oldRoutes))` },
      { name: "removed", expression: `variables.oldRoutes.filter(r, ${fork("r")} && !${retired("r")} && !(r in variables.newRoutes))` },
      { name: "touched", expression: `variables.added.map(r, ${routeFork("r")}) + variables.removed.map(r, ${routeFork("r")})` },
      { name: "host", expression: "request.operation == 'CREATE' && has(object.spec.hosts) && size(object.spec.hosts) == 1 ? object.spec.hosts[0] : ''" },
      { name: "oldHost", expression: "request.operation == 'DELETE' && has(oldObject.spec.hosts) && size(oldObject.spec.hosts) == 1 ? oldObject.spec.hosts[0] : ''" },
    ],
    [
      {
        expression: `request.operation != 'UPDATE' || variables.newRoutes.filter(r, !${fork("r")}) == variables.oldRoutes.filter(r, !${fork("r")})`,
        messageExpression: `${what} + ': a fork may add, change or remove only its own routes (forkstack-<fork>, matching ${ctx.headerName} exactly); the other routes must stay as they are, in order'`,
      },
      {
        // Order and count too: swapping or duplicating another fork's routes changes which of its
        // variants its requests take (or sends them to a retired target).
        expression:
          `request.operation != 'UPDATE' || variables.newRoutes.filter(r, ${fork("r")} && !(${routeFork("r")} in variables.touched)) == ` +
          `variables.oldRoutes.filter(r, ${fork("r")} && !(${routeFork("r")} in variables.touched) && (!${retired("r")} || r in variables.newRoutes))`,
        messageExpression: `${what} + ': the routes of other forks stay as they are, in order (a retired one may only be removed)'`,
      },
      {
        expression: `request.operation != 'UPDATE' || !(${onTop("variables.oldRoutes")}) || ${onTop("variables.newRoutes")}`,
        messageExpression: `${what} + ': fork routes stay above every other route'`,
      },
      {
        expression:
          `request.operation != 'UPDATE' || (${same("spec.hosts", "[]")} && ${same("spec.gateways", "[]")} && ${same("spec.tcp", "[]")} && ` +
          `${same("spec.tls", "[]")} && ${same("spec.exportTo", "[]")} && ${same("metadata.labels", "{}")} && ${same("metadata.annotations", "{}")})`,
        messageExpression: `${what} + ': a fork may change only its routes; hosts, gateways, tcp, tls, exportTo, labels and annotations must stay as they are'`,
      },
      { expression: metadataKept, messageExpression: metadataMessage(what) },
      {
        expression: `variables.touched.all(f, f == variables.touched[0])`,
        messageExpression: `${what} + ': one write changes the routes of one fork only; this one changes routes of ' + variables.touched.join(', ')`,
      },
      {
        expression: `variables.touched.all(f, ${isForkId("f")}) && (size(variables.touched) == 0 || ${owns("variables.touched[0]")})`,
        messageExpression: notOwnedMessage("variables.touched[0]", what),
      },
      {
        expression: `variables.added.all(r, !has(r.delegate))`,
        messageExpression: `${what} + ': a fork route may not delegate (it would send the fork\\'s requests to the shared delegate\\'s routes)'`,
      },
      {
        expression: `variables.added.all(r, r.match.all(m, variables.gatewayBound ? has(m.gateways) && m.gateways == ['mesh'] : !has(m.gateways) || m.gateways == ['mesh']))`,
        messageExpression: `${what} + ': every match of a fork route applies to the mesh only (gateways: [mesh], required where the VirtualService is bound to a gateway), or clients outside the mesh could pick a fork'`,
      },
      {
        expression:
          `request.operation != 'CREATE' || (${created("object")} && object.metadata.annotations == {${celString(LABELS.createdBy)}: ${celString(MANAGED_BY)}} && ` +
          `has(object.metadata.labels) && object.metadata.labels == {${celString(LABELS.managedBy)}: ${celString(MANAGED_BY)}} && ` +
          `object.spec.all(k, k in ['hosts', 'http']) && ` +
          `variables.host.matches('^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\\\\.' + request.namespace + '\\\\.svc\\\\.cluster\\\\.local$') && ` +
          `size(variables.newRoutes) > 0 && variables.newRoutes[size(variables.newRoutes) - 1] == ${defaultRoute("variables.host")} && ` +
          `variables.newRoutes.all(r, ${fork("r")} || r == ${defaultRoute("variables.host")}))`,
        messageExpression:
          `${what} + ': a fork may create only forkstack\\'s VirtualService: one host <service>.' + request.namespace + '.svc.cluster.local, fork routes, then the default route to that host, ` +
          `labelled ${LABELS.managedBy}: ${MANAGED_BY} and annotated ${LABELS.createdBy}: ${MANAGED_BY}, nothing else'`,
      },
      {
        expression:
          `request.operation != 'DELETE' || (${created("oldObject")} && oldObject.spec.all(k, k in ['hosts', 'http']) && ` +
          `has(oldObject.metadata.labels) && oldObject.metadata.labels == {${celString(LABELS.managedBy)}: ${celString(MANAGED_BY)}} && ` +
          `variables.oldRoutes.all(r, ${fork("r")} || r == ${defaultRoute("variables.oldHost")}))`,
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

/** Every field forkstack writes in a fork's Mapping (mappings.ts); any other is refused. */
export const FORK_MAPPING_FIELDS = ["ambassador_id", "hostname", "prefix", "service", "allow_upgrade", "timeout_ms", "add_request_headers"];

/** Mappings: a fork's own, for its fork hostnames only, to its entry service or its copies, setting the fork header with append: false. */
export function mappingPolicy(ctx: PolicyContext): KubeObject {
  const h = celString(ctx.headerName);
  const header = `object.spec.add_request_headers[${h}]`;
  const id = "'Mapping ' + request.namespace + '/' + request.name";
  // Namespace names are DNS labels: nothing in them is special to RE2.
  const namespaces = Object.keys(ctx.access.namespaces).sort().join("|");
  // A copy of the fork (named `<service>-<fork>`, Service names are DNS-1035 labels) in a forkable namespace.
  const copyService = `'^[a-z]([-a-z0-9]*[a-z0-9])?-' + variables.newFork + '\\\\.(${namespaces}):[0-9]{1,5}$'`;
  return policy(
    POLICY_NAMES.mappings,
    [{ apiGroups: ["getambassador.io"], apiVersions: ["*"], resources: ["mappings"], operations: ["CREATE", "UPDATE", "DELETE"] }],
    [
      { name: "newFork", expression: forkOf("object") },
      { name: "oldFork", expression: forkOf("oldObject") },
      { name: "fork", expression: "request.operation == 'DELETE' ? variables.oldFork : variables.newFork" },
    ],
    [
      {
        expression: "request.operation == 'DELETE' || variables.newFork != ''",
        messageExpression: `'a fork may create or change only Mappings labelled ${LABELS.fork}; ' + ${id} + ' has no such label'`,
      },
      {
        expression: "request.operation == 'CREATE' || (variables.oldFork != '' && (request.operation == 'DELETE' || variables.oldFork == variables.newFork))",
        messageExpression: `${id} + ' is not this fork\\'s: a fork may change or delete only its own Mappings'`,
      },
      {
        expression: `variables.fork == '' || ${isForkId("variables.fork")}`,
        messageExpression: `${id} + ': ' + variables.fork + ' is not a fork id (lowercase letters, digits and single "-", at most ${MAX_FORK_ID_LENGTH})'`,
      },
      { expression: `variables.fork == '' || ${owns("variables.fork")}`, messageExpression: notOwnedMessage("variables.fork", id) },
      { expression: metadataKept, messageExpression: metadataMessage(id) },
      {
        expression: `request.operation == 'DELETE' || object.spec.all(k, k in ${celList(FORK_MAPPING_FIELDS)})`,
        messageExpression: `${id} + ': a fork\\'s Mapping may set only ${FORK_MAPPING_FIELDS.join(", ")}'`,
      },
      {
        expression: `request.operation == 'DELETE' || (has(object.spec.hostname) && ${forkHostExpression(ctx)} && !(object.spec.hostname in ${celList(ctx.upstreams.map((u) => u.host))}))`,
        messageExpression: `${id} + ': hostname ' + (has(object.spec.hostname) ? object.spec.hostname : '(none)') + ' is not a fork hostname of ' + variables.newFork + '; a fork may route only its own hosts, never a shared one'`,
      },
      {
        expression: `request.operation == 'DELETE' || (has(object.spec.service) && (object.spec.service in ${celList(ctx.upstreams.map((u) => formatServiceRef(u.service)))} || object.spec.service.matches(${copyService})))`,
        messageExpression: `${id} + ': service ' + (has(object.spec.service) ? object.spec.service : '(none)') + ' is neither an upstream\\'s entry Service nor a copy of fork ' + variables.newFork + ' (<name>-' + variables.newFork + '.<forkable namespace>:<port>)'`,
      },
      {
        expression:
          `request.operation == 'DELETE' || (has(object.spec.add_request_headers) && ${h} in object.spec.add_request_headers && ` +
          `has(${header}.value) && ${header}.value == variables.newFork && has(${header}.append) && ${header}.append == false)`,
        messageExpression: `${id} + ' must set ${ctx.headerName}: ' + variables.newFork + ' with append: false, so a client cannot send another fork\\'s id'`,
      },
      {
        // Envoy lower-cases header names: a second spelling of the fork header could win over the
        // first. Pseudo-headers, host and hop-by-hop headers make Envoy refuse the gateway's whole
        // route configuration, for everyone.
        expression:
          `request.operation == 'DELETE' || !has(object.spec.add_request_headers) || object.spec.add_request_headers.all(k, k == ${h} || ` +
          `(k.lowerAscii() != ${h} && k.matches('^[a-z0-9][a-z0-9!#$%&*+.^_|~-]*$') && !(k in ${celList(FORBIDDEN_HEADERS)})))`,
        messageExpression: `${id} + ': a fork\\'s Mapping may add only lowercase header names that are not ${ctx.headerName} spelt otherwise, host or hop-by-hop'`,
      },
      {
        expression: `request.operation == 'DELETE' || !has(object.spec.prefix) || object.spec.prefix.startsWith('/')`,
        messageExpression: `${id} + ': a fork\\'s Mapping prefix is a path starting with /'`,
      },
      {
        expression: `request.operation == 'DELETE' || (has(object.spec.ambassador_id) && object.spec.ambassador_id == [${celString(ctx.ambassadorId)}])`,
        messageExpression: `${id} + ' must name ambassador_id [${ctx.ambassadorId}], the shared gateway'`,
      },
    ],
    ctx.access.group,
  );
}

/**
 * Leases: only those forks take turns with (turns and the queue's tickets, fork/routeTurn.ts),
 * created in the caller's own fork's name (holderIdentity `<fork>/<random>`), and changed only by
 * an owner of the fork holding it: renewed, or handed to the next writer in the queue (whoever
 * that is: a turn handed to a writer that does not take it is passed over in seconds). RBAC cannot
 * say which Leases (`resourceNames` does not limit create), and an app's leader-election Lease in
 * the same namespace must stay out of a fork's reach. Deleting a turn Lease stays open to every
 * member: it is how a dead holder is passed over, and a policy has no clock to tell a dead holder
 * from a live one; the turn only saves work, correctness never depends on it.
 */
export function turnPolicy(ctx: PolicyContext): KubeObject {
  const holder = "object.spec.holderIdentity";
  // Whose fork may write: the new holder's on create, the current holder's on update.
  const holderFork = `(request.operation == 'CREATE' ? ${holder} : (has(oldObject.spec.holderIdentity) ? oldObject.spec.holderIdentity : '')).split('/')[0]`;
  return policy(
    POLICY_NAMES.turns,
    [{ apiGroups: ["coordination.k8s.io"], apiVersions: ["v1"], resources: ["leases"], operations: ["CREATE", "UPDATE", "DELETE"] }],
    [],
    [
      {
        expression: `request.name.startsWith(${celString(TURN_LEASE_PREFIX)})`,
        messageExpression: `'Lease ' + request.namespace + '/' + request.name + ': a fork may write only the Leases forks take turns with (${TURN_LEASE_PREFIX}<service>)'`,
      },
      { expression: metadataKept, messageExpression: metadataMessage("'Lease ' + request.namespace + '/' + request.name") },
      {
        expression:
          `request.operation == 'DELETE' || (has(${holder}) && ${holder}.contains('/') && ${isForkId(`${holder}.split('/')[0]`)} && ` +
          `(request.operation == 'CREATE' || (has(oldObject.spec.holderIdentity) && oldObject.spec.holderIdentity.contains('/'))))`,
        messageExpression: `'Lease ' + request.namespace + '/' + request.name + ': a turn is held as <fork>/<writer>, and renewed or handed on by its holder only'`,
      },
      {
        expression: `request.operation == 'DELETE' || ${owns(holderFork)}`,
        messageExpression: notOwnedMessage(holderFork, "'Lease ' + request.namespace + '/' + request.name"),
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
