/**
 * Route-writes benchmark: D forks writing one app team's VirtualService at the same moment, through
 * the live code path (fork/routeSync.ts over the real `@kubernetes/client-node` adapter, one client
 * per fork), against the local API test server over real HTTP on 127.0.0.1 in its own process
 * (bench/apiServer.ts over test/helpers/fakeKubeApi.ts: the API server's resourceVersion, 409 and
 * JSON Patch rules), or against the real kube-apiserver of the e2e tier (bench/kubeServer.ts,
 * `--server kube`). Phases, each all D at once:
 *
 * - add: every fork adds its route;
 * - churn: every fork changes its route's destination (a new copy, as an image change may bring);
 * - release: every fork takes its route out;
 * - leave half: after every fork added its route again (not measured), half of them take theirs out
 *   while the other half stay: the retired routes a leaving fork may leave next to live forks
 *   (fork/routePatch.ts) show up as "left behind".
 *
 * After each phase it reads the object back and counts routes lost (a fork's route missing) and
 * duplicated (present more than once), and whether the app team's route and fields stayed byte for
 * byte; it counts the writes the server refused (409 Conflict, 422 rejected patch), each writer's
 * attempts (one read and one write each) and the wall time. `strategy: "replace"` is the old path
 * (the whole object at the resourceVersion read) for comparison.
 */
import { spawn } from "child_process";
import * as path from "path";
import * as readline from "readline";
import { applyClaim, releaseClaim, SYNC_DEFAULTS, SyncOptions } from "../components/fork/routeSync";
import type { TurnStats } from "../components/fork/routeTurn";
import type { ForkRouteClaim } from "../components/fork/routes";
import { clientNodeAccess } from "../components/kube/clientNode";
import { ConflictError, LeaseApi, VirtualService, VirtualServiceApi } from "../components/kube/vsApi";
import { isForkRoute, routeName, serviceFqdn } from "../components/naming";

/**
 * `turns`: JSON Patches, forks of the Service taking turns with its Lease (fork/routeTurn.ts; what
 * the ForkRoutes provider does). `patch`: JSON Patches, every fork at once (before turns).
 * `replace`: the whole object at the resourceVersion read (before JSON Patches).
 */
export type Strategy = "turns" | "patch" | "replace";
export const STRATEGIES: readonly Strategy[] = ["turns", "patch", "replace"];
export type Phase = "add" | "churn" | "release" | "leave half";

export interface RoutePhaseResult {
  strategy: Strategy;
  forks: number;
  phase: Phase;
  failures: number;
  lost: number;
  duplicated: number;
  /** After release: fork routes still in the VirtualService; after leave half: those of forks that left. */
  leftBehind: number;
  /** The app team's route, the other fields and (after release) the whole spec as before forks. */
  appIntact: boolean;
  /** Writes the server refused: 409 Conflict and 422 (a patch's test no longer held). */
  refused: number;
  meanAttempts: number;
  maxAttempts: number;
  /** `turns`: reads of the Lease per fork before its turn came (mean). */
  meanTurnChecks?: number;
  /** `turns`: forks that wrote without a turn (it did not come within its wait, or Leases failed). */
  unqueued?: number;
  wallMs: number;
  /** After leave half: fork routes of forks that left still there once one more fork added its route. */
  leftAfterNextAdd?: number;
  /** First failure's message, if any. */
  firstError?: string;
}

const SERVICE = "reviews";
const HEADER = "x-fork-identifier";

/**
 * An app team's VirtualService: one route with retries, a timeout and a subset split. `live` adds
 * the fields a server sets, for the local test server's seed; a real one sets its own.
 */
export function appVirtualService(namespace: string, live = true): VirtualService {
  const server = live ? { resourceVersion: "4242", uid: "6f1c3a2e-0000-4000-8000-000000000001", generation: 3, creationTimestamp: "2026-01-10T09:00:00Z" } : {};
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: SERVICE, namespace, ...server, labels: { team: "books" } },
    spec: {
      hosts: [SERVICE],
      gateways: ["mesh"],
      http: [
        {
          name: "primary",
          timeout: "5s",
          retries: { attempts: 2, perTryTimeout: "2s" },
          route: [
            { destination: { host: SERVICE, subset: "v1" }, weight: 90 },
            { destination: { host: SERVICE, subset: "v2" }, weight: 10 },
          ],
        },
      ],
    },
  };
}

function claimIn(namespace: string, forkId: string, generation: number): ForkRouteClaim {
  return { forkId, headerName: HEADER, service: { name: SERVICE, namespace }, targetHost: serviceFqdn(`${SERVICE}-${forkId}${generation > 0 ? `-v${generation}` : ""}`, namespace) };
}

/**
 * Counts a writer's attempts (each attempt of routeSync's loop starts with one listAll) and the
 * writes the server refused (409 Conflict or AlreadyExists, 422 rejected patch: ConflictErrors).
 */
function counting(api: VirtualServiceApi) {
  let attempts = 0;
  let refused = 0;
  let checks = 0;
  let unqueued = 0;
  const counted = <T>(p: Promise<T>) =>
    p.catch((err) => {
      if (err instanceof ConflictError) refused++;
      throw err;
    });
  return {
    api: {
      ...api,
      listAll: () => (attempts++, api.listAll()),
      create: (vs) => counted(api.create(vs)),
      replace: (vs) => counted(api.replace(vs)),
      patch: (ns, name, ops) => counted(api.patch(ns, name, ops)),
      delete: (ns, name, rv) => counted(api.delete(ns, name, rv)),
    } as VirtualServiceApi,
    attempts: () => attempts,
    refused: () => refused,
    checks: () => checks,
    unqueued: () => unqueued,
    /** Counts the turn's checks, and a write that went without one. */
    turn: { onTurn: (t: TurnStats) => void ((checks += t.checks), (unqueued += t.held ? 0 : 1)) },
    reset: () => void ((attempts = 0), (refused = 0), (checks = 0), (unqueued = 0)),
  };
}

/** Where a run writes: a kubeconfig and a namespace holding the app team's VirtualService. */
export interface RouteTarget {
  kubeconfig: string;
  namespace: string;
}

/** Runs `fn` against a fresh local API test server seeded with the app team's VirtualService, then stops it. */
export async function withTestServer<T>(fn: (target: RouteTarget) => Promise<T>): Promise<T> {
  const namespace = "shop";
  const server = await startServer([appVirtualService(namespace)]);
  try {
    return await fn({ kubeconfig: server.kubeconfig, namespace });
  } finally {
    await server.stop();
  }
}

/** Starts bench/apiServer.ts; resolves to its kubeconfig and a stop function. */
async function startServer(seed: VirtualService[]): Promise<{ kubeconfig: string; stop: () => Promise<void> }> {
  const ts = require.resolve("ts-node/dist/bin", { paths: [path.join(__dirname, "..")] });
  const child = spawn(process.execPath, [ts, "--transpile-only", path.join(__dirname, "apiServer.ts"), JSON.stringify(seed)], { stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`bench/apiServer.ts exited with ${code} before it listened`)));
  });
  return {
    kubeconfig: (JSON.parse(line) as { kubeconfig: string }).kubeconfig,
    stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once("exit", () => resolve()), child.stdin!.end()))),
  };
}

/** Everything but the routes and what the server changes on every write (a real one also keeps managedFields). */
const withoutRoutes = (vs: VirtualService) =>
  JSON.stringify({ ...vs, metadata: { ...vs.metadata, resourceVersion: undefined, generation: undefined, managedFields: undefined }, spec: { ...(vs.spec as object), http: undefined } });

/** The `http` routes of a VirtualService as read (none when there is no VirtualService). */
const routesIn = (vs: VirtualService | undefined) => (vs?.spec as { http?: { name?: string; route?: { destination: { host: string } }[] }[] } | undefined)?.http ?? [];

/** A deterministic shuffle (mulberry32): writers start in an order unrelated to where their routes sit. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Runs every phase with D writers using `strategy` against the app team's VirtualService in `target`. */
export async function routeWrites(forks: number, strategy: Strategy, target: RouteTarget): Promise<RoutePhaseResult[]> {
  const { kubeconfig, namespace } = target;
  const claimOf = (forkId: string, generation: number) => claimIn(namespace, forkId, generation);
  const ids = Array.from({ length: forks }, (_, i) => `f${String(i + 1).padStart(3, "0")}`);
  // One client per fork, as separate `pulumi up` processes would have.
  const writers = await Promise.all(
    ids.map(async () => {
      const access = await clientNodeAccess(kubeconfig);
      return { ...counting(access.virtualServices), leases: access.leases };
    }),
  );
  const options = (w: (typeof writers)[number]): SyncOptions =>
    strategy === "turns" ? { strategy: "patch", leases: w.leases as LeaseApi, turn: w.turn } : { strategy };
  const reader = (await clientNodeAccess(kubeconfig)).virtualServices;
  const theApps = async () => (await reader.listAll()).find((vs) => vs.metadata.namespace === namespace && vs.metadata.name === SERVICE);
  const original = (await theApps())!;
  const results: RoutePhaseResult[] = [];
  for (const [p, phase] of (["add", "churn", "release", "leave half"] as Phase[]).entries()) {
    // Not measured, but a fork whose route did not come back would make "leave half" wrong: those
    // forks are retried one at a time, and the phase fails with them if one still fails.
    if (phase === "leave half") {
      const readded = await Promise.allSettled(ids.map((id, i) => applyClaim(writers[i].api, claimOf(id, 0), options(writers[i]))));
      for (const [i, r] of readded.entries()) if (r.status === "rejected") await applyClaim(writers[i].api, claimOf(ids[i], 0), options(writers[i]));
    }
    for (const w of writers) w.reset();
    // Started in another order each phase: removals started bottom-up (the reverse of the
    // inserts) would never shift a route another writer still has to find.
    const all = shuffled(ids.map((_, i) => i), 1000 * forks + p);
    const leaving = (i: number) => phase === "release" || (phase === "leave half" && i % 2 === 0);
    const order = phase === "leave half" ? all.filter(leaving) : all;
    const t0 = performance.now();
    const outcomes = await Promise.allSettled(
      order.map((i) =>
        leaving(i) ? releaseClaim(writers[i].api, claimOf(ids[i], 0), options(writers[i])) : applyClaim(writers[i].api, claimOf(ids[i], phase === "churn" ? 1 : 0), options(writers[i])),
      ),
    );
    const wallMs = performance.now() - t0;
    const vs = await theApps();
    const http = routesIn(vs);
    const count = (name: string) => http.filter((r) => r.name === name).length;
    const expected = ids.filter((_, i) => !leaving(i)).map((id) => routeName(id));
    const lost = expected.filter((n) => count(n) === 0).length;
    const duplicated = expected.filter((n) => count(n) > 1).length;
    const leftBehind = http.filter((r) => isForkRoute(r.name) && !expected.includes(r.name!)).length;
    const app = http.filter((r) => !isForkRoute(r.name));
    const appIntact =
      vs !== undefined &&
      JSON.stringify(app) === JSON.stringify((original.spec as { http: unknown[] }).http) &&
      withoutRoutes(vs) === withoutRoutes(original) &&
      (phase !== "release" || JSON.stringify(vs.spec) === JSON.stringify(original.spec));
    // After churn every fork's route must point at its new copy; a stale one counts as lost.
    const stale = phase === "churn" ? ids.filter((id) => http.some((r) => r.name === routeName(id) && r.route?.[0]?.destination.host !== claimOf(id, 1).targetHost)).length : 0;
    const attempts = order.map((i) => writers[i].attempts());
    const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
    // The next write there sweeps what the leaving forks left retired (fork/routePatch.ts).
    let leftAfterNextAdd: number | undefined;
    if (phase === "leave half") {
      const late = await clientNodeAccess(kubeconfig);
      await applyClaim(late.virtualServices, claimOf("late", 0), strategy === "turns" ? { strategy: "patch", leases: late.leases } : { strategy });
      const names = routesIn(await theApps()).map((r) => r.name);
      leftAfterNextAdd = names.filter((n) => isForkRoute(n) && n !== routeName("late") && !expected.includes(n!)).length;
    }
    const meanAttempts = attempts.reduce((a, b) => a + b, 0) / attempts.length;
    process.stderr.write(`bench:   ${phase}: ${failed.length} failures, mean attempts ${meanAttempts.toFixed(2)}, ${Math.round(wallMs)} ms\n`);
    results.push({
      strategy,
      forks,
      phase,
      failures: failed.length,
      lost: lost + stale,
      duplicated,
      leftBehind,
      appIntact,
      refused: order.reduce((n, i) => n + writers[i].refused(), 0),
      meanAttempts,
      maxAttempts: Math.max(...attempts),
      ...(strategy === "turns" ? { meanTurnChecks: order.reduce((n, i) => n + writers[i].checks(), 0) / order.length, unqueued: order.reduce((n, i) => n + writers[i].unqueued(), 0) } : {}),
      wallMs,
      ...(leftAfterNextAdd !== undefined ? { leftAfterNextAdd } : {}),
      ...(failed.length > 0 ? { firstError: String((failed[0].reason as Error).message).slice(0, 200) } : {}),
    });
  }
  return results;
}

export const ROUTE_RETRY_LIMIT = SYNC_DEFAULTS.maxAttempts;
