/**
 * Evaluates a ValidatingAdmissionPolicy against one admission request the way the API server does
 * (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/): the
 * request must match a resource rule and every `matchCondition`; then `variables` are evaluated in
 * order and each validation must be true, else the request is denied with its `messageExpression`.
 * An evaluation error counts as a denial (`failurePolicy: Fail`). CEL comes from @bufbuild/cel with
 * the strings extension, which Kubernetes' CEL environment includes too (cel-go ext.Strings).
 *
 * Two Kubernetes CEL libraries are modelled as far as the policies use them:
 * - `authorizer.group(g).resource(r).name(n).check(verb).allowed()`
 *   (https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-authz-library), answered by
 *   evaluating the request's `rbac` objects (ClusterRoles and ClusterRoleBindings) the way the RBAC
 *   authorizer does: a binding whose subjects name the user or one of its groups, to a role with a
 *   rule for that group, resource and verb, whose resourceNames are absent or list the name.
 *   Without `rbac`, every check is allowed.
 * - `quantity(s).compareTo(quantity(t))` (https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-quantity-library).
 */
import { CelScalar, celFunc, celMethod, mapType, run } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import type { KubeObject } from "../../render/cluster";

export interface AdmissionRequest {
  operation: "CREATE" | "UPDATE" | "DELETE";
  object?: KubeObject;
  oldObject?: KubeObject;
  groups?: string[];
  username?: string;
  /** The request's options (CreateOptions, UpdateOptions, DeleteOptions), e.g. { propagationPolicy: "Orphan" }. */
  options?: Record<string, unknown>;
  /** ClusterRoles and ClusterRoleBindings the authorizer answers from; undefined: it allows everything. */
  rbac?: KubeObject[];
}

export type Verdict = { allowed: true; applied: boolean } | { allowed: false; message: string };

/** JSON → CEL: objects become maps, whole numbers ints (as Kubernetes decodes them). */
function toCel(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === "object") return new Map(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, toCel(x)]));
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  return v;
}

function celValueToJs(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  return v;
}

const MAP = mapType(CelScalar.STRING, CelScalar.DYN);

interface Authz {
  rbac?: KubeObject[];
  username: string;
  groups: string[];
}

/** Whether RBAC objects grant `user` the verb on group/resource/name (cluster-wide). */
export function rbacAllows(rbac: KubeObject[], username: string, groups: string[], attrs: { group: string; resource: string; name: string; verb: string }): boolean {
  const roles = new Map(rbac.filter((o) => o.kind === "ClusterRole").map((o) => [o.metadata.name, o]));
  return rbac
    .filter((o) => o.kind === "ClusterRoleBinding")
    .filter((b) => ((b as any).subjects ?? []).some((s: any) => (s.kind === "User" && s.name === username) || (s.kind === "Group" && groups.includes(s.name))))
    .some((b) =>
      (((roles.get((b as any).roleRef.name) as any)?.rules ?? []) as any[]).some(
        (r) =>
          r.apiGroups.includes(attrs.group) &&
          r.resources.includes(attrs.resource) &&
          r.verbs.includes(attrs.verb) &&
          (r.resourceNames === undefined || r.resourceNames.includes(attrs.name)),
      ),
    );
}

/** Kubernetes quantity → number (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/). */
export function quantityValue(q: string): number {
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][-+]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E))?$/.exec(q);
  if (!m) throw new Error(`quantity: ${q} is not a quantity`);
  const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
  const decimal: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  const n = Number(m[1]);
  if (m[2] !== undefined) return n * 10 ** Number(m[2].slice(1));
  return m[3] === undefined ? n : n * (binary[m[3]] ?? decimal[m[3]]);
}

function libraries(authz: Authz) {
  const get = (target: any, key: string) => (target.get(key) as string | undefined) ?? "";
  const step = (key: string) =>
    celMethod(key, MAP, [CelScalar.STRING], MAP, function (this: any, value: string) {
      const out = new Map<string, unknown>();
      for (const k of ["group", "resource", "name"]) if (this.get(k) !== undefined) out.set(k, this.get(k));
      out.set(key, value);
      return out as any;
    });
  return [
    step("group"),
    step("resource"),
    step("name"),
    celMethod("check", MAP, [CelScalar.STRING], MAP, function (this: any, verb: string) {
      const attrs = { group: get(this, "group"), resource: get(this, "resource"), name: get(this, "name"), verb };
      const allowed = authz.rbac === undefined || rbacAllows(authz.rbac, authz.username, authz.groups, attrs);
      return new Map([["allowed", allowed]]) as any;
    }),
    celMethod("allowed", MAP, [], CelScalar.BOOL, function (this: any) {
      return this.get("allowed") === true;
    }),
    celFunc("quantity", [CelScalar.STRING], MAP, (q: string) => new Map([["quantity", quantityValue(q)]]) as any),
    celMethod("compareTo", MAP, [MAP], CelScalar.INT, function (this: any, other: any) {
      const a = this.get("quantity") as number;
      const b = other.get("quantity") as number;
      return BigInt(a < b ? -1 : a > b ? 1 : 0);
    }),
  ];
}

const PLURALS: Record<string, string> = { Deployment: "deployments", Service: "services", VirtualService: "virtualservices", Mapping: "mappings", Lease: "leases" };

export function admit(policy: KubeObject, req: AdmissionRequest): Verdict {
  const obj = req.object ?? req.oldObject!;
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  const spec = policy.spec as any;
  const resource = PLURALS[obj.kind];
  const matches = (spec.matchConstraints.resourceRules as any[]).some(
    (r) =>
      r.apiGroups.includes(group) &&
      (r.apiVersions.includes("*") || r.apiVersions.includes(version)) &&
      r.resources.includes(resource) &&
      r.operations.includes(req.operation),
  );
  if (!matches) return { allowed: true, applied: false };

  const username = req.username ?? "alice@example.com";
  const groups = req.groups ?? ["forkstack-forkers", "system:authenticated"];
  const request = toCel({
    operation: req.operation,
    kind: { group, version, kind: obj.kind },
    resource: { group, version, resource },
    namespace: obj.metadata.namespace ?? "",
    name: obj.metadata.name,
    userInfo: { username, groups },
    ...(req.options === undefined ? {} : { options: req.options }),
  });
  const env: Record<string, unknown> = {
    request,
    object: req.object === undefined ? null : toCel(req.object),
    oldObject: req.oldObject === undefined ? null : toCel(req.oldObject),
    authorizer: new Map([["authorizer", true]]),
  };
  const funcs = [...strings, ...libraries({ rbac: req.rbac, username, groups })];
  const evaluate = (expression: string, extra: Record<string, unknown> = {}) => run(expression, { ...env, ...extra } as any, { funcs });

  for (const condition of spec.matchConditions ?? []) {
    if (evaluate(condition.expression) !== true) return { allowed: true, applied: false };
  }
  const variables = new Map<string, unknown>();
  for (const v of spec.variables ?? []) {
    try {
      variables.set(v.name, evaluate(v.expression, { variables }));
    } catch {
      // Variables are lazy in the API server: an error only matters if a validation reads it.
      variables.set(v.name, undefined);
    }
  }
  for (const validation of spec.validations) {
    let ok: unknown;
    try {
      ok = evaluate(validation.expression, { variables });
    } catch (err) {
      return { allowed: false, message: `expression error: ${(err as Error).message}` };
    }
    if (ok !== true) {
      let message: string;
      try {
        message = String(celValueToJs(evaluate(validation.messageExpression, { variables })));
      } catch (err) {
        message = `messageExpression error: ${(err as Error).message}`;
      }
      return { allowed: false, message };
    }
  }
  return { allowed: true, applied: true };
}
