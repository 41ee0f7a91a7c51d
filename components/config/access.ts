/**
 * `forkstack:forkAccess` of a base stack: who may run forks (a Kubernetes group, and in eks mode
 * the IAM principals put in it), in which namespaces, as which ServiceAccounts and with which
 * Secrets copies there may run, who owns which fork ids, and how much a copy's container may ask
 * for. Decided here; components/forkPolicy.ts turns it into RBAC and admission policies.
 */
import { ConfigError } from "../errors";
import { asObject, DEFAULTS, isDnsSubdomain, isNamespaceName, key, stringList } from "./common";
import { forkIdProblem, MAX_FORK_ID_LENGTH } from "./fork";
import { knownKeys } from "./keys";

/** How copies in one forkable namespace may run. */
export interface NamespaceAccess {
  /** The only ServiceAccounts a copy may run as (a copy of a Deployment running as another gets the first). */
  readonly serviceAccounts: readonly string[];
  /** When given, the only Secrets a copy may use (volumes, env, envFrom); [] = none. undefined: not limited. */
  readonly secrets?: readonly string[];
}

/** Who owns which fork ids: a member of the fork group may write a fork's objects only when an entry names them. */
export interface ForkOwner {
  /** Fork ids: an id, `<prefix>-*` (every id starting with `<prefix>-`) or `*` (every id). */
  readonly ids: readonly string[];
  /** Kubernetes user names. */
  readonly users: readonly string[];
  /** Kubernetes group names. */
  readonly groups: readonly string[];
  /** ServiceAccounts, `namespace/name`. */
  readonly serviceAccounts: readonly string[];
}

/** A ceiling per container of a fork's copy, on what it requests or limits; a missing one is no ceiling. */
export interface ContainerResources {
  /** A Kubernetes quantity, e.g. `500m` or `2`. */
  readonly cpu?: string;
  /** A Kubernetes quantity, e.g. `512Mi` or `4Gi`. */
  readonly memory?: string;
}

export interface ForkAccessConfig {
  /** The Kubernetes group whose members run forks (RBAC subject and policy match). */
  readonly group: string;
  /** eks mode: IAM principals (roles of developers and CI) mapped to `group` by EKS access entries. */
  readonly principals: readonly string[];
  /** Forkable namespaces and how copies in each may run. */
  readonly namespaces: Readonly<Record<string, NamespaceAccess>>;
  /** undefined: not set (the previous release's behaviour: every member owns every fork id). */
  readonly owners?: readonly ForkOwner[];
  readonly maxContainerResources?: ContainerResources;
}

/** How a base stack's output says copies may run (a base of the previous release may still say "shared"). */
export type ServiceAccountRule = "shared" | readonly string[];

/** https://kubernetes.io/docs/reference/access-authn-authz/rbac/ (a group is any non-empty string; keep it printable). */
const GROUP = /^[A-Za-z0-9][A-Za-z0-9:._@-]{0,127}$/;
const IAM_PRINCIPAL = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)\/[\w+=,.@\/-]+$/;
/** A Kubernetes user name as an authenticator reports it: printable, no whitespace. */
const USER = /^[^\s\p{C}]{1,253}$/u;
/** https://github.com/kubernetes/apimachinery/blob/master/pkg/api/resource/quantity.go (the grammar of a quantity). */
export const QUANTITY = /^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/;

/** Validates and defaults `forkstack:forkAccess`; `mode` is the cluster's (principals need eks). */
export function parseForkAccess(value: unknown, mode: "eks" | "kubeconfig"): ForkAccessConfig {
  const field = key("forkAccess");
  const obj = value === undefined || value === null ? {} : asObject(field, value, "write it as { group: forkstack-forkers, namespaces: { shop: [default] } }");
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
  const nsRaw = obj.namespaces === undefined || obj.namespaces === null ? {} : asObject(`${field}.namespaces`, obj.namespaces, "map each forkable namespace to the ServiceAccounts copies may run as, e.g. { shop: [default] }");
  const namespaces: Record<string, NamespaceAccess> = {};
  for (const [ns, rule] of Object.entries(nsRaw)) namespaces[ns] = parseNamespaceAccess(ns, rule);
  const owners = obj.owners === undefined || obj.owners === null ? undefined : parseOwners(obj.owners);
  const maxContainerResources = obj.maxContainerResources === undefined || obj.maxContainerResources === null ? undefined : parseContainerResources(obj.maxContainerResources);
  return { group, principals, namespaces, ...(owners === undefined ? {} : { owners }), ...(maxContainerResources === undefined ? {} : { maxContainerResources }) };
}

/** `namespaces.<ns>`: a list of ServiceAccounts, or `{ serviceAccounts, secrets? }`. */
function parseNamespaceAccess(ns: string, rule: unknown): NamespaceAccess {
  const f = `${key("forkAccess")}.namespaces.${ns}`;
  if (!isNamespaceName(ns) || ns.startsWith("kube-") || ns === "istio-system") {
    throw new ConfigError(f, ns, "is not a namespace forks may use", "name an application namespace, e.g. shop");
  }
  if (rule === "shared") {
    // The admission policy sees the copy alone, never the Deployment it copies, so "the shared
    // Deployment's own ServiceAccount" cannot be checked: only a list can.
    throw new ConfigError(
      f,
      rule,
      "lets a copy run as any ServiceAccount of the namespace, which the API server cannot limit to the shared Deployment's own",
      `list the ServiceAccounts copies may run as, e.g. [default, api] (kubectl get deployments -n ${ns} -o jsonpath='{..serviceAccountName}')`,
    );
  }
  if (Array.isArray(rule)) {
    if (rule.length > 0 && rule.every((s) => typeof s === "string" && isDnsSubdomain(s))) return { serviceAccounts: [...rule] as string[] };
  } else if (rule !== null && typeof rule === "object") {
    const obj = rule as Record<string, unknown>;
    knownKeys(`forkAccess.namespaces.${ns}`, obj, "forkAccess.namespaces.*");
    const saFix = "list the ServiceAccounts copies may run as, e.g. serviceAccounts: [fork-runner]";
    if (obj.serviceAccounts === undefined || obj.serviceAccounts === null) throw new ConfigError(`${f}.serviceAccounts`, obj.serviceAccounts, "is required", saFix);
    const serviceAccounts = stringList(`${f}.serviceAccounts`, obj.serviceAccounts, isDnsSubdomain, "is not a ServiceAccount name", saFix);
    if (serviceAccounts.length === 0) throw new ConfigError(`${f}.serviceAccounts`, serviceAccounts, "is empty, so no copy could run here", saFix);
    if (obj.secrets === undefined || obj.secrets === null) return { serviceAccounts };
    const secrets = stringList(`${f}.secrets`, obj.secrets, isDnsSubdomain, "is not a Secret name", "list the Secrets copies may use, e.g. secrets: [payments-config], or [] for none");
    return { serviceAccounts, secrets };
  }
  throw new ConfigError(f, rule, "is not a ServiceAccount rule", "list the ServiceAccounts copies may run as, e.g. [fork-runner], or write { serviceAccounts: [fork-runner], secrets: [payments-config] }");
}

/** `owners`: who owns which fork ids. */
function parseOwners(value: unknown): ForkOwner[] {
  const field = `${key("forkAccess")}.owners`;
  const example = 'e.g. [{ ids: [alice, "alice-*"], users: [dev-alice] }]';
  if (!Array.isArray(value)) throw new ConfigError(field, value, "is not a list", `list who owns which fork ids, ${example}`);
  return value.map((entry, i): ForkOwner => {
    const f = `${field}[${i}]`;
    const obj = asObject(f, entry, `write it as { ids: [alice, "alice-*"], users: [dev-alice] }`);
    knownKeys(`forkAccess.owners[${i}]`, obj, "forkAccess.owners[]");
    const idFix = `use a fork id (e.g. alice), "<prefix>-*" for every id starting with "<prefix>-" (e.g. "alice-*"), or "*" for every id`;
    if (obj.ids === undefined || obj.ids === null) throw new ConfigError(`${f}.ids`, obj.ids, "is required", idFix);
    if (!Array.isArray(obj.ids) || obj.ids.length === 0) throw new ConfigError(`${f}.ids`, obj.ids, "is not a non-empty list", idFix);
    const ids = obj.ids.map((id, j) => checkOwnedId(`${f}.ids[${j}]`, id, idFix));
    const users = stringList(`${f}.users`, obj.users, (u) => USER.test(u), "is not a Kubernetes user name", "use the name the cluster authenticates the user as, e.g. dev-alice (printable, no spaces)");
    const groups = stringList(`${f}.groups`, obj.groups, (g) => GROUP.test(g), "is not a group name", 'use letters, digits and ":._@-", e.g. forkstack-ci');
    const serviceAccounts = stringList(
      `${f}.serviceAccounts`,
      obj.serviceAccounts,
      (s) => /^[^/]+\/[^/]+$/.test(s) && isNamespaceName(s.split("/")[0]) && isDnsSubdomain(s.split("/")[1]),
      "is not a ServiceAccount as namespace/name",
      "write it as namespace/name, e.g. ci/forkstack-ci",
    );
    if (users.length + groups.length + serviceAccounts.length === 0) {
      throw new ConfigError(f, entry, "owns ids but names nobody", "add the users, groups or serviceAccounts that own these fork ids, or remove the entry");
    }
    return { ids, users, groups, serviceAccounts };
  });
}

/** An owned id: a fork id, `<prefix>-*` or `*`. */
function checkOwnedId(field: string, id: unknown, fix: string): string {
  if (typeof id !== "string") throw new ConfigError(field, id, "is not a fork id or pattern", fix);
  if (id === "*") return id;
  const prefix = id.endsWith("-*") ? id.slice(0, -2) : undefined;
  const problem = forkIdProblem(prefix ?? id);
  if (problem !== undefined) throw new ConfigError(field, id, prefix === undefined ? problem : `has a prefix that ${problem}`, fix);
  // "<prefix>-" and at least one more character must fit in a fork id.
  if (prefix !== undefined && prefix.length > MAX_FORK_ID_LENGTH - 2) {
    throw new ConfigError(field, id, `matches no fork id (ids are at most ${MAX_FORK_ID_LENGTH} characters)`, `shorten the prefix to at most ${MAX_FORK_ID_LENGTH - 2} characters`);
  }
  return id;
}

/** `maxContainerResources`: `{ cpu?, memory? }`, each a Kubernetes quantity. */
function parseContainerResources(value: unknown): ContainerResources {
  const field = `${key("forkAccess")}.maxContainerResources`;
  const obj = asObject(field, value, 'write it as { cpu: "2", memory: 4Gi }');
  knownKeys("forkAccess.maxContainerResources", obj, "forkAccess.maxContainerResources");
  const quantity = (name: "cpu" | "memory", example: string): string | undefined => {
    const v = obj[name];
    if (v === undefined || v === null) return undefined;
    // A YAML number of CPUs (`cpu: 2`) means what it says; a bare number of memory would be bytes.
    const text = name === "cpu" && typeof v === "number" && Number.isFinite(v) ? String(v) : v;
    if (typeof text !== "string" || !QUANTITY.test(text)) {
      const fix = name === "memory" && typeof v === "number" ? `write it with a unit, e.g. ${example}` : `use a Kubernetes quantity, e.g. ${example}`;
      throw new ConfigError(`${field}.${name}`, v, "is not a Kubernetes quantity", fix);
    }
    return text;
  };
  const cpu = quantity("cpu", '"500m" or "2"');
  const memory = quantity("memory", '"512Mi" or "4Gi"');
  return { ...(cpu === undefined ? {} : { cpu }), ...(memory === undefined ? {} : { memory }) };
}
