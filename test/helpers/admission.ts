/**
 * Evaluates a ValidatingAdmissionPolicy against one admission request the way the API server does
 * (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/): the
 * request must match a resource rule and every `matchCondition`; then `variables` are evaluated in
 * order and each validation must be true, else the request is denied with its `messageExpression`.
 * An evaluation error counts as a denial (`failurePolicy: Fail`). CEL comes from @bufbuild/cel with
 * the strings extension, which Kubernetes' CEL environment includes too (cel-go ext.Strings).
 */
import { run } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import type { KubeObject } from "../../render/cluster";

export interface AdmissionRequest {
  operation: "CREATE" | "UPDATE" | "DELETE";
  object?: KubeObject;
  oldObject?: KubeObject;
  groups?: string[];
  username?: string;
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

  const request = toCel({
    operation: req.operation,
    kind: { group, version, kind: obj.kind },
    resource: { group, version, resource },
    namespace: obj.metadata.namespace ?? "",
    name: obj.metadata.name,
    userInfo: { username: req.username ?? "alice@example.com", groups: req.groups ?? ["forkstack-forkers", "system:authenticated"] },
  });
  const env: Record<string, unknown> = {
    request,
    object: req.object === undefined ? null : toCel(req.object),
    oldObject: req.oldObject === undefined ? null : toCel(req.oldObject),
  };
  const evaluate = (expression: string, extra: Record<string, unknown> = {}) => run(expression, { ...env, ...extra } as any, { funcs: strings });

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
