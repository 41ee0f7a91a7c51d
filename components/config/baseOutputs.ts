/**
 * The base → fork contract: what a base stack publishes for its forks (forkAccessOutputs, with
 * components/base.ts) and how a fork reads it back (parseBaseOutputs), checked field by field.
 */
import { ConfigError } from "../errors";
import { ContainerResources, ForkAccessConfig, QUANTITY, ServiceAccountRule } from "./access";
import { DEFAULTS, DNS_LABEL, HEADER_NAME, HostScheme, isDnsName, isNamespaceName, key, Upstream } from "./common";

/** What a fork stack needs to know of its base: the base stack's outputs (see index.ts). */
export interface BaseOutputs {
  readonly headerName: string;
  readonly ambassadorId: string;
  readonly gatewayNamespace: string;
  readonly upstreams: readonly Upstream[];
  readonly hostScheme: HostScheme;
  readonly domain: string;
  /** The most replicas a fork's copy may run (`forkstack:maxForkReplicas` of the base). */
  readonly maxForkReplicas: number;
  /** Namespaces forks may copy into, and the ServiceAccounts copies there may run as (`forkstack:forkAccess.namespaces`). */
  readonly forkNamespaces: Readonly<Record<string, ServiceAccountRule>>;
  /** The only Secrets copies may use, for the namespaces whose config limits them; {} from a base of the previous release. */
  readonly forkSecrets: Readonly<Record<string, readonly string[]>>;
  /** The ceiling on a copy's container requests and limits (`forkstack:forkAccess.maxContainerResources`); undefined: none. */
  readonly maxContainerResources?: ContainerResources;
}

/** Every output parseBaseOutputs reads. */
export const BASE_OUTPUT_NAMES = [
  "headerName",
  "ambassadorId",
  "gatewayNamespace",
  "upstreams",
  "hostScheme",
  "domain",
  "maxForkReplicas",
  "forkNamespaces",
  "forkSecrets",
  "forkMaxContainerResources",
  "kubeconfig",
  "kubeContext",
] as const;

/**
 * The outputs a base stack publishes about fork access (components/base.ts; the e2e harness's base
 * too): the group, each forkable namespace's ServiceAccounts, the Secrets of those namespaces that
 * limit them, and the container ceiling (undefined when the base sets none).
 */
export function forkAccessOutputs(access: ForkAccessConfig): {
  forkGroup: string;
  forkNamespaces: Record<string, string[]>;
  forkSecrets: Record<string, string[]>;
  forkMaxContainerResources: ContainerResources | undefined;
} {
  const namespaces = Object.entries(access.namespaces);
  return {
    forkGroup: access.group,
    forkNamespaces: Object.fromEntries(namespaces.map(([ns, a]) => [ns, [...a.serviceAccounts]])),
    forkSecrets: Object.fromEntries(namespaces.flatMap(([ns, a]) => (a.secrets === undefined ? [] : [[ns, [...a.secrets]]]))),
    forkMaxContainerResources: access.maxContainerResources === undefined ? undefined : { ...access.maxContainerResources },
  };
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");
const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * The base stack's outputs as a fork reads them through its StackReference, checked field by field
 * (a base deployed by another forkstack version, or by hand, must not be half understood).
 * `values` holds each output's value (undefined when the base has none). Throws ConfigError naming
 * `forkstack:baseStack`, the output and what to do.
 */
export function parseBaseOutputs(baseStack: string, values: Readonly<Record<string, unknown>>): { base: BaseOutputs; kubeconfig: string; kubeContext: string } {
  const field = key("baseStack");
  const bad = (output: string, problem: string): never => {
    throw new ConfigError(field, baseStack, `has an output "${output}" that ${problem}`, "run `pulumi up` on the base stack with this version of forkstack, or point forkstack:baseStack at a deployed base stack");
  };
  const required = (name: string): unknown => {
    const v = values[name];
    if (v === undefined || v === null) {
      throw new ConfigError(field, baseStack, `has no output "${name}"`, "run `pulumi up` on the base stack first, or point forkstack:baseStack at a deployed base stack");
    }
    return v;
  };
  const text = (name: string, test: (v: string) => boolean): string => {
    const v = required(name);
    if (typeof v !== "string" || !test(v)) bad(name, `is not valid (${JSON.stringify(v)})`);
    return v as string;
  };
  const optionalText = (name: string): string => {
    const v = values[name];
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") bad(name, "is not a string");
    return v as string;
  };
  const headerName = text("headerName", (v) => HEADER_NAME.test(v));
  const ambassadorId = text("ambassadorId", (v) => DNS_LABEL.test(v));
  const gatewayNamespace = text("gatewayNamespace", isNamespaceName);
  const hostScheme = text("hostScheme", (v) => v === "subdomain" || v === "flat") as HostScheme;
  const domain = text("domain", isDnsName);
  const upstreamsRaw = required("upstreams");
  if (!Array.isArray(upstreamsRaw) || upstreamsRaw.length === 0) bad("upstreams", "is not a non-empty list");
  const upstreams = (upstreamsRaw as unknown[]).map((u, i): Upstream => {
    const o = u as { host?: unknown; service?: { name?: unknown; namespace?: unknown; port?: unknown } } | null;
    const svc = o?.service;
    if (
      o === null || typeof o !== "object" || typeof o.host !== "string" || !isDnsName(o.host) ||
      svc === null || typeof svc !== "object" || typeof svc.name !== "string" || typeof svc.namespace !== "string" ||
      typeof svc.port !== "number" || !Number.isInteger(svc.port) || svc.port < 1 || svc.port > 65535
    ) {
      return bad(`upstreams[${i}]`, "is not { host, service: { name, namespace, port } }");
    }
    return { host: o.host, service: { name: svc.name, namespace: svc.namespace, port: svc.port } };
  });
  const maxRaw = values.maxForkReplicas;
  if (maxRaw !== undefined && maxRaw !== null && (typeof maxRaw !== "number" || !Number.isInteger(maxRaw) || maxRaw < 1)) bad("maxForkReplicas", "is not a whole number of at least 1");
  const maxForkReplicas = typeof maxRaw === "number" ? maxRaw : DEFAULTS.maxForkReplicas;
  const nsRaw = required("forkNamespaces");
  if (!isMap(nsRaw)) bad("forkNamespaces", "is not a map of namespace to ServiceAccount rule");
  const forkNamespaces: Record<string, ServiceAccountRule> = {};
  for (const [ns, rule] of Object.entries(nsRaw as Record<string, unknown>)) {
    // "shared": a base of the previous release (components/fork/plan.ts keeps the Deployment's own).
    if (rule === "shared") forkNamespaces[ns] = "shared";
    else if (isStringList(rule) && rule.length > 0) forkNamespaces[ns] = rule;
    else bad(`forkNamespaces.${ns}`, "is not shared or a list of ServiceAccounts");
  }
  return {
    base: {
      headerName,
      ambassadorId,
      gatewayNamespace,
      upstreams,
      hostScheme,
      domain,
      maxForkReplicas,
      forkNamespaces,
      forkSecrets: parseForkSecrets(values.forkSecrets, bad),
      ...optionalResources(values.forkMaxContainerResources, bad),
    },
    kubeconfig: optionalText("kubeconfig"),
    kubeContext: optionalText("kubeContext"),
  };
}

/** `forkSecrets`: namespace → Secret names; absent ({}) in a base of the previous release. */
function parseForkSecrets(raw: unknown, bad: (output: string, problem: string) => never): Record<string, string[]> {
  if (raw === undefined || raw === null) return {};
  if (!isMap(raw)) bad("forkSecrets", "is not a map of namespace to a list of Secrets");
  const out: Record<string, string[]> = {};
  for (const [ns, names] of Object.entries(raw as Record<string, unknown>)) {
    if (!isStringList(names)) bad(`forkSecrets.${ns}`, "is not a list of Secrets");
    out[ns] = names as string[];
  }
  return out;
}

/** `forkMaxContainerResources`: `{ cpu?, memory? }` quantities, or absent (no ceiling). */
function optionalResources(raw: unknown, bad: (output: string, problem: string) => never): { maxContainerResources?: ContainerResources } {
  const name = "forkMaxContainerResources";
  if (raw === undefined || raw === null) return {};
  if (!isMap(raw)) return bad(name, "is not { cpu, memory }");
  const out: { cpu?: string; memory?: string } = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k !== "cpu" && k !== "memory") bad(`${name}.${k}`, "is not cpu or memory");
    if (v === undefined || v === null) continue;
    if (typeof v !== "string" || !QUANTITY.test(v)) bad(`${name}.${k}`, `is not a Kubernetes quantity (${JSON.stringify(v)})`);
    out[k as "cpu" | "memory"] = v as string;
  }
  return { maxContainerResources: out };
}
