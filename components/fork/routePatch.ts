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
 * - Leaving while other forks leave: removing a route shifts every route below it, so forks removing
 *   their routes at the same moment reject each other's patches over and over (200 at once
 *   exhausted the retries). So a leaving fork first renames its routes in place to
 *   `forkstack-<fork>…--gone` (naming.retiredRouteName; shifts nothing, so concurrent renames never
 *   collide), then removes every retired route it sees, its own and other leaving forks', in one
 *   patch, each tested by name. Whoever's removal lands first takes the others' routes with it, and
 *   a fork whose removal is then rejected reads again and finds its routes gone. A retired route
 *   still matches only its own fork's header, so nobody else's requests change meanwhile. Alone
 *   with the app's routes (no other fork's routes to collide with), a fork removes its routes at once.
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
import { addForkRoutes, ForkRouteClaim, forkOfOwnedRoute, forksIn, removeForkRoutes, routesOfFork, VirtualService } from "./routes";

/** What to send: nothing, a JSON Patch, the whole object at its resourceVersion, or a delete at it. */
export type RouteWrite =
  | { kind: "none" }
  /** `retires`: only renames the fork's routes to their retired names (releaseRoutesWrite). */
  | { kind: "patch"; ops: JsonPatchOp[]; retires?: true }
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
 * The next write of a fork leaving `vs` (call again on the state it answers with, until `none`):
 * `delete` or `replace` where removeRoutesWrite says so; the removal itself when no other fork has
 * a route there; otherwise first the retiring rename of the fork's live routes, then the removal of
 * every retired route (`sweep`). `none` once the fork has no route there.
 */
export function releaseRoutesWrite(vs: VirtualService, forkId: string, headerName: string): RouteWrite {
  const direct = removeRoutesWrite(vs, forkId, headerName);
  if (direct.kind !== "patch") return direct;
  const http = httpOf(vs)!;
  const owned = http.flatMap((r, i) => (forkOfOwnedRoute(r, headerName) !== undefined ? [i] : []));
  const mine = indicesOf(http, forkId, headerName);
  if (owned.length === mine.length) return direct;
  const live = mine.filter((i) => !isRetiredRouteName(http[i].name));
  if (live.length > 0) {
    return { kind: "patch", retires: true, ops: live.flatMap((i) => [testName(i, http[i].name), { op: "replace", path: `/spec/http/${i}/name`, value: retiredRouteName(String(http[i].name)) } as JsonPatchOp]) };
  }
  return { kind: "patch", ops: removeAt(http, owned.filter((i) => isRetiredRouteName(http[i].name))) };
}

/**
 * The write that takes the fork's routes out of `vs`: `none` when it has none there, `delete` for a
 * VirtualService forkstack created once no fork route would remain (sent with a resourceVersion
 * precondition), a patch removing exactly its routes otherwise.
 */
export function removeRoutesWrite(vs: VirtualService, forkId: string, headerName: string): RouteWrite {
  const result = removeForkRoutes(vs, forkId, headerName);
  if (result.action === "none") return { kind: "none" };
  if (result.action === "delete") return { kind: "delete" };
  const http = httpOf(vs)!;
  const mine = indicesOf(http, forkId, headerName);
  // The last route going: removeForkRoutes drops `http` itself (an adopted tcp-only spec comes back as it was).
  if (mine.length === http.length) return { kind: "replace", virtualService: result.virtualService };
  return { kind: "patch", ops: removeAt(http, mine) };
}

/**
 * A VirtualService forkstack created that holds no fork route any more: it only ever existed for
 * fork routes, so whoever sees it so deletes it (at the version seen: a fork adding meanwhile wins).
 */
export function orphaned(vs: VirtualService, headerName: string): boolean {
  return vs.metadata.annotations?.[LABELS.createdBy] === MANAGED_BY && forksIn(vs, headerName).length === 0;
}
