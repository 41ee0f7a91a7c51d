/**
 * The JSON Patches (RFC 6902) that put a fork's routes into a shared VirtualService and take them
 * out again, touching nothing else. Pure: takes the VirtualService as read and the claim, returns
 * the operations; fork/routeSync.ts sends them and retries when the server rejects them.
 *
 * Why a patch and not a replace: a replace carries the whole object at the resourceVersion that was
 * read, so any write in between — another fork's — makes it fail, and every writer re-reads and
 * re-sends everything: with D forks writing at once the work grows with D². A JSON Patch is applied
 * by the API server to the object as it is at that moment (atomically, all operations or none), so
 * it only has to state, with `test` operations, the few facts it relies on:
 *
 * - Adding: the fork's routes are inserted at index 0. Istio evaluates `http` routes in order, first
 *   match wins (https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRoute),
 *   so index 0 is above every app route whatever other forks did meanwhile, and among forks order
 *   does not matter (each matches only its own header value). The insert needs no `test`: the only
 *   thing it relies on is that this fork has no route there yet, which only this fork changes. It
 *   never conflicts with other forks; the API server refuses it (422) only when `spec.http` is gone.
 * - Changing or removing: the fork's routes are addressed by index, each with a `test` that the route
 *   at that index still carries the fork's route name, so a concurrent insert or removal above it
 *   makes the server reject the patch (422) instead of changing another route, and the writer reads
 *   again. Replacing in place shifts nothing, so concurrent changes of different forks never collide.
 *
 * - Leaving: removing a route shifts every route below it, so forks removing their routes at the
 *   same moment reject each other's patches over and over (200 at once exhausted the retries). So a
 *   fork leaving where other forks' routes are live only renames its routes in place to
 *   `forkstack-<fork>…--gone` (naming.retiredRouteName). A rename shifts nothing, so concurrent
 *   renames never collide, and a retired route still matches only its own fork's header, so nobody
 *   else's requests change. The retired routes are then removed, each tested by name, by whoever
 *   can do it without getting in the way of other forks' writes:
 *   - the fork that leaves when no other fork's route there is live removes every fork route, its
 *     own and the retired ones, and retries until they are gone (the last rename to land always
 *     sees this, so when D forks leave at once exactly one of them sweeps);
 *   - a fork that has just retired its routes and sees no other retired route (it is leaving on
 *     its own) sends their removal once, and does not read again when it is rejected
 *     (`bestEffort`). When other forks' routes are retired too, forks are leaving together and
 *     their renames may still be on the way: a removal would shift their routes and make them read
 *     again (on the real API server, where writes take longer, forks leaving at once averaged 3
 *     reads each when every one of them swept), so it leaves its routes retired;
 *   - a fork that has added or changed its routes sends the removal of every retired route it
 *     sees once (`bestEffort`).
 *   A retired route left behind harms nobody and goes with the next write there. A fork that holds
 *   the Service's turn (fork/routeTurn.ts; the ForkRoutes provider takes it) is the only writer
 *   among forks, so it removes every retired route, its own and any left before, and retries until
 *   they are gone: a destroy leaves nothing in the shared VirtualService, or fails saying so.
 *   Alone with the app's routes, a fork removes its routes at once.
 * - Deleting the VirtualService forkstack created once no fork route is left: a removal patch does
 *   not test the other forks' routes, so two last forks leaving at once may each see the other's
 *   route when they read. The state the server answers a patch with is the truth after it, so the
 *   writer whose patch left no fork route deletes it (`orphaned`), at that resourceVersion.
 *
 * Cases a patch cannot state safely keep the replace with resourceVersion (optimistic concurrency):
 * a VirtualService without an `http` list (tcp/tls only), and the last route leaving one, which
 * drops `http` again so the app's spec comes back byte for byte.
 */
import { jsonEqual, JsonPatchOp } from "../kube/jsonPatch";
import { isRetiredRouteName, LABELS, MANAGED_BY, retiredRouteName } from "../naming";
import { addForkRoutes, ForkRouteClaim, forkOfOwnedRoute, forksIn, routesOfFork, VirtualService } from "./routes";

/** What to send: nothing, a JSON Patch, the whole object at its resourceVersion, or a delete at it. */
export type RouteWrite =
  | { kind: "none" }
  /**
   * `retires`: only renames the fork's routes to their retired names (releaseRoutesWrite).
   * `bestEffort`: only removes retired routes; when the server rejects it, nothing is lost, and it
   * is not worth a new read.
   */
  | { kind: "patch"; ops: JsonPatchOp[]; retires?: true; bestEffort?: true }
  | { kind: "replace"; virtualService: VirtualService }
  | { kind: "delete" };

type Route = { name?: string; [k: string]: unknown };

const httpOf = (vs: VirtualService): Route[] | undefined => {
  const http = (vs.spec as { http?: unknown } | undefined)?.http;
  return Array.isArray(http) ? (http as Route[]) : undefined;
};

/** Indices of the fork's own routes (named for it and matching only its header), in order. */
function indicesOf(http: readonly Route[], forkId: string, headerName: string): number[] {
  return http.flatMap((r, i) => (forkOfOwnedRoute(r, headerName) === forkId ? [i] : []));
}

const testName = (i: number, name: unknown): JsonPatchOp => ({ op: "test", path: `/spec/http/${i}/name`, value: name });

/** Removes the routes at `indices`, last first so each index still means what was read; each tested by name. */
function removeAt(http: readonly Route[], indices: readonly number[]): JsonPatchOp[] {
  return [...indices].reverse().flatMap((i) => [testName(i, http[i].name), { op: "remove", path: `/spec/http/${i}` } as JsonPatchOp]);
}

/**
 * The write that makes the fork's routes in `vs` what addForkRoutes says they should be, leaving
 * every other route and field as it is. `none` when they already are: in place, contiguous, above
 * every route that is not a fork's (so routeDrift uses it to decide "in sync"). Throws RouteRefusal
 * where the merge refuses.
 */
export function addRoutesWrite(vs: VirtualService, claim: ForkRouteClaim): RouteWrite {
  const merged = addForkRoutes(vs, claim);
  const http = httpOf(vs);
  if (http === undefined) return { kind: "replace", virtualService: merged };
  const wanted = routesOfFork(merged, claim.forkId, claim.headerName);
  const mine = indicesOf(http, claim.forkId, claim.headerName);
  if (mine.length === 0) return { kind: "patch", ops: wanted.map((value, j) => ({ op: "add", path: `/spec/http/${j}`, value })) };

  const first = mine[0];
  // Only fork routes above its first route: where it is still catches all of the fork's requests.
  const placed = http.slice(0, first).every((r) => forkOfOwnedRoute(r, claim.headerName) !== undefined);
  const contiguous = mine.every((i, j) => i === first + j);
  if (placed && contiguous && mine.length === wanted.length) {
    if (mine.every((i, j) => jsonEqual(http[i], wanted[j]))) return { kind: "none" };
    // Same slots, new contents: replaced in place, nothing shifts.
    return { kind: "patch", ops: mine.flatMap((i, j) => [testName(i, http[i].name), { op: "replace", path: `/spec/http/${i}`, value: wanted[j] } as JsonPatchOp]) };
  }
  // Another number of routes, split, or below an app route: take them out, put them back together.
  const at = placed ? first : 0;
  return { kind: "patch", ops: [...removeAt(http, mine), ...wanted.map((value, j) => ({ op: "add", path: `/spec/http/${at + j}`, value }) as JsonPatchOp)] };
}

/**
 * The next write of a fork leaving `vs` (call again on the state each write answers with, until
 * `none`; see the header for why):
 * - no route of this fork there: `none`;
 * - no other fork has a live route there: the removal of every fork route, this fork's and the
 *   retired ones left by forks before it (`delete` or `replace` where removeRoutesWrite would say so);
 * - this fork's routes still live: the retiring rename (`retires`);
 * - all of them retired, other forks live: holding the Service's turn (`exclusive`), the removal of
 *   every retired route, which must succeed; without it, the removal of its own routes, sent once
 *   (`bestEffort`), unless another fork's route is retired too (`none`); a retired route left so
 *   stays until the next write there sweeps it.
 */
export function releaseRoutesWrite(vs: VirtualService, forkId: string, headerName: string, opts: { exclusive?: boolean } = {}): RouteWrite {
  const http = httpOf(vs);
  if (http === undefined) return { kind: "none" };
  const mine = indicesOf(http, forkId, headerName);
  if (mine.length === 0) return { kind: "none" };
  const owned = http.flatMap((r, i) => (forkOfOwnedRoute(r, headerName) !== undefined ? [i] : []));
  const others = owned.filter((i) => !mine.includes(i));
  if (others.every((i) => isRetiredRouteName(http[i].name))) return removeAtWrite(vs, http, owned, headerName);
  const live = mine.filter((i) => !isRetiredRouteName(http[i].name));
  if (live.length > 0) {
    return { kind: "patch", retires: true, ops: live.flatMap((i) => [testName(i, http[i].name), { op: "replace", path: `/spec/http/${i}/name`, value: retiredRouteName(String(http[i].name)) } as JsonPatchOp]) };
  }
  // Holding the Service's turn, no other fork's rename is on the way: every retired route goes, as
  // a write that must succeed (retried on a fresh read), so the fork leaves nothing behind.
  if (opts.exclusive) return { kind: "patch", ops: removeAt(http, retiredIn(http, headerName)) };
  // Another fork's retired route means other forks are leaving too (or left while others were):
  // their renames may still be on the way, and a removal now would shift their routes under them.
  if (others.some((i) => isRetiredRouteName(http[i].name))) return { kind: "none" };
  return { kind: "patch", bestEffort: true, ops: removeAt(http, mine) };
}

/** Indices of the routes forks retired (named `…--gone`, fork-owned). */
function retiredIn(http: readonly Route[], headerName: string): number[] {
  return http.flatMap((r, i) => (forkOfOwnedRoute(r, headerName) !== undefined && isRetiredRouteName(r.name) ? [i] : []));
}

/**
 * After a write that left this fork's routes live, the removal of every retired route in `vs` as
 * answered (forks that left while others' routes stayed, whose own sweep was rejected), sent once:
 * `none` when there is none. It never removes the last route nor a live one, so it is always a patch.
 */
export function sweepRetiredWrite(vs: VirtualService, headerName: string): RouteWrite {
  const http = httpOf(vs);
  const retired = http === undefined ? [] : retiredIn(http, headerName);
  if (retired.length === 0 || retired.length === http!.length) return { kind: "none" };
  return { kind: "patch", bestEffort: true, ops: removeAt(http!, retired) };
}

/**
 * The removal of the retired routes in `vs` of forks `gone` says have left for good (their stacks
 * no longer exist: forkctl gc), with the names it removes. Removing a retired route is anyone's
 * to do (forkPolicy.ts routePolicy): it matches only its own fork's header, which nobody sends any
 * more. `delete` where forkstack created `vs` and no fork route would remain (removeAtWrite).
 */
export function goneRoutesWrite(vs: VirtualService, headerName: string, gone: (forkId: string) => boolean): { write: RouteWrite; routes: string[] } {
  const http = httpOf(vs);
  const indices = http === undefined ? [] : retiredIn(http, headerName).filter((i) => gone(forkOfOwnedRoute(http[i], headerName)!));
  if (indices.length === 0) return { write: { kind: "none" }, routes: [] };
  return { write: removeAtWrite(vs, http!, indices, headerName), routes: indices.map((i) => String(http![i].name)) };
}

/**
 * The write that removes the routes at `indices` (all fork routes) from `vs`: `delete` for a
 * VirtualService forkstack created once no fork route would remain (sent with a resourceVersion
 * precondition), the whole object at its version when they are all there is (`http` goes, so an
 * adopted tcp-only spec comes back as it was), a patch removing exactly those routes otherwise.
 */
function removeAtWrite(vs: VirtualService, http: readonly Route[], indices: readonly number[], headerName: string): RouteWrite {
  const remaining = http.filter((_, i) => !indices.includes(i));
  const created = vs.metadata.annotations?.[LABELS.createdBy] === MANAGED_BY;
  if (created && !remaining.some((r) => forkOfOwnedRoute(r, headerName) !== undefined)) return { kind: "delete" };
  if (remaining.length === 0) {
    const { http: _gone, ...spec } = vs.spec as { http?: unknown; [k: string]: unknown };
    return { kind: "replace", virtualService: { ...vs, spec } };
  }
  return { kind: "patch", ops: removeAt(http, indices) };
}

/**
 * The write that takes exactly this fork's routes out of `vs`, whatever other forks have there:
 * `none` when it has none (see removeAtWrite for the rest).
 */
export function removeRoutesWrite(vs: VirtualService, forkId: string, headerName: string): RouteWrite {
  const http = httpOf(vs);
  const mine = http === undefined ? [] : indicesOf(http, forkId, headerName);
  return mine.length === 0 ? { kind: "none" } : removeAtWrite(vs, http!, mine, headerName);
}

/**
 * A VirtualService forkstack created that holds no fork route any more: it only ever existed for
 * fork routes, so whoever sees it so deletes it (at the version seen: a fork adding meanwhile wins).
 */
export function orphaned(vs: VirtualService, headerName: string): boolean {
  return vs.metadata.annotations?.[LABELS.createdBy] === MANAGED_BY && forksIn(vs, headerName).length === 0;
}
