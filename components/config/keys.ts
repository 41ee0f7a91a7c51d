/**
 * Every key a stack may set, and the refusal of any other: a misspelled `imgae:` must not silently
 * run the shared image, nor `service:` make a header-only fork. docs/config.md's "Config keys" table is
 * kept equal to these lists by test/docs.test.ts.
 */
import { ConfigError } from "../errors";
import { CONFIG_NAMESPACE, key } from "./common";

/** Every top-level key of a base stack (without the `forkstack:` prefix). */
export const BASE_KEYS = ["cluster", "domain", "headerName", "hostScheme", "upstreams", "dns", "istio", "emissary", "tls", "sampleApp", "pricing", "forkAccess", "maxForkReplicas", "kubeconfig"] as const;
/** Every top-level key of a fork stack. */
export const FORK_KEYS = ["fork", "baseStack"] as const;

/**
 * The keys inside each object-valued key, by path (`fork.services[]`: each entry of that list;
 * `forkAccess.namespaces.*`: the value of any key of that map).
 * Exported for test/docs.test.ts, which keeps docs/config.md's table of config keys equal to it.
 */
export const NESTED_KEYS: Readonly<Record<string, readonly string[]>> = {
  cluster: ["mode", "context", "eks"],
  "cluster.eks": ["version", "instanceType", "desiredSize", "minSize", "maxSize", "vpcCidr", "zones"],
  istio: ["version", "chartRepo", "hub", "install"],
  emissary: ["install", "version", "ambassadorId", "namespace"],
  tls: ["mode", "email", "issuer", "secrets"],
  "upstreams[]": ["host", "service"],
  fork: ["id", "services", "headers", "ttl", "expiresAt"],
  forkAccess: ["group", "principals", "namespaces", "owners", "maxContainerResources"],
  "forkAccess.namespaces.*": ["serviceAccounts", "secrets"],
  "forkAccess.owners[]": ["ids", "users", "groups", "serviceAccounts"],
  "forkAccess.maxContainerResources": ["cpu", "memory"],
  pricing: ["vcpuHour", "gibHour", "currency"],
  "fork.services[]": ["name", "namespace", "deployment", "image", "env", "replicas"],
};

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** The known key closest to `name`. */
export function closestKey(name: string, known: readonly string[]): string {
  return [...known].sort((x, y) => distance(name, x) - distance(name, y))[0];
}

/**
 * Refuses a key forkstack does not know. `where` is the path of the object (`fork.services[0]`),
 * `shape` its entry in NESTED_KEYS (`fork.services[]`).
 */
export function knownKeys(where: string, obj: Record<string, unknown>, shape: string): void {
  const known = NESTED_KEYS[shape];
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) {
      const near = closestKey(k, known);
      throw new ConfigError(key(`${where}.${k}`), obj[k], "is not a forkstack setting", `did you mean ${key(`${where}.${near}`)}? The keys here are ${known.join(", ")}`);
    }
  }
}

/**
 * Checks the stack's top-level `forkstack:*` keys before anything is parsed: each is known, and a
 * stack is either a fork (fork, baseStack) or a base (everything else), never both.
 * @param keys the keys without the `forkstack:` prefix.
 * @returns whether the stack is a fork stack (the one place that decides it).
 */
export function checkTopLevelKeys(keys: readonly string[]): "fork" | "base" {
  const all = [...BASE_KEYS, ...FORK_KEYS] as readonly string[];
  for (const k of keys) {
    if (!all.includes(k)) {
      throw new ConfigError(key(k), undefined, "is not a forkstack setting", `did you mean ${key(closestKey(k, all))}? Remove or rename it`).withValueHidden();
    }
  }
  const forkKeys = keys.filter((k) => (FORK_KEYS as readonly string[]).includes(k));
  if (forkKeys.length === 0) return "base";
  const baseKey = keys.find((k) => (BASE_KEYS as readonly string[]).includes(k));
  if (baseKey !== undefined) {
    throw new ConfigError(key(baseKey), undefined, `is a base-stack setting, but this stack is a fork stack (it sets ${key(forkKeys[0])})`, "remove it: a fork reads the base stack's settings through forkstack:baseStack").withValueHidden();
  }
  if (!keys.includes("fork")) {
    throw new ConfigError(key("fork"), undefined, "is required in a fork stack (forkstack:baseStack is set)", "add forkstack:fork with at least an id, e.g. { id: alice }, or remove forkstack:baseStack for a base stack").withValueHidden();
  }
  return "fork";
}

/** Namespaces of a stack's config that are not forkstack's: the providers' and Pulumi's own. */
const OTHER_NAMESPACES = ["aws", "pulumi", "kubernetes"];

/**
 * Refuses a key whose namespace is a misspelled `forkstack` (`forkstak:fork`, `fokstack:domain`,
 * within edit distance 2): the program reads only `forkstack:*`, so such a key would be ignored and
 * the stack judged by what is left (a fork without `forkstack:fork` is taken for a base).
 * @param fullKeys every key of the stack's config with its namespace, as `pulumi.runtime.allConfig()` lists them.
 */
export function checkNamespaces(fullKeys: readonly string[]): void {
  for (const full of fullKeys) {
    const at = full.indexOf(":");
    if (at < 0) continue;
    const namespace = full.slice(0, at);
    if (namespace === CONFIG_NAMESPACE || OTHER_NAMESPACES.includes(namespace) || distance(namespace, CONFIG_NAMESPACE) > 2) continue;
    const fixed = key(full.slice(at + 1));
    // The value is not shown: under `pulumi up` it may be a decrypted secret.
    throw new ConfigError(full, undefined, `is not a forkstack setting: the namespace "${namespace}" looks like "${CONFIG_NAMESPACE}"`, `rename it to ${fixed}`).withValueHidden();
  }
}
