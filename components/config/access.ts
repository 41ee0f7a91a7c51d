/**
 * `forkstack:forkAccess` of a base stack: who may run forks (a Kubernetes group, and in eks mode
 * the IAM principals put in it), in which namespaces, and as which ServiceAccounts copies there may
 * run. Decided here; components/forkPolicy.ts turns it into RBAC and admission policies.
 */
import { ConfigError } from "../errors";
import { asObject, DEFAULTS, isDnsSubdomain, isNamespaceName, key } from "./common";
import { knownKeys } from "./keys";

/** How a namespace's copies may run: with the shared Service's ServiceAccount, or only as these. */
export type ServiceAccountRule = "shared" | readonly string[];

export interface ForkAccessConfig {
  /** The Kubernetes group whose members run forks (RBAC subject and policy match). */
  readonly group: string;
  /** Forkable namespaces and how copies in each may run. */
  readonly namespaces: Readonly<Record<string, ServiceAccountRule>>;
  /** eks mode: IAM principals (roles of developers and CI) mapped to `group` by EKS access entries. */
  readonly principals: readonly string[];
}

/** https://kubernetes.io/docs/reference/access-authn-authz/rbac/ (a group is any non-empty string; keep it printable). */
const GROUP = /^[A-Za-z0-9][A-Za-z0-9:._@-]{0,127}$/;
const IAM_PRINCIPAL = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)\/[\w+=,.@\/-]+$/;

/** Validates and defaults `forkstack:forkAccess`; `mode` is the cluster's (principals need eks). */
export function parseForkAccess(value: unknown, mode: "eks" | "kubeconfig"): ForkAccessConfig {
  const field = key("forkAccess");
  const obj = value === undefined || value === null ? {} : asObject(field, value, "write it as { group: forkstack-forkers, namespaces: { shop: shared } }");
  knownKeys("forkAccess", obj, "forkAccess");
  const group = obj.group ?? DEFAULTS.forkGroup;
  if (typeof group !== "string" || !GROUP.test(group) || group.startsWith("system:")) {
    throw new ConfigError(`${field}.group`, group, "is not a group name forkstack can bind", `use letters, digits and ":._@-", not "system:...", e.g. "${DEFAULTS.forkGroup}"`);
  }
  const principalsRaw = obj.principals ?? [];
  if (!Array.isArray(principalsRaw)) throw new ConfigError(`${field}.principals`, principalsRaw, "is not a list", "list IAM role ARNs, e.g. [arn:aws:iam::123456789012:role/developers]");
  const principals = principalsRaw.map((p, i) => {
    if (typeof p !== "string" || !IAM_PRINCIPAL.test(p)) throw new ConfigError(`${field}.principals[${i}]`, p, "is not an IAM role or user ARN", "use e.g. arn:aws:iam::123456789012:role/developers");
    return p;
  });
  if (principals.length > 0 && mode !== "eks") {
    throw new ConfigError(`${field}.principals`, principals, "needs cluster.mode eks (EKS access entries map them to the group)", "remove them and add the group to your users in the cluster's own identity provider");
  }
  const nsRaw = obj.namespaces === undefined || obj.namespaces === null ? {} : asObject(`${field}.namespaces`, obj.namespaces, "map each forkable namespace to shared or a list of ServiceAccounts, e.g. { shop: shared }");
  const namespaces: Record<string, ServiceAccountRule> = {};
  for (const [ns, rule] of Object.entries(nsRaw)) {
    const f = `${field}.namespaces.${ns}`;
    if (!isNamespaceName(ns) || ns.startsWith("kube-") || ns === "istio-system") {
      throw new ConfigError(f, ns, "is not a namespace forks may use", "name an application namespace, e.g. shop");
    }
    if (rule === "shared") {
      namespaces[ns] = "shared";
    } else if (Array.isArray(rule) && rule.length > 0 && rule.every((s) => typeof s === "string" && isDnsSubdomain(s))) {
      namespaces[ns] = [...rule] as string[];
    } else {
      throw new ConfigError(f, rule, "is not a ServiceAccount rule", 'use "shared" (copies run as the shared ServiceAccount) or a list of ServiceAccounts, e.g. [fork-runner]');
    }
  }
  return { group, principals, namespaces };
}
