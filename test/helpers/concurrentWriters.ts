/**
 * Runs forkstack's live code path — routeSync over the real `@kubernetes/client-node` adapter — in
 * a plain `node` process, for tests that cannot load client-node inside Jest: client-node 2.x is
 * ESM-only and Jest runs test code as CommonJS in a vm context, where dynamic `import()` fails
 * without `--experimental-vm-modules`. Spawned by the tests with
 * `node -r ts-node/register/transpile-only test/helpers/concurrentWriters.ts --serve`, one process per test
 * file (spawnJob): each job is one JSON line on stdin, answered by one JSON line on stdout.
 *
 * Jobs:
 * - `{ op: "apply" | "release", kubeconfig, claims, options? }`: every claim at once (Promise.all),
 *   the way concurrent `pulumi up`s of different forks hit the API server;
 * - `{ op: "probe", kubeconfig, steps }`: adapter calls one after another, each step's outcome
 *   recorded (`{ ok: value }` or `{ error: name, message }`).
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as readline from "readline";
import { CallTimeouts, clientNodeAccess } from "../../components/kube/clientNode";
import type { SyncOptions } from "../../components/fork/routeSync";
import type { JsonPatchOp } from "../../components/kube/jsonPatch";
import type { ForkRouteClaim } from "../../components/fork/routes";
import type { ClusterAccess, VirtualServiceApi } from "../../components/kube/vsApi";
import type { TurnOptions, TurnStats } from "../../components/fork/routeTurn";

export type ProbeStep =
  | { call: "list"; namespace: string }
  | { call: "listAll" }
  | { call: "create" | "replace"; vs: any }
  | { call: "patch"; namespace: string; name: string; ops: JsonPatchOp[] }
  | { call: "delete"; namespace: string; name: string; resourceVersion: string }
  | { call: "getService" | "getDeployment"; namespace: string; name: string }
  | { call: "renewLease"; lease: any };

/** Turn options that travel as JSON (fork/routeTurn.ts). */
export type TurnJobOptions = Pick<TurnOptions, "leaseSeconds" | "waitMs" | "pollMs" | "maxPollMs">;

export type Job =
  | {
      op: "apply" | "release";
      kubeconfig: string;
      context?: string;
      claims: ForkRouteClaim[];
      options?: Pick<SyncOptions, "maxAttempts" | "baseDelayMs" | "maxDelayMs" | "strategy">;
      /** Take turns with the server's Leases, as the ForkRoutes provider does; each outcome then tells how its turn went. */
      turns?: TurnJobOptions;
    }
  | { op: "probe"; kubeconfig: string; context?: string; steps: ProbeStep[]; timeouts?: CallTimeouts };

export type StepOutcome = { ok: unknown } | { error: string; message: string };
/**
 * A claim's outcome; with `turns`, also its turn, why it went without one, and `span`: when (ms on
 * the worker's clock) its first call to the VirtualService API started and its last one ended.
 */
export type ClaimOutcome = StepOutcome & { turn?: TurnStats; unqueued?: string[]; span?: [number, number] };

/** `api` with the time its first call started and its last call ended recorded in `span`. */
function spanned(api: VirtualServiceApi, span: number[]): VirtualServiceApi {
  const timed =
    <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      if (span.length === 0) span.push(performance.now());
      return f(...args).finally(() => (span[1] = performance.now()));
    };
  return { list: timed(api.list), listAll: timed(api.listAll), create: timed(api.create), replace: timed(api.replace), patch: timed(api.patch), delete: timed(api.delete) };
}

async function probe(access: ClusterAccess, step: ProbeStep): Promise<unknown> {
  const vs = access.virtualServices;
  switch (step.call) {
    case "list":
      return vs.list(step.namespace);
    case "listAll":
      return vs.listAll();
    case "create":
      return vs.create(step.vs);
    case "replace":
      return vs.replace(step.vs);
    case "patch":
      return vs.patch(step.namespace, step.name, step.ops);
    case "delete":
      return vs.delete(step.namespace, step.name, step.resourceVersion);
    case "getService":
      return access.reader.getService(step.namespace, step.name);
    case "getDeployment":
      return access.reader.getDeployment(step.namespace, step.name);
    case "renewLease":
      return access.leases!.replace(step.lease);
  }
}

export async function run(job: Job): Promise<unknown> {
  const access = await clientNodeAccess(job.kubeconfig, job.context, job.op === "probe" ? job.timeouts : undefined);
  if (job.op === "probe") {
    const outcomes: StepOutcome[] = [];
    for (const step of job.steps) {
      try {
        outcomes.push({ ok: (await probe(access, step)) ?? null });
      } catch (err) {
        outcomes.push({ error: (err as Error).name, message: (err as Error).message });
      }
    }
    return outcomes;
  }
  // Loaded here so a probe does not need the merge module.
  const { applyClaim, releaseClaim } = require("../../components/fork/routeSync") as typeof import("../../components/fork/routeSync");
  const sync = job.op === "apply" ? applyClaim : releaseClaim;
  const turns = job.claims.map(() => ({ unqueued: [] as string[], span: [] as number[] }) as { turn?: TurnStats; unqueued: string[]; span: number[] });
  const results = await Promise.allSettled(
    job.claims.map((claim, i) =>
      sync(job.turns === undefined ? access.virtualServices : spanned(access.virtualServices, turns[i].span), claim, {
        ...job.options,
        ...(job.turns === undefined
          ? {}
          : { leases: access.leases, turn: { ...job.turns, onTurn: (s: TurnStats) => (turns[i].turn = s), onUnqueued: (why: string) => turns[i].unqueued.push(why) } }),
      }),
    ),
  );
  return results.map((r, i): ClaimOutcome => ({
    ...(r.status === "fulfilled" ? { ok: r.value ?? null } : { error: (r.reason as Error).name, message: (r.reason as Error).message }),
    ...(job.turns === undefined ? {} : { ...turns[i], span: turns[i].span as [number, number] }),
  }));
}

/**
 * One child `node` process per test file serves every job of the file, one JSON line in, one out
 * (`--serve`): starting node with ts-node and client-node costs more than most jobs, so a file's
 * jobs share one start. `stopJobWorker()` in afterAll ends it.
 */
let worker: { child: ChildProcess; pending: { resolve: (v: any) => void; reject: (e: Error) => void }[]; stderr: string[] } | undefined;

function startWorker() {
  const root = path.resolve(__dirname, "../..");
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(__dirname, "concurrentWriters.ts"), "--serve"], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  const w = { child, pending: [] as { resolve: (v: any) => void; reject: (e: Error) => void }[], stderr: [] as string[] };
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    const next = w.pending.shift();
    if (next === undefined) return;
    const answer = JSON.parse(line) as { result?: unknown; error?: string };
    if (answer.error !== undefined) next.reject(new Error(`concurrentWriters failed: ${answer.error}`));
    else next.resolve(answer.result);
  });
  child.stderr!.on("data", (d: Buffer) => w.stderr.push(d.toString()));
  child.on("exit", () => {
    for (const p of w.pending.splice(0)) p.reject(new Error(`concurrentWriters exited: ${w.stderr.join("").trim()}`));
    if (worker === w) worker = undefined;
  });
  return w;
}

/** Runs a job in the file's child `node` process (see the file comment for why) and resolves to its result. */
export function spawnJob(job: Job, timeoutMs = 60_000): Promise<any> {
  worker = worker ?? startWorker();
  const w = worker;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`concurrentWriters: no answer within ${timeoutMs} ms`)), timeoutMs);
    w.pending.push({
      resolve: (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      reject: (e) => {
        clearTimeout(timer);
        reject(e);
      },
    });
    w.child.stdin!.write(`${JSON.stringify(job)}\n`);
  });
}

/** Ends the file's child process (call in afterAll). */
export function stopJobWorker(): Promise<void> {
  const w = worker;
  worker = undefined;
  if (w === undefined || w.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    w.child.once("exit", () => resolve());
    w.child.stdin!.end();
  });
}

if (require.main === module) {
  // Jobs run one at a time, in order: each answer line belongs to the oldest question.
  let queue: Promise<void> = Promise.resolve();
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    queue = queue.then(async () => {
      try {
        process.stdout.write(`${JSON.stringify({ result: await run(JSON.parse(line) as Job) })}\n`);
      } catch (err) {
        process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
      }
    });
  });
}
