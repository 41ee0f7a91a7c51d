/**
 * Writes a fork's routes into the shared VirtualService of a Service, and takes them out again,
 * without erasing what concurrent forks wrote at the same moment.
 *
 * Every fork of a Service writes the same object (Istio honours one VirtualService per host for
 * sidecars), so a plain apply would let the last writer win. Instead: read, decide (fork/routes.ts
 * and fork/routePatch.ts, pure), and write only the fork's own routes as a JSON Patch whose `test`s
 * state what it relies on; the API server applies it to the object as it is then, or rejects it
 * (422) when a test no longer holds, and we read again and retry with jittered exponential backoff.
 * Inserting a fork's routes tests nothing and changing them in place shifts nothing, so concurrent
 * forks rarely collide (routePatch.ts explains why each patch is safe).
 *
 * Creating a VirtualService, deleting the one forkstack created, and the few writes a patch cannot
 * state (routePatch.ts) keep the optimistic concurrency of the resourceVersion
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions): a 409 Conflict
 * is retried the same way, as client-go's `retry.RetryOnConflict` does. `strategy: "replace"` writes
 * everything that way, as forkstack did before (kept for the benchmark's before/after).
 *
 * With `leases`, forks of one Service take turns (fork/routeTurn.ts): each claim's whole
 * read-modify-write runs while it holds the Service's Lease, so the server sees one writer at a
 * time instead of all of them at once. The guards above stay: the turn only saves work.
 *
 * It does no I/O besides `api`; sleep and randomness are injectable for tests.
 */
import { isConflict, isNotFound, isUnknownOutcome, LeaseApi, VirtualService, VirtualServiceApi, VS_GROUP, VS_VERSION } from "../kube/vsApi";
import { addRoutesWrite, goneRoutesWrite, orphaned, releaseRoutesWrite, RouteWrite, sweepRetiredWrite } from "./routePatch";
import { isRetiredRouteName, retiredRouteName, routeName } from "../naming";
import { addForkRoutes, ForkRouteClaim, placeRoutes, removeForkRoutes, routesOfFork } from "./routes";
import { inTurn, TurnOptions } from "./routeTurn";
import { errorNamed, oneLine, Pacing, sleepFor } from "../kube/retry";

export interface SyncOptions extends Pacing {
  /**
   * Attempts before giving up (each attempt is one read and one write).
   * @default 10
   */
  readonly maxAttempts?: number;
  /**
   * First backoff ceiling in ms; doubles per attempt, the delay is uniform in [0, ceiling) ("full jitter").
   * @default 50
   */
  readonly baseDelayMs?: number;
  /** @default 2000 */
  readonly maxDelayMs?: number;
  /**
   * `patch`: only the fork's routes, as JSON Patches (routePatch.ts). `replace`: the whole object at
   * the resourceVersion that was read, as before JSON Patches (kept to compare in `npm run bench`).
   * @default "patch"
   */
  readonly strategy?: "patch" | "replace";
  /**
   * Where forks of the Service take turns to write (fork/routeTurn.ts): with them, one fork writes
   * the VirtualService at a time. Without (the offline render): every fork writes at once.
   */
  readonly leases?: LeaseApi;
  readonly turn?: TurnOptions;
}

export const SYNC_DEFAULTS = { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 2000 } as const;

/** The write lost the race `attempts` times in a row; nothing of this attempt was written. */
export class ConflictRetriesExhaustedError extends Error {
  constructor(
    public readonly attempts: number,
    what: string,
    last: unknown,
  ) {
    const message =
      `${what}: gave up after ${attempts} attempts, every write conflicted with a concurrent change ` +
      `(last: ${oneLine(last)}); run the update again`;
    super(message);
    this.name = "ConflictRetriesExhaustedError";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}

/**
 * A 404 that no retry can fix: listing VirtualServices answered 404 (the API server does not serve
 * networking.istio.io/v1, i.e. Istio's CRDs are not installed), or creating one did (its namespace
 * does not exist, or the CRD went away). Unlike a 404 on replace/delete, nothing was raced.
 */
export class NotServedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotServedError";
    this.message = message; // kept when serialized into a dynamic provider (fork/forkRoutes.ts asError)
  }
}


type Write<T> = (list: VirtualService[]) => Promise<T>;

/** Reads every VirtualService, lets `write` decide and write; on a lost race reads again. */
async function readModifyWrite<T>(api: VirtualServiceApi, what: string, write: Write<T>, opts: SyncOptions): Promise<T> {
  const maxAttempts = opts.maxAttempts ?? SYNC_DEFAULTS.maxAttempts;
  const base = opts.baseDelayMs ?? SYNC_DEFAULTS.baseDelayMs;
  const cap = opts.maxDelayMs ?? SYNC_DEFAULTS.maxDelayMs;
  const sleep = opts.sleep ?? sleepFor;
  const random = opts.random ?? Math.random;
  let last: unknown;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    let list: VirtualService[];
    try {
      // All namespaces: a VirtualService for the host may live outside the Service's namespace,
      // and findVirtualService refuses to pick one of two.
      list = await api.listAll();
    } catch (err) {
      if (isNotFound(err)) {
        throw new NotServedError(
          `${what}: the cluster does not serve ${VS_GROUP}/${VS_VERSION} VirtualServices (${oneLine(err)}); ` +
            "install Istio (its CRDs) in the cluster, or check that forkstack:cluster points at the cluster that runs it",
        );
      }
      throw err;
    }
    const writeStart = Date.now();
    let unanswered = 0;
    try {
      return await write(list);
    } catch (err) {
      // Retried: 409 (someone wrote since our read) and a rejected patch (422: one of its tests no
      // longer holds), both ConflictErrors; a 404 from replace/patch/delete (the object we read was
      // deleted before our write, e.g. its last fork left); and a write whose outcome is unknown
      // (reading again shows whether it was applied). `write` turns a 404 on create into a
      // NotServedError, which is not retried.
      if (!isConflict(err) && !isNotFound(err) && !isUnknownOutcome(err)) throw err;
      last = err;
      if (isUnknownOutcome(err)) unanswered = Date.now() - writeStart;
    }
    if (attempt < maxAttempts) {
      // Full jitter spreads writers that collided so they do not collide again
      // (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/). A write the
      // server did not answer in time (it applies concurrent writes to one object one at a time
      // and retries the rest itself, so many writers make each one slow) waits up to as long as it
      // went unanswered: writers that overloaded the object come back spread over that time rather
      // than all together.
      await sleep(Math.floor(random() * Math.max(Math.min(cap, base * 2 ** (attempt - 1)), unanswered)));
    }
  }
  throw new ConflictRetriesExhaustedError(maxAttempts, what, last);
}

function subject(claim: Pick<ForkRouteClaim, "forkId" | "service">): string {
  return `routes of fork "${claim.forkId}" for Service ${claim.service.namespace}/${claim.service.name}`;
}

/**
 * Adds (or refreshes) the fork's routes in the Service's VirtualService, creating one when the
 * Service has none. Resolves to the VirtualService as written.
 */
export function applyClaim(api: VirtualServiceApi, claim: ForkRouteClaim, opts: SyncOptions = {}): Promise<VirtualService> {
  const what = `adding ${subject(claim)}`;
  return inTurnOf(claim, opts, () => readModifyWrite(
    api,
    what,
    async (list) => {
      const { target: existing, stale } = placeRoutes(list, claim.service, claim.delegate);
      const merged = addForkRoutes(existing, claim);
      if (existing === undefined) {
        try {
          return await api.create(merged);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          const ns = merged.metadata.namespace ?? "default";
          throw new NotServedError(
            `${what}: creating VirtualService ${ns}/${merged.metadata.name} answered 404 Not Found (${oneLine(err)}); ` +
              `check that namespace ${ns} exists and that the cluster serves ${VS_GROUP}/${VS_VERSION} VirtualServices (is Istio installed?)`,
          );
        }
      }
      const write: RouteWrite = opts.strategy === "replace" ? { kind: "replace", virtualService: merged } : addRoutesWrite(existing, claim);
      // Adding never deletes, so there is always a VirtualService to resolve to. Retired routes of
      // forks that left next to others go along, when they can (routePatch.ts).
      const sent = (await send(api, existing, write)) ?? existing;
      const written = await sendOnce(api, sent, sweepRetiredWrite(sent, claim.headerName));
      // The app team (re)created its VirtualService next to one forkstack had created: the fork's
      // routes now live in the app's, so take them out of forkstack's (deleted when empty). A lost
      // race here retries the whole write, which is idempotent.
      for (const old of stale) await removeFrom(api, old, claim, opts);
      return written;
    },
    opts,
  ));
}

/**
 * Runs a claim's whole read-modify-write (every attempt) in the Service's turn. The holder is the
 * fork id and a random suffix: two processes of one fork (a retried CI job) are two writers.
 */
function inTurnOf<T>(claim: Pick<ForkRouteClaim, "forkId" | "service">, opts: SyncOptions, write: (held: boolean) => Promise<T>): Promise<T> {
  const holder = `${claim.forkId}/${Math.random().toString(36).slice(2, 10)}`;
  return inTurn(opts.leases, { service: claim.service, holder }, write, opts.turn);
}

/**
 * Sends one write decided on `vs` as read: a patch applies to the object as it is now, a replace
 * or delete only to the version read (409 otherwise). Resolves to the VirtualService as left
 * (undefined once deleted).
 */
async function send(api: VirtualServiceApi, vs: VirtualService, write: RouteWrite): Promise<VirtualService | undefined> {
  const namespace = vs.metadata.namespace ?? "default";
  switch (write.kind) {
    case "none":
      return vs;
    case "patch":
      return api.patch(namespace, vs.metadata.name, write.ops);
    case "replace":
      return api.replace({ ...write.virtualService, metadata: { ...write.virtualService.metadata, resourceVersion: vs.metadata.resourceVersion } });
    case "delete":
      await api.delete(namespace, vs.metadata.name, String(vs.metadata.resourceVersion));
      return undefined;
  }
}


/**
 * Sends a `bestEffort` write (a removal of retired routes) once and returns `vs` as it was when it
 * fails, whatever the failure: rejected because a concurrent write moved the routes it tests, no
 * answer from a server busy with many writers of one object (seen with the real kube-apiserver and
 * 100 forks at once: a patch got no answer within 30 s, five times), or anything else. The fork's
 * own write has succeeded by then, and a retired route left there harms nobody and goes with the
 * next write, so this failure must not fail the fork, nor cost a new read.
 */
async function sendOnce(api: VirtualServiceApi, vs: VirtualService, write: RouteWrite): Promise<VirtualService> {
  try {
    return (await send(api, vs, write)) ?? vs;
  } catch {
    return vs;
  }
}

/** Takes the fork's routes out of one VirtualService (deleting one forkstack created once it holds no fork route). */
async function removeFrom(
  api: VirtualServiceApi,
  vs: VirtualService,
  claim: Pick<ForkRouteClaim, "forkId" | "headerName">,
  opts: SyncOptions,
  exclusive = false,
): Promise<VirtualService | undefined> {
  if (opts.strategy !== "replace") {
    // Retire, then remove (routePatch.ts): each step decided on the state the previous one answered
    // with; a rejected step rejects the attempt, and the next attempt starts from a fresh read.
    let left: VirtualService | undefined = vs;
    for (let step = 0; step < 3 && left !== undefined; step++) {
      const write = releaseRoutesWrite(left, claim.forkId, claim.headerName, { exclusive });
      if (write.kind === "none") break;
      if (write.kind === "patch" && write.bestEffort) {
        left = await sendOnce(api, left, write);
        break;
      }
      left = await send(api, left, write);
    }
    // The last fork out deletes what forkstack created, judged on the state after its own write
    // (or as read, when a retry finds its routes already gone): see routePatch.ts.
    if (left === undefined || !orphaned(left, claim.headerName)) return left;
    return send(api, left, { kind: "delete" });
  }
  const result = removeForkRoutes(vs, claim.forkId, claim.headerName);
  return send(api, vs, result.action === "update" ? { kind: "replace", virtualService: result.virtualService } : { kind: result.action });
}

/**
 * Removes the fork's routes from the Service's VirtualService: deletes a VirtualService forkstack
 * created once no fork routes remain, restores an adopted one, does nothing when the fork has no
 * routes there. Resolves to the VirtualService as left, or undefined when there is none.
 */
export function releaseClaim(
  api: VirtualServiceApi,
  claim: Pick<ForkRouteClaim, "forkId" | "service" | "headerName" | "delegate">,
  opts: SyncOptions = {},
): Promise<VirtualService | undefined> {
  return inTurnOf(claim, opts, (held) => readModifyWrite(
    api,
    `removing ${subject(claim)}`,
    async (list) => {
      const { target: existing, stale } = placeRoutes(list, claim.service, claim.delegate);
      for (const old of stale) await removeFrom(api, old, claim, opts, held);
      if (existing === undefined) return undefined;
      return removeFrom(api, existing, claim, opts, held);
    },
    opts,
  ).catch((err: unknown) => {
    // Said once, here: what may be left in the shared object, that it routes nobody else, and the way out.
    // (Not `instanceof Error`: serialized into the provider, our error classes are not Errors of its realm.)
    // A cluster that does not serve VirtualServices holds no route to leave.
    if (err !== null && typeof err === "object" && typeof (err as Error).message === "string" && !errorNamed(err, "NotServedError") && !/may be left/.test((err as Error).message)) {
      (err as Error).message = `${(err as Error).message}; fork ${claim.forkId}'s routes may be left in the Service's VirtualService (retired ones, ${retiredRouteName(routeName(claim.forkId))}, match only its own header); the next pulumi up or destroy of the fork removes them`;
    }
    throw err;
  }));
}

/** Whether the fork's routes stand in the live VirtualService as the merge would write them. */
export type RouteDrift = "in-sync" | "missing" | "changed";

/**
 * Reads the Service's VirtualService and compares the fork's routes with what applyClaim would
 * write: `missing` when the fork has no route there (or there is no VirtualService), `changed` when
 * its routes differ, are split or are no longer above the app's (or a copy is left in a stale
 * VirtualService forkstack created), `in-sync` otherwise. Other forks' routes do not count. Read-only.
 */
export async function routeDrift(api: VirtualServiceApi, claim: ForkRouteClaim): Promise<{ drift: RouteDrift; virtualService?: VirtualService }> {
  const { target: vs, stale } = placeRoutes(await api.listAll(), claim.service, claim.delegate);
  // Retired routes (`…--gone`, routePatch.ts) are what the fork left when it last left a
  // VirtualService next to live forks: not its routes any more, whoever removes them.
  const live = (v: VirtualService) => routesOfFork(v, claim.forkId, claim.headerName).filter((r) => !isRetiredRouteName(r.name));
  if (vs === undefined || live(vs).length === 0) return { drift: "missing", virtualService: vs };
  // The same decision applyClaim makes: nothing to write means in sync. Routes compare as JSON
  // values (the API server returns object keys sorted, not in the order they were written).
  const same = addRoutesWrite(vs, claim).kind === "none";
  // A copy of the fork's routes left in a stale VirtualService forkstack created: the next update takes it out.
  const leftBehind = stale.some((old) => live(old).length > 0);
  return { drift: same && !leftBehind ? "in-sync" : "changed", virtualService: vs };
}

/** Retired routes of forks that left for good, per VirtualService (`namespace/name`). */
export interface SweptRoutes {
  readonly virtualService: string;
  readonly routes: string[];
}

/** What a sweep removed (or, with dryRun, would), and the VirtualServices that refused. */
export interface Sweep {
  readonly swept: SweptRoutes[];
  readonly failed: { readonly virtualService: string; readonly error: string }[];
}

/**
 * Removes, from every VirtualService in the cluster, the retired routes (`…--gone`) of forks
 * `gone` says have left for good: what a leave that could not finish its removal left behind
 * (routePatch.ts), with no fork writing there again to sweep it. A VirtualService forkstack
 * created is deleted once no fork route would remain. With `dryRun`, nothing is written.
 *
 * Each write is guarded as a fork's are (JSON Patch `test`s by name, resourceVersion for a delete)
 * and a lost race reads again; a VirtualService whose write the server refuses otherwise (403: a
 * namespace the fork group may not write) is reported in `failed` and the others go on.
 */
export async function sweepGoneForks(
  api: VirtualServiceApi,
  headerName: string,
  gone: (forkId: string) => boolean,
  opts: SyncOptions & { readonly dryRun?: boolean } = {},
): Promise<Sweep> {
  const swept = new Map<string, string[]>();
  const failed = new Map<string, string>();
  await readModifyWrite(
    api,
    "removing retired routes of forks that are gone",
    async (list) => {
      for (const vs of list) {
        const key = `${vs.metadata.namespace ?? "default"}/${vs.metadata.name}`;
        const { write, routes } = goneRoutesWrite(vs, headerName, gone);
        if (routes.length === 0 || failed.has(key)) continue;
        if (!opts.dryRun) {
          try {
            await send(api, vs, write);
          } catch (err) {
            // A lost race reads everything again (what was removed stays removed); anything else is this one's.
            if (isConflict(err) || isNotFound(err) || isUnknownOutcome(err)) throw err;
            failed.set(key, oneLine(err));
            continue;
          }
        }
        swept.set(key, [...new Set([...(swept.get(key) ?? []), ...routes])].sort());
      }
    },
    opts,
  );
  return {
    swept: [...swept].map(([virtualService, routes]) => ({ virtualService, routes })).sort((a, b) => a.virtualService.localeCompare(b.virtualService)),
    failed: [...failed].map(([virtualService, error]) => ({ virtualService, error })),
  };
}
