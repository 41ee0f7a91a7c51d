/**
 * What forkctl does, over the ForkBackend interface (backend.ts) and an optional live cluster view:
 * create or update a fork stack from command-line arguments, destroy it, list forks, collect the
 * expired ones, and move an expiry. Every argument is validated — with the program's own config
 * parser — before any stack is touched. Pure of I/O except through `ForkctlDeps`.
 */
import { DEFAULTS, MAX_REPLICAS, parseForkConfig, parseTtlMs, ttlProblem, validateForkId } from "../../components/config";
import { ConfigError, oneLine } from "../../components/errors";
import type { Sweep } from "../../components/fork/routeSync";
import type { KubeObject } from "../../render/cluster";
import * as os from "os";
import { ForkBackend, LastUpdate, LockHolder, StackLockedError, Tags } from "./backend";
import { failureLine } from "./errors";

/** A mistake in the arguments: exit code 2, nothing touched. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const usage = (field: string, value: unknown, problem: string, fix: string) => new UsageError(new ConfigError(field, value, problem, fix).message);

/** The live cluster: the objects a report reads (copies, Services, routes, Mappings), and gc's sweep. */
export interface ClusterView {
  /** Deployments, Services and VirtualServices of `namespaces`, and the Mappings of `gatewayNamespace`. */
  snapshot(namespaces: readonly string[], gatewayNamespace: string): Promise<KubeObject[]>;
  /**
   * Removes the retired routes of forks `gone` says have no stack from every VirtualService
   * (fork/routeSync.ts sweepGoneForks); with `dryRun`, only says which.
   */
  sweepGoneForks(headerName: string, gone: (forkId: string) => boolean, dryRun: boolean): Promise<Sweep>;
}


export interface ForkctlDeps {
  readonly backend: ForkBackend;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** Progress lines (the engine's output), for stderr. */
  readonly progress: (line: string) => void;
  /** Absent: reports carry no cost in CPU/memory and no hop table. */
  readonly cluster?: ClusterView;
  /** How often a locked stack is tried, and the first wait (doubling, with jitter). @default { attempts: 6, firstWaitMs: 5000 } */
  readonly lockRetry?: { readonly attempts: number; readonly firstWaitMs: number };
  /** Jitter source in [0, 1). @default Math.random */
  readonly random?: () => number;
  /**
   * This machine's name and whether a process of it is alive: a lock whose holder ran here and is
   * gone (a killed run) is cleared instead of waited for. @default os.hostname() and `kill -0`
   */
  readonly host?: { readonly name: string; readonly alive: (pid: number) => boolean };
}

/** `kill -0`: the process exists (EPERM: it does, as another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

const holderText = (h: LockHolder) => `${h.user}@${h.host} (pid ${h.pid}) since ${h.since}`;

// --- arguments -------------------------------------------------------------------------------------

export interface ServiceArg {
  readonly namespace: string;
  readonly name: string;
  /** Absent: the copy runs the shared Deployment's image. */
  readonly image?: string;
}

export interface UpArgs {
  readonly id: string;
  readonly services: readonly ServiceArg[];
  /** `namespace/name` → env. */
  readonly env: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** `namespace/name` → the copy's replicas; absent: the program's default. */
  readonly replicas?: Readonly<Record<string, number>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly ttl?: string;
  /** The base stack reference, e.g. organization/forkstack/dev. */
  readonly base: string;
}

/** `NAMESPACE/NAME[=IMAGE]` */
export function parseServiceArg(text: string): ServiceArg {
  const m = /^([^/=\s]+)\/([^/=\s]+)(?:=(\S+))?$/.exec(text);
  if (!m) throw usage("--service", text, "is not NAMESPACE/NAME[=IMAGE]", "e.g. --service shop/api=registry.example.com/shop/api:pr-7, or --service shop/api to keep its image");
  return { namespace: m[1], name: m[2], ...(m[3] !== undefined ? { image: m[3] } : {}) };
}

/** `NAMESPACE/NAME=N`: how many pods that copy runs, 1 to MAX_REPLICAS (the base stack may allow fewer). */
export function parseReplicasArg(text: string): { service: string; replicas: number } {
  const m = /^([^/=\s]+\/[^/=\s]+)=(.*)$/s.exec(text);
  if (!m) throw usage("--replicas", text, "is not NAMESPACE/NAME=N", "e.g. --replicas shop/api=2");
  const n = /^\d+$/.test(m[2]) ? Number(m[2]) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) {
    throw usage("--replicas", text, `does not give a whole number from 1 to ${MAX_REPLICAS}`, `e.g. --replicas ${m[1]}=2; a copy runs ${DEFAULTS.replicas} by default`);
  }
  return { service: m[1], replicas: n };
}

/** `NAMESPACE/NAME:KEY=VALUE` (the value may contain `=` and `:`). */
export function parseEnvArg(text: string): { service: string; key: string; value: string } {
  const m = /^([^/:=\s]+\/[^/:=\s]+):([^=]+)=(.*)$/s.exec(text);
  if (!m) throw usage("--env", text, "is not NAMESPACE/NAME:KEY=VALUE", "e.g. --env shop/api:FEATURE_X=on");
  return { service: m[1], key: m[2], value: m[3] };
}

/** `K=V` */
export function parseHeaderArg(text: string): [string, string] {
  const i = text.indexOf("=");
  if (i <= 0) throw usage("--header", text, "is not K=V", "e.g. --header x-feature-flags=new-checkout");
  return [text.slice(0, i), text.slice(i + 1)];
}

export function checkForkId(id: string | undefined): string {
  if (id === undefined) throw usage("<id>", id, "is required", 'name the fork, e.g. forkctl up pr-123 …');
  try {
    return validateForkId(id);
  } catch (err) {
    if (err instanceof ConfigError) throw usage("<id>", id, err.problem, err.fix);
    throw err;
  }
}

export function checkTtl(ttl: string | undefined, flag = "--ttl"): string | undefined {
  if (ttl === undefined) return undefined;
  // The program's own rule, so that `forkctl extend` cannot write a ttl the next `pulumi up` refuses.
  const refusal = ttlProblem(ttl);
  if (refusal !== undefined) throw usage(flag, ttl, refusal.problem, refusal.fix);
  return ttl;
}

/** The fork contract (the `forkstack:fork` value) for these arguments, validated by the program's parser. */
export function forkValue(args: UpArgs, expiresAt: string | undefined): Record<string, unknown> {
  const keys = new Set(args.services.map((s) => `${s.namespace}/${s.name}`));
  for (const service of Object.keys(args.env)) {
    if (!keys.has(service)) throw usage("--env", service, "names no --service of this fork", `add --service ${service}=IMAGE, or fix the name`);
  }
  for (const service of Object.keys(args.replicas ?? {})) {
    if (!keys.has(service)) throw usage("--replicas", service, "names no --service of this fork", `add --service ${service} (its image kept) or --service ${service}=IMAGE, or fix the name`);
  }
  // Sorted, so that the same arguments in another order write the same config ("no changes").
  const services = [...args.services]
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
    .map((s) => {
      const env = args.env[`${s.namespace}/${s.name}`];
      const replicas = args.replicas?.[`${s.namespace}/${s.name}`];
      return {
        name: s.name,
        namespace: s.namespace,
        ...(s.image !== undefined ? { image: s.image } : {}),
        ...(env && Object.keys(env).length > 0 ? { env: sortKeys(env) } : {}),
        ...(replicas !== undefined ? { replicas } : {}),
      };
    });
  const value: Record<string, unknown> = { id: args.id, services, headers: sortKeys(args.headers) };
  if (services.length === 0) delete value.services;
  if (Object.keys(args.headers).length === 0) delete value.headers;
  if (args.ttl !== undefined) value.ttl = args.ttl;
  if (expiresAt !== undefined) value.expiresAt = expiresAt;
  try {
    parseForkConfig(value);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  return value;
}

function sortKeys<T>(obj: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => a.localeCompare(b)));
}

/** ISO 8601 UTC to the second, as the program writes expiries. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

// --- the fork record (what a report shows) ------------------------------------------------------

export interface Copy {
  readonly service: string;
  readonly copy: string;
  readonly image?: string;
}

export interface Cost {
  readonly pods: number;
  /** Requested by the copies' containers times their replicas; undefined without a cluster view. */
  readonly cpu?: number;
  readonly memoryGiB?: number;
  /** Per hour, when the base gives prices and requests are known. */
  readonly pricePerHour?: { readonly amount: number; readonly currency: string };
}

export interface ForkRecord {
  readonly id: string;
  readonly stack: string;
  /** Upstream host → fork URL. */
  readonly urls: Readonly<Record<string, string>>;
  readonly copies: readonly Copy[];
  readonly expiresAt?: string;
  readonly lastUpdate?: string;
  /** `ok`, `updating`, `failed`, `expired`. */
  readonly state: string;
  /** failed: the last error line, when forkctl saw it. */
  readonly error?: string;
  readonly cost?: Cost;
  /** The hop table of `explain` for the first upstream's entry request. */
  readonly explained?: string;
  /** Why the cost or hop table is missing, when it is. */
  readonly clusterNote?: string;
  /** up: whether the update changed anything. */
  readonly changed?: boolean;
}

function recordOf(stack: string, outputs: Record<string, unknown>, facts?: StackFacts): Omit<ForkRecord, "state"> {
  const urls = outputs.urls !== null && typeof outputs.urls === "object" && !Array.isArray(outputs.urls) ? (outputs.urls as Record<string, string>) : {};
  const copies = Array.isArray(outputs.copies) ? (outputs.copies as Copy[]) : [];
  const fork = facts ? forkConfigOf(facts.last) : undefined;
  // What the last update asked for wins over the outputs, which an update that failed left stale.
  const expiresAt =
    (typeof fork?.expiresAt === "string" ? fork.expiresAt : undefined) ??
    (typeof outputs.expiresAt === "string" ? outputs.expiresAt : undefined) ??
    facts?.tags[TAG.expiresAt];
  const id = facts?.tags[TAG.fork] ?? (typeof fork?.id === "string" ? fork.id : undefined) ?? (typeof outputs.forkId === "string" ? outputs.forkId : stack);
  return { id, stack, urls, copies, ...(expiresAt ? { expiresAt } : {}) };
}

function expired(expiresAt: string | undefined, now: Date): boolean {
  return expiresAt !== undefined && Date.parse(expiresAt) <= now.getTime();
}

// --- which stacks are forks of the base ------------------------------------------------------------

/** Pulumi.yaml's `name`. */
export const PROJECT = "forkstack";

/**
 * The stack tags forkctl sets on a fork before its first update runs, so that a fork whose update
 * failed is still known as one: its id, its base, its expiry and the last error.
 */
export const TAG = {
  fork: "forkstack:fork",
  base: "forkstack:base",
  expiresAt: "forkstack:expiresAt",
  error: "forkstack:error",
} as const;

/** Pulumi's own tag naming the project of the stack's last update. */
const PROJECT_TAG = "pulumi:project";

/** Pulumi Cloud's limit for a tag value. */
const TAG_VALUE_MAX = 256;

/** What forkctl reads to decide whether a stack is a fork of the base. */
export interface StackFacts {
  readonly tags: Tags;
  readonly last?: LastUpdate;
}

async function stackFacts(deps: ForkctlDeps, stack: string): Promise<StackFacts | undefined> {
  const tags = await deps.backend.tags(stack);
  if (tags === undefined) return undefined;
  const last = await deps.backend.lastUpdate(stack);
  return { tags, ...(last ? { last } : {}) };
}

/** The `forkstack:fork` value of an update's config, if it ran a fork contract. */
function forkConfigOf(last: LastUpdate | undefined): Record<string, unknown> | undefined {
  const text = last?.config["forkstack:fork"];
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** `org/project/stack`, `project/stack` or `stack` as parts. */
function stackRef(ref: string): { org?: string; project?: string; stack: string } {
  const parts = ref.split("/");
  if (parts.length >= 3) return { org: parts[0], project: parts[1], stack: parts[2] };
  if (parts.length === 2) return { project: parts[0], stack: parts[1] };
  return { stack: parts[0] };
}

/** The same stack reference, comparing the parts both name (a bare `dev` is this project's dev). */
export function sameStack(a: string, b: string): boolean {
  const x = stackRef(a);
  const y = stackRef(b);
  const project = (r: { project?: string }) => r.project ?? PROJECT;
  return x.stack === y.stack && project(x) === project(y) && (x.org === undefined || y.org === undefined || x.org === y.org);
}

/** The bases a stack claims to fork: forkctl's tag, and its last update's config. */
function claimedBases(facts: StackFacts): string[] {
  const claims: string[] = [];
  if (facts.tags[TAG.fork] !== undefined && facts.tags[TAG.base] !== undefined) claims.push(facts.tags[TAG.base]);
  const configBase = facts.last?.config["forkstack:baseStack"];
  if (forkConfigOf(facts.last) !== undefined && configBase !== undefined) claims.push(configBase);
  return claims;
}

const refuse = (id: string, problem: string, fix: string) => new UsageError(new ConfigError("<id>", id, problem, fix).message);

/**
 * Why forkctl must not touch stack `id`, or undefined when it is a fork of `base`: its config
 * (forkstack:fork, and forkstack:baseStack naming the base) or forkctl's tags say so. The base
 * itself, a stack of another project, a fork of another base and a stack without fork config are
 * refused. `facts` undefined: the stack does not exist (only the base's own name is refused then).
 */
export function refusal(id: string, base: string, facts: StackFacts | undefined): UsageError | undefined {
  if (sameStack(id, base)) {
    return refuse(id, `is the base stack ${base}, not a fork`, "forkctl acts only on forks of the base; choose another fork id (manage the base with pulumi itself)");
  }
  if (facts === undefined) return undefined;
  const project = facts.tags[PROJECT_TAG];
  if (project !== undefined && project !== PROJECT) {
    return refuse(id, `is a stack of project ${project}, not of ${PROJECT}`, "forkctl acts only on forks of the base; choose another fork id");
  }
  const claims = claimedBases(facts);
  if (claims.length === 0) {
    return refuse(
      id,
      "is a stack without fork config (no forkstack:fork in its config, no forkstack:fork tag), not a fork",
      `forkctl acts only on forks of ${base}; choose another fork id, or manage that stack with pulumi itself`,
    );
  }
  const other = claims.find((c) => !sameStack(c, base));
  if (other !== undefined) {
    return refuse(id, `is a fork of ${other}, not of ${base}`, `pass --base ${other} (or FORKSTACK_BASE=${other}) to act on it`);
  }
  return undefined;
}

/** The facts of stack `id` when it is a fork of `base`, undefined when there is no such stack; refuses anything else. */
async function forkOfBase(deps: ForkctlDeps, id: string, base: string): Promise<StackFacts | undefined> {
  if (sameStack(id, base)) throw refusal(id, base, undefined)!;
  const facts = await stackFacts(deps, id);
  const refused = refusal(id, base, facts);
  if (refused) throw refused;
  return facts;
}

// --- commands ---------------------------------------------------------------------------------------

/** Runs `op`; a locked stack is retried with jittered, doubling waits, then reported in one line. */
export async function withLockRetry<T>(deps: ForkctlDeps, stack: string, op: () => Promise<T>): Promise<T> {
  const { attempts, firstWaitMs } = deps.lockRetry ?? { attempts: 6, firstWaitMs: 5000 };
  const random = deps.random ?? Math.random;
  let waited = 0;
  let cleared = false;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!(err instanceof StackLockedError)) throw err;
      const host = deps.host ?? { name: os.hostname(), alive: processAlive };
      if (err.holders.length > 0 && err.holders.every((h) => h.host === host.name && !host.alive(h.pid))) {
        // Every holder ran on this machine and its process is gone: a killed run's lock, which
        // nothing will ever release. Cleared once; a lock that comes back is waited for as usual.
        if (!cleared) {
          cleared = true;
          deps.progress(`forkctl: stack ${stack} is locked by a run that is gone (${err.holders.map(holderText).join(", ")}); clearing its lock (pulumi cancel)`);
          await deps.backend.cancel(stack);
          continue;
        }
      }
      if (attempt >= attempts) {
        const by = err.holders.length > 0 ? ` (by ${err.holders.map(holderText).join(", ")})` : "";
        throw new Error(
          `stack ${stack} is still locked by another update${by} after ${attempts} tries over ${Math.round(waited / 1000)} s; ` +
            `wait for it to finish (pulumi stack history --stack ${stack}) or, if it died, run pulumi cancel --stack ${stack} --yes`,
        );
      }
      const wait = Math.round(firstWaitMs * 2 ** (attempt - 1) * (0.5 + random()));
      deps.progress(`forkctl: stack ${stack} is locked by another update; trying again in ${Math.round(wait / 1000)} s (${attempt}/${attempts - 1})`);
      waited += wait;
      await deps.sleep(wait);
    }
  }
}

/**
 * A failure a second run may not meet: the API server overloaded (429, 5xx), restarting or
 * unreachable, as forkstack's own calls (components/fork/forkRoutes.ts asError) and the Kubernetes
 * provider report it.
 */
const SERVER_TRANSIENT =
  /the API server kept failing through every retry|\bHTTP (429|50[0234])\b|the server is currently unable to handle the request|too many requests, please try again later|\b(ECONNREFUSED|ECONNRESET)\b|connect: connection refused|connection reset by peer|: fetch failed\b|etcdserver: request timed out/i;

/** Runs `op`; when it fails on a transient server error, says so and runs it once more after a jittered wait. */
export async function withTransientRetry<T>(deps: ForkctlDeps, what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    const cause = failureLine(err);
    if (isLockedOut(err) || !SERVER_TRANSIENT.test(cause)) throw err;
    const wait = Math.round(10_000 * (0.5 + (deps.random ?? Math.random)()));
    deps.progress(`forkctl: ${what} failed on a server error (${cause}); running it once more in ${Math.round(wait / 1000)} s`);
    await deps.sleep(wait);
    return op();
  }
}

/**
 * `forkctl up`: the expiry is stamped when the fork is first created (now + ttl) and kept by every
 * later update, so the same arguments again are "no changes"; `extend` is what moves it. Refuses a
 * stack that is not a fork of the base before anything is changed.
 */
export async function up(deps: ForkctlDeps, args: UpArgs): Promise<ForkRecord> {
  forkValue(args, undefined); // every argument checked before any stack is read
  const stack = args.id;
  const facts = await forkOfBase(deps, stack, args.base);
  const previous = forkConfigOf(facts?.last);
  const kept = (typeof previous?.expiresAt === "string" ? previous.expiresAt : undefined) ?? facts?.tags[TAG.expiresAt];
  const expiresAt = kept ?? (args.ttl !== undefined ? isoSeconds(new Date(deps.now().getTime() + parseTtlMs(args.ttl))) : undefined);
  return runUp(deps, stack, args.base, forkValue(args, expiresAt));
}

/** `forkctl extend <id> --ttl 24h`: the fork now expires `ttl` from now; its other config is kept. */
export async function extend(deps: ForkctlDeps, id: string, ttl: string, base: string): Promise<ForkRecord> {
  const facts = await forkOfBase(deps, id, base);
  const previous = forkConfigOf(facts?.last);
  if (facts === undefined || previous === undefined) {
    throw new Error(`fork ${id} has no forkctl update to extend (no stack, or no update ever ran its fork config); create it with forkctl up ${id} …`);
  }
  const value = { ...previous, ttl, expiresAt: isoSeconds(new Date(deps.now().getTime() + parseTtlMs(ttl))) };
  return runUp(deps, id, facts.last?.config["forkstack:baseStack"] ?? base, value);
}

async function runUp(deps: ForkctlDeps, stack: string, base: string, fork: Record<string, unknown>): Promise<ForkRecord> {
  const config = { "forkstack:baseStack": base, "forkstack:fork": JSON.stringify(fork) };
  const tags = {
    [TAG.fork]: String(fork.id),
    [TAG.base]: base,
    [TAG.expiresAt]: typeof fork.expiresAt === "string" ? fork.expiresAt : null,
    [TAG.error]: null,
  };
  let outcome: Awaited<ReturnType<ForkBackend["up"]>>;
  try {
    outcome = await withTransientRetry(deps, `up ${stack}`, () => withLockRetry(deps, stack, () => deps.backend.up(stack, config, tags, deps.progress)));
  } catch (err) {
    // The fork stays listed as failed, with this line, until an update succeeds or it is destroyed.
    // Best effort: when the stack could not even be created, there is nothing to tag.
    if (!isLockedOut(err)) await deps.backend.setTags(stack, { [TAG.error]: failureLine(err, TAG_VALUE_MAX) }).catch(() => undefined);
    throw err;
  }
  const record = recordOf(stack, outcome.outputs);
  const baseOutputs = (await deps.backend.outputs(base)) ?? {};
  const details = await clusterDetails(deps, record, baseOutputs);
  return { ...record, ...details, state: expired(record.expiresAt, deps.now()) ? "expired" : "ok", changed: outcome.changed };
}

const isLockedOut = (err: unknown) => err instanceof StackLockedError || (err instanceof Error && err.message.includes("is still locked by another update"));

/**
 * `forkctl down <id>`: destroys and removes the fork's stack; a missing stack is success. Refuses
 * a stack that is not a fork of the base before anything is changed.
 */
export async function down(deps: ForkctlDeps, id: string, base: string): Promise<{ id: string; removed: boolean }> {
  const facts = await forkOfBase(deps, id, base);
  if (facts === undefined) return { id, removed: false };
  return destroy(deps, id);
}

async function destroy(deps: ForkctlDeps, stack: string): Promise<{ id: string; removed: boolean }> {
  const removed = await withTransientRetry(deps, `down ${stack}`, () => withLockRetry(deps, stack, () => deps.backend.destroyAndRemove(stack, deps.progress)));
  return { id: stack, removed };
}

/**
 * `forkctl ls`: every fork of the base — a stack whose config or forkctl tags say so — whatever
 * its state, including a fork whose first update failed (state `failed`, with the last error).
 */
export async function list(deps: ForkctlDeps, base: string): Promise<ForkRecord[]> {
  const now = deps.now();
  const records: ForkRecord[] = [];
  for (const info of await deps.backend.listStacks()) {
    if (sameStack(info.name, base)) continue;
    const facts = await stackFacts(deps, info.name);
    if (facts === undefined || refusal(info.name, base, facts) !== undefined) continue;
    const outputs = (await deps.backend.outputs(info.name)) ?? {};
    const record = recordOf(info.name, outputs, facts);
    // No update in its history: created, but its first update never ran to the end.
    const failed = facts.last === undefined || facts.last.result === "failed";
    const state = info.updateInProgress ? "updating" : failed ? "failed" : expired(record.expiresAt, now) ? "expired" : "ok";
    const error = state === "failed" ? (facts.tags[TAG.error] ?? (facts.last === undefined ? "no update of this fork has finished" : undefined)) : undefined;
    records.push({ ...record, state, ...(error ? { error } : {}), ...(info.lastUpdate ? { lastUpdate: info.lastUpdate } : {}) });
  }
  return records.sort((a, b) => a.id.localeCompare(b.id));
}

export interface GcResult {
  readonly dryRun: boolean;
  /** Expired forks destroyed (or, with dryRun, that would be). */
  readonly removed: string[];
  readonly failed: { readonly id: string; readonly error: string }[];
  /** Forks left in place: not expired, or without an expiry. */
  readonly kept: string[];
  /** The sweep of retired routes forks without a stack left in shared VirtualServices; absent without a cluster view (said in `sweepNote`). */
  readonly sweep?: Sweep;
  readonly sweepNote?: string;
}

/**
 * `forkctl gc [--dry-run]`: destroys every expired fork of the base, whatever its state, going on
 * past failures; then removes, from every shared VirtualService, the retired routes of forks whose
 * stack no longer exists (a leave that could not finish its removal, with no fork writing there
 * since to sweep them: fork/routePatch.ts).
 */
export async function gc(deps: ForkctlDeps, base: string, dryRun: boolean): Promise<GcResult> {
  const now = deps.now();
  const forks = await list(deps, base);
  const due = forks.filter((f) => expired(f.expiresAt, now) && f.state !== "updating");
  const kept = forks.filter((f) => !due.includes(f)).map((f) => f.id);
  const result = { dryRun, removed: [] as string[], failed: [] as GcResult["failed"], kept };
  for (const fork of due) {
    if (dryRun) {
      result.removed.push(fork.id);
      continue;
    }
    try {
      await destroy(deps, fork.stack);
      result.removed.push(fork.id);
    } catch (err) {
      result.failed.push({ id: fork.id, error: failureLine(err) });
    }
  }
  return { ...result, ...(await sweepGone(deps, base, forks.filter((f) => dryRun || !result.removed.includes(f.id)), dryRun)) };
}

/**
 * gc's sweep. A fork is gone when no stack is it: `forks` (the base's forks still there) by id,
 * and every stack of the backend by name (a stack that is not a fork of this base keeps its routes).
 */
async function sweepGone(deps: ForkctlDeps, base: string, forks: readonly ForkRecord[], dryRun: boolean): Promise<Pick<GcResult, "sweep" | "sweepNote">> {
  if (deps.cluster === undefined) return { sweepNote: "no cluster view: retired routes of forks that are gone were not swept" };
  const baseOutputs = (await deps.backend.outputs(base)) ?? {};
  const headerName = typeof baseOutputs.headerName === "string" ? baseOutputs.headerName : DEFAULTS.headerName;
  const stacks = (await deps.backend.listStacks()).map((s) => stackRef(s.name).stack);
  const present = new Set([...forks.map((f) => f.id), ...stacks]);
  try {
    return { sweep: await deps.cluster.sweepGoneForks(headerName, (id) => !present.has(id), dryRun) };
  } catch (err) {
    return { sweep: { swept: [], failed: [{ virtualService: "*", error: oneLine(err) }] } };
  }
}

// --- cost and hop table from the live cluster --------------------------------------------------

/** Kubernetes CPU quantity → cores ("250m" → 0.25). https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/ */
export function cpuCores(q: unknown): number {
  if (typeof q === "number") return q;
  if (typeof q !== "string") return 0;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(q.trim());
  if (!m) return 0;
  return Number(m[1]) / (m[2] === "m" ? 1000 : 1);
}

const MEMORY_UNITS: Record<string, number> = { "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** Kubernetes memory quantity → GiB ("512Mi" → 0.5). */
export function memoryGiB(q: unknown): number {
  if (typeof q === "number") return q / 1024 ** 3;
  if (typeof q !== "string") return 0;
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q.trim());
  if (!m) return 0;
  return (Number(m[1]) * MEMORY_UNITS[m[2] ?? ""]) / 1024 ** 3;
}

/** Requested CPU and memory of the fork's Deployments (containers' requests × replicas). */
export function requestsOf(objects: readonly KubeObject[], copies: readonly Copy[]): { pods: number; cpu: number; memoryGiB: number } {
  const namespaces = new Set(copies.map((c) => c.copy.split(".")[1]));
  const copyServices = new Set(copies.map((c) => c.copy));
  // The Deployments whose pods a copied Service selects.
  const services = objects.filter((o) => o.kind === "Service" && copyServices.has(`${o.metadata.name}.${o.metadata.namespace}`));
  const deployments = objects.filter(
    (o) =>
      o.kind === "Deployment" &&
      namespaces.has(o.metadata.namespace ?? "") &&
      services.some((s) => {
        const selector = ((s.spec as any)?.selector ?? {}) as Record<string, string>;
        const labels = ((o.spec as any)?.template?.metadata?.labels ?? {}) as Record<string, string>;
        return s.metadata.namespace === o.metadata.namespace && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
      }),
  );
  let pods = 0;
  let cpu = 0;
  let memory = 0;
  for (const d of deployments) {
    const replicas = typeof (d.spec as any)?.replicas === "number" ? (d.spec as any).replicas : 1;
    pods += replicas;
    for (const c of ((d.spec as any)?.template?.spec?.containers ?? []) as any[]) {
      cpu += replicas * cpuCores(c.resources?.requests?.cpu);
      memory += replicas * memoryGiB(c.resources?.requests?.memory);
    }
  }
  return { pods, cpu, memoryGiB: memory };
}

async function clusterDetails(deps: ForkctlDeps, record: Omit<ForkRecord, "state">, base: Record<string, unknown>): Promise<Partial<ForkRecord>> {
  if (deps.cluster === undefined) return { clusterNote: "no cluster view: pods, CPU, memory and the hop table are left out" };
  const upstreams = Array.isArray(base.upstreams) ? (base.upstreams as { host: string; service: { name: string; namespace: string } }[]) : [];
  const gatewayNamespace = typeof base.gatewayNamespace === "string" ? base.gatewayNamespace : "emissary";
  const namespaces = [...new Set([...record.copies.map((c) => c.copy.split(".")[1]), ...upstreams.map((u) => u.service.namespace)])].sort();
  let objects: KubeObject[];
  try {
    objects = await deps.cluster.snapshot(namespaces, gatewayNamespace);
  } catch (err) {
    return { clusterNote: `the cluster could not be read (${oneLine(err)}): pods, CPU, memory and the hop table are left out` };
  }
  const requests = requestsOf(objects, record.copies);
  const pricing = base.pricing as { vcpuHour: number; gibHour: number; currency: string } | null | undefined;
  const cost: Cost = {
    pods: requests.pods,
    cpu: requests.cpu,
    memoryGiB: requests.memoryGiB,
    ...(pricing ? { pricePerHour: { amount: requests.cpu * pricing.vcpuHour + requests.memoryGiB * pricing.gibHour, currency: pricing.currency } } : {}),
  };
  const first = upstreams[0];
  const url = first ? record.urls[first.host] : undefined;
  if (!url) return { cost };
  // Loaded lazily: the explainer is tooling shared with `npm run explain`.
  const { explainRequest, formatExplanation } = await import("../../render/explain");
  const headerName = typeof base.headerName === "string" ? base.headerName : undefined;
  const explanation = explainRequest(objects, { host: new URL(url).hostname, calls: [] }, { headerName });
  return { cost, explained: formatExplanation(explanation, { headerName }) };
}
