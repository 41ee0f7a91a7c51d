/**
 * A fork stack's own config: `forkstack:fork` (what to copy, which headers to add, when it
 * expires) and `forkstack:baseStack` (which base it forks). The fork id's rules live here too:
 * the base's `forkAccess.owners` names ids by the same rules.
 */
import { ConfigError } from "../errors";
import { asObject, DEFAULTS, DNS1035_LABEL, DNS_LABEL, HEADER_NAME, isDnsSubdomain, isNamespaceName, key, MAX_REPLICAS, stringMap } from "./common";
import { knownKeys } from "./keys";

export interface ForkService {
  /** The shared Service to fork. */
  readonly name: string;
  readonly namespace: string;
  /**
   * The shared Deployment behind it; default: the Service's name, or, when no Deployment has that
   * name, the one Deployment whose pods the Service selects (decided by the plan).
   */
  readonly deployment: string;
  /** Whether `deployment` was written in config (false: the default above). */
  readonly deploymentGiven?: boolean;
  /** Replaces the first container's image. */
  readonly image?: string;
  /** Merged into the first container's env. */
  readonly env: Readonly<Record<string, string>>;
  readonly replicas: number;
}

export interface ForkConfig {
  /** Lowercase DNS label: the URL label and the route key. */
  readonly id: string;
  readonly services: readonly ForkService[];
  /** Extra request headers the gateway adds for this fork. */
  readonly headers: Readonly<Record<string, string>>;
  /** How long after a `pulumi up` the fork counts as expired, e.g. `72h`; undefined: never. */
  readonly ttl?: string;
  /**
   * When the fork expires (ISO 8601 UTC), fixed: what `forkctl` stamps when it creates a fork, so
   * later updates keep it. Given together with `ttl`, it wins; `ttl` then only documents intent.
   */
  readonly expiresAt?: string;
}

/** The longest fork id: leaves room in every name and hostname label built from it. */
export const MAX_FORK_ID_LENGTH = 30;

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
/**
 * The longest env value, and the most a copy's env values may add up to (characters). The copy's
 * Deployment (and each of its ReplicaSets) carries them, and etcd refuses a request over 1.5 MiB
 * (https://etcd.io/docs/v3.5/dev-guide/limit/; Kubernetes' default --max-request-bytes): config
 * values this large are files, which belong in a ConfigMap or Secret.
 */
export const MAX_ENV_VALUE = 32_768;
export const MAX_ENV_TOTAL = 262_144;
// https://github.com/distribution/reference/blob/main/regexp.go (simplified: lowercase repository,
// optional registry with port, optional tag, optional sha256 digest).
const IMAGE =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const TTL = /^(\d+)(m|h|d)$/;
/**
 * The longest ttl: a fork is a temporary copy, and a ttl of years is a typo or a fork that should be
 * part of the base (omit ttl for a fork that lives until `pulumi destroy`). It also keeps now + ttl
 * inside what a Date can hold (a ttl of 10^9 days would make expiryOf throw a RangeError).
 */
export const MAX_TTL_DAYS = 365;
/** An ISO 8601 time in UTC to the second (what expiryOf writes). */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** What is wrong with `id` as a fork id (a string), or undefined when nothing is. */
export function forkIdProblem(id: string): string | undefined {
  if (!DNS_LABEL.test(id)) return "is not a lowercase DNS label";
  if (id.length > MAX_FORK_ID_LENGTH) return `is longer than ${MAX_FORK_ID_LENGTH} characters`;
  // "--" separates the fork from the upstream label in the flat host scheme and route names.
  if (id.includes("--")) return `contains "--", which forkstack uses as a separator`;
  return undefined;
}

export function validateForkId(id: unknown): string {
  const field = key("fork.id");
  const fix = `use lowercase letters, digits and single "-" (at most ${MAX_FORK_ID_LENGTH}), e.g. "alice" or "pr-123"`;
  if (id === undefined || id === null || id === "") throw new ConfigError(field, id, "is required", fix);
  if (typeof id !== "string") throw new ConfigError(field, id, `is a ${typeof id}, not a string`, `quote it, e.g. id: "${String(id)}"`);
  const problem = forkIdProblem(id);
  if (problem !== undefined) throw new ConfigError(field, id, problem, fix);
  return id;
}

/** Headers Envoy will not let a route add or that belong to one connection (RFC 9110 §7.6.1); the fork policy refuses them in a fork's Mapping too. */
export const FORBIDDEN_HEADERS: readonly string[] = ["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate", "proxy-authorization", "content-length"];
export const MAX_HEADER_VALUE = 1024;

/**
 * `forkstack:fork.headers`: lowercase token names that Envoy can add (not `host`, pseudo-headers or
 * hop-by-hop headers: Envoy rejects the whole route configuration otherwise), values without
 * control characters (CR/LF would split the header) and at most MAX_HEADER_VALUE characters.
 * The fork header itself is refused by the plan, which knows the base's header name.
 */
function parseHeaders(field: string, value: unknown): Record<string, string> {
  const headers = stringMap(field, value, /^.+$/, "");
  for (const [name, v] of Object.entries(headers)) {
    const f = `${field}.${name}`;
    if (name.startsWith(":")) throw new ConfigError(f, name, "is a pseudo-header", "remove it: Envoy does not let a route add pseudo-headers");
    if (!HEADER_NAME.test(name)) {
      const fix = HEADER_NAME.test(name.toLowerCase()) ? `write it in lowercase: ${name.toLowerCase()}` : "use a lowercase HTTP header name (letters, digits, '-'), e.g. x-feature-flags";
      throw new ConfigError(f, name, "is not a lowercase HTTP header name", fix);
    }
    if (FORBIDDEN_HEADERS.includes(name)) throw new ConfigError(f, name, "is a header the gateway cannot set for a fork (host or hop-by-hop)", "remove it, or use an x- header of your own");
    if (/[\u0000-\u001f\u007f]/.test(v)) throw new ConfigError(f, v, "contains a control character (CR, LF, NUL, tab…)", "remove it; a header value is one line of visible text");
    if (v.length > MAX_HEADER_VALUE) throw new ConfigError(f, `${v.slice(0, 20)}…`, `is ${v.length} characters long`, `keep it at most ${MAX_HEADER_VALUE}`);
  }
  return headers;
}

/** `forkstack:fork.services[i].env`: string values, each at most MAX_ENV_VALUE characters and MAX_ENV_TOTAL in all. */
function parseEnv(field: string, value: unknown): Record<string, string> {
  const env = stringMap(field, value, ENV_NAME, "use letters, digits, '_', '-' and '.', not starting with a digit");
  const fix = "put large data in a ConfigMap or Secret the copy mounts: the copy's Deployment carries every value, and etcd refuses an object over 1.5 MiB";
  let total = 0;
  for (const [name, v] of Object.entries(env)) {
    if (v.length > MAX_ENV_VALUE) throw new ConfigError(`${field}.${name}`, `${v.slice(0, 20)}…`, `is ${v.length} characters long, more than ${MAX_ENV_VALUE}`, fix);
    total += v.length;
  }
  if (total > MAX_ENV_TOTAL) throw new ConfigError(field, Object.keys(env), `has values ${total} characters long in all, more than ${MAX_ENV_TOTAL}`, fix);
  return env;
}

/** A copy's replica count: a whole number 1..MAX_REPLICAS (the base stack may allow fewer). */
function parseReplicas(field: string, value: unknown): number {
  if (value === undefined || value === null) return DEFAULTS.replicas;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_REPLICAS) {
    throw new ConfigError(field, value, `is not a whole number from 1 to ${MAX_REPLICAS}`, `set it to e.g. ${DEFAULTS.replicas}; a fork runs one pod by default`);
  }
  return value;
}

/** Validates and defaults a fork stack's `forkstack:fork` object. */
export function parseForkConfig(value: unknown): ForkConfig {
  const field = key("fork");
  const obj = asObject(field, value, "write it as { id: alice, services: [...] }");
  knownKeys("fork", obj, "fork");
  const id = validateForkId(obj.id);

  const servicesRaw = obj.services ?? [];
  if (!Array.isArray(servicesRaw)) throw new ConfigError(`${field}.services`, servicesRaw, "is not a list", "list the services to fork, or omit it for a header-only fork");
  const seen = new Map<string, number>();
  const services = servicesRaw.map((entry, i): ForkService => {
    const f = `${field}.services[${i}]`;
    const s = asObject(f, entry, "write it as { name: api, namespace: shop }");
    knownKeys(`fork.services[${i}]`, s, "fork.services[]");
    const name = s.name;
    if (typeof name !== "string" || !DNS1035_LABEL.test(name) || name.length > 63) {
      throw new ConfigError(`${f}.name`, name, "is not a Service name", "name the shared Service to fork, e.g. api");
    }
    const namespace = s.namespace;
    if (typeof namespace !== "string" || !isNamespaceName(namespace)) {
      throw new ConfigError(`${f}.namespace`, namespace, "is not a namespace name", "name the Service's namespace, e.g. shop");
    }
    const deployment = s.deployment ?? name;
    if (typeof deployment !== "string" || !isDnsSubdomain(deployment)) {
      throw new ConfigError(`${f}.deployment`, deployment, "is not a Deployment name", `name the Deployment behind the Service, or omit it to use "${name}"`);
    }
    const image = s.image;
    if (image !== undefined && (typeof image !== "string" || !IMAGE.test(image))) {
      throw new ConfigError(`${f}.image`, image, "is not a container image reference", "use registry/repository:tag, e.g. registry.example.com/api:alice-1");
    }
    const previous = seen.get(`${namespace}/${name}`);
    if (previous !== undefined) {
      throw new ConfigError(`${f}.name`, `${name}.${namespace}`, `repeats ${field}.services[${previous}]`, "list each service once");
    }
    seen.set(`${namespace}/${name}`, i);
    return {
      name,
      namespace,
      deployment,
      deploymentGiven: s.deployment !== undefined && s.deployment !== null,
      image: image as string | undefined,
      env: parseEnv(`${f}.env`, s.env),
      replicas: parseReplicas(`${f}.replicas`, s.replicas),
    };
  });

  const headers = parseHeaders(`${field}.headers`, obj.headers);
  const ttl = obj.ttl;
  const ttlRefusal = ttl === undefined ? undefined : ttlProblem(ttl);
  if (ttlRefusal !== undefined) throw new ConfigError(`${field}.ttl`, ttl, ttlRefusal.problem, ttlRefusal.fix);
  const expiresAt = obj.expiresAt;
  if (expiresAt !== undefined && (typeof expiresAt !== "string" || !ISO_UTC.test(expiresAt) || Number.isNaN(Date.parse(expiresAt)))) {
    throw new ConfigError(`${field}.expiresAt`, expiresAt, "is not an ISO 8601 UTC time", `use e.g. "2026-12-24T18:00:00Z", or set ttl instead`);
  }
  return { id, services, headers, ttl: ttl as string | undefined, ...(expiresAt === undefined ? {} : { expiresAt: expiresAt as string }) };
}

/** What is wrong with `ttl` as a fork's ttl (`forkstack:fork.ttl`, `forkctl --ttl`), or undefined when nothing is. */
export function ttlProblem(ttl: unknown): { problem: string; fix: string } | undefined {
  if (typeof ttl !== "string" || !TTL.test(ttl) || parseTtlMs(ttl) === 0) return { problem: "is not a duration", fix: `use minutes, hours or days, e.g. "72h" or "7d"` };
  if (parseTtlMs(ttl) > MAX_TTL_DAYS * 86_400_000) {
    return { problem: `is longer than ${MAX_TTL_DAYS} days`, fix: `use at most ${MAX_TTL_DAYS}d, or omit ttl for a fork that lives until pulumi destroy` };
  }
  return undefined;
}

/** `72h` → milliseconds. */
export function parseTtlMs(ttl: string): number {
  const m = TTL.exec(ttl);
  if (!m) throw new ConfigError(key("fork.ttl"), ttl, "is not a duration", `use e.g. "72h"`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

/**
 * When a fork deployed at `now` expires (ISO 8601, seconds precision): its fixed `expiresAt`, else
 * `now + ttl`, else undefined (never).
 */
export function expiryOf(fork: ForkConfig, now: Date): string | undefined {
  if (fork.expiresAt !== undefined) return fork.expiresAt;
  if (fork.ttl === undefined) return undefined;
  return new Date(now.getTime() + parseTtlMs(fork.ttl)).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Validates a fork's `forkstack:baseStack` reference (`org/project/stack`). */
export function parseBaseStack(value: unknown): string {
  const field = key("baseStack");
  const fix = "name the base stack as organization/project/stack, e.g. organization/forkstack/dev";
  if (typeof value !== "string" || value === "") throw new ConfigError(field, value, "is required for a fork stack", fix);
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/.test(value)) throw new ConfigError(field, value, "is not a stack reference", fix);
  return value;
}
