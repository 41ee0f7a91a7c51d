/**
 * Runs forkstack's live code path — routeSync over the real `@kubernetes/client-node` adapter — in
 * a plain `node` process, for tests that cannot load client-node inside Jest: client-node 2.x is
 * ESM-only and Jest runs test code as CommonJS in a vm context, where dynamic `import()` fails
 * without `--experimental-vm-modules`. Spawned by the tests with
 * `node -r ts-node/register/transpile-only test/helpers/concurrentWriters.ts '<job JSON>'`; prints
 * one JSON line with the results and exits 0, or prints the error and exits 1.
 *
 * Jobs:
 * - `{ op: "apply" | "release", kubeconfig, claims, options? }`: every claim at once (Promise.all),
 *   the way concurrent `pulumi up`s of different forks hit the API server;
 * - `{ op: "probe", kubeconfig, steps }`: adapter calls one after another, each step's outcome
 *   recorded (`{ ok: value }` or `{ error: name, message }`).
 */
import { execFile } from "child_process";
import * as path from "path";
import { clientNodeAccess } from "../../components/kube/clientNode";
import type { SyncOptions } from "../../components/fork/routeSync";
import type { ForkRouteClaim } from "../../components/fork/routes";
import type { ClusterAccess } from "../../components/kube/vsApi";

export type ProbeStep =
  | { call: "list"; namespace: string }
  | { call: "listAll" }
  | { call: "create" | "replace"; vs: any }
  | { call: "delete"; namespace: string; name: string; resourceVersion: string }
  | { call: "getService" | "getDeployment"; namespace: string; name: string };

export type Job =
  | { op: "apply" | "release"; kubeconfig: string; context?: string; claims: ForkRouteClaim[]; options?: Pick<SyncOptions, "maxAttempts" | "baseDelayMs" | "maxDelayMs"> }
  | { op: "probe"; kubeconfig: string; context?: string; steps: ProbeStep[] };

export type StepOutcome = { ok: unknown } | { error: string; message: string };

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
    case "delete":
      return vs.delete(step.namespace, step.name, step.resourceVersion);
    case "getService":
      return access.reader.getService(step.namespace, step.name);
    case "getDeployment":
      return access.reader.getDeployment(step.namespace, step.name);
  }
}

export async function run(job: Job): Promise<unknown> {
  const access = await clientNodeAccess(job.kubeconfig, job.context);
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
  const results = await Promise.allSettled(job.claims.map((claim) => sync(access.virtualServices, claim, job.options)));
  return results.map((r) => (r.status === "fulfilled" ? { ok: r.value ?? null } : { error: (r.reason as Error).name, message: (r.reason as Error).message }));
}

/** Runs a job in a child `node` process (see the file comment for why) and resolves to its result. */
export function spawnJob(job: Job, timeoutMs = 60_000): Promise<any> {
  const root = path.resolve(__dirname, "../..");
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", path.join(__dirname, "concurrentWriters.ts"), JSON.stringify(job)],
      { cwd: root, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`concurrentWriters failed: ${stderr.trim() || err.message}`));
        else resolve(JSON.parse(stdout.trim().split("\n").pop()!));
      },
    );
  });
}

if (require.main === module) {
  run(JSON.parse(process.argv[2]) as Job).then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    },
    (err) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
