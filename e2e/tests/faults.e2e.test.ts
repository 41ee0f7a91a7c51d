/**
 * Forks under faults (docs/troubleshooting.md): fork `alice` runs through a fault-injecting proxy
 * (harness/faultProxy.ts) in front of the real API server, as its owner in the fork group, with
 * the real Pulumi CLI and Kubernetes provider.
 *
 * Each scenario asserts the end state in the cluster (nothing of a fork left in a shared object, no
 * route twice, an app team's routes as the team left them) and the time bound; the list, with what
 * each shows, is in docs/e2e.md (`faults`).
 *
 * Self-contained: it brings up its own base stack and destroys it again.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Stack } from "@pulumi/pulumi/automation";
import { isForkRoute } from "../../components/naming";
import { kubeconfigText } from "../harness/cluster";
import { Fault, FaultProxy, startFaultProxy } from "../harness/faultProxy";
import { ensureNamespace, seedShop } from "../harness/fixtures";
import { fakeLoadBalancer } from "../harness/loadBalancer";
import { get, list } from "../harness/objects";
import { call, waitFor } from "../harness/rest";
import { automationDeps } from "../../bin/forkctl/automation";
import { main } from "../../bin/forkctl/cli";
import { e2eProgram, Engine, engine } from "../harness/pulumi";
import { exampleConfigs, forkGroupOf, forkUser, platformTlsSecret } from "../harness/stacks";
import { adminRest, e2eState } from "../harness/state";

const state = e2eState();
const rest = adminRest(state);
const VS = "networking.istio.io/v1";
/** The provider's request timeout for this file, in seconds (70 by default). */
const TIMEOUT_S = 5;

/** Every fork route name in the shop's VirtualServices. */
async function forkRoutes(): Promise<string[]> {
  const all = await list(rest, VS, "VirtualService", "shop");
  return all.flatMap((vs) => (vs.spec.http ?? []).map((r: { name?: string }) => r.name ?? "")).filter(isForkRoute).sort();
}

/** A create or server-side apply of a Deployment in the shop. */
const isDeploymentWrite = (r: { method: string; path: string }) => (r.method === "POST" || r.method === "PATCH") && /\/apis\/apps\/v1\/namespaces\/shop\/deployments(\/|\?|$)/.test(r.path);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("a fork under faults, through a fault-injecting proxy in front of the real API server", { timeout: 900_000 }, () => {
  let eng: Engine;
  let base: Stack;
  let alice: Stack;
  let proxy: FaultProxy;
  let proxyKubeconfig: string;
  let faultOf: (r: { method: string; path: string }) => Fault = () => undefined;
  const quiet = { onOutput: () => undefined };
  const saved = { KUBECONFIG: process.env.KUBECONFIG, PULUMI_K8S_CLIENT_TIMEOUT: process.env.PULUMI_K8S_CLIENT_TIMEOUT };
  // The programs run inline, in this process: when an update's CLI ends early (killed, or failed on
  // a fault), the SDK's inline runtime lets the program's registrations still under way reject after
  // the update, as unhandled rejections (it watches for them only while the program runs; `npx
  // forkctl` runs the program in the language host's own process). Only those are let through.
  const inlineLeftover = (reason: unknown) => reason instanceof Error && /^failed to register new resource .*: \d+ [A-Z_]+: /.test(reason.message);
  const listeners = process.listeners("unhandledRejection");

  /**
   * forkctl's own `main` over the real Automation API, as dev-alice through the proxy, for the base
   * dev. `waits: false` skips forkctl's own waits (the ~10 s before a rerun, lock retries).
   */
  async function forkctl(argv: string[], opts: { waits?: boolean } = {}): Promise<Run> {
    const run: Run = { code: -1, stdout: "", stderr: "" };
    const program = e2eProgram(require("../../index") as () => Promise<Record<string, unknown>>);
    run.code = await main(
      [...argv, "--base", "organization/forkstack/dev"],
      { stdout: (t) => (run.stdout += t), stderr: (t) => (run.stderr += t) },
      (o) => ({
        ...automationDeps(o, { workDir: eng.workDir, pulumiRoot: state.pulumiBinDir, envVars: { ...eng.env, KUBECONFIG: proxyKubeconfig }, program }),
        ...(opts.waits === false ? { sleep: async () => undefined } : {}),
      }),
      { FORKSTACK_BASE: undefined },
    );
    return run;
  }

  before(async () => {
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", (reason, promise) => {
      if (!inlineLeftover(reason)) for (const l of listeners) l(reason, promise);
    });
    await seedShop(rest, "shop");
    await ensureNamespace(rest, "emissary");
    await platformTlsSecret(rest, "emissary");
    const cfg = exampleConfigs();
    eng = await engine(state, cfg);
    const program = require("../../index") as () => Promise<Record<string, unknown>>;
    process.env.KUBECONFIG = state.kubeconfigPath;
    base = await eng.stack("dev", program, { KUBECONFIG: state.kubeconfigPath });
    const stopLb = fakeLoadBalancer(rest, "emissary");
    assert.equal((await base.up(quiet).finally(stopLb)).summary.result, "succeeded");
    // alice's owner, through the proxy: its kubeconfig names the proxy, which forwards as dev-alice.
    forkUser(state, eng.workDir, "dev-alice", forkGroupOf(cfg.dev), rest.ca);
    const pki = path.dirname(state.pki.ca);
    const clientCert = path.join(pki, "client-dev-alice.crt");
    const clientKey = path.join(pki, "client-dev-alice.key");
    proxy = await startFaultProxy({
      upstream: state.server,
      ca: state.pki.ca,
      serverCert: path.join(pki, "apiserver.crt"),
      serverKey: path.join(pki, "apiserver.key"),
      clientCert,
      clientKey,
      fault: (r) => faultOf(r),
    });
    proxyKubeconfig = path.join(eng.workDir, "dev-alice-via-proxy-kubeconfig");
    fs.writeFileSync(proxyKubeconfig, kubeconfigText(proxy.url, state.pki.ca, clientCert, clientKey, "dev-alice"), { mode: 0o600 });
    alice = await eng.stack("alice", program, { KUBECONFIG: proxyKubeconfig });
    // The fork program's own reads and its provider's settings come from this process.
    process.env.KUBECONFIG = proxyKubeconfig;
    process.env.PULUMI_K8S_CLIENT_TIMEOUT = String(TIMEOUT_S);
  });

  after(async () => {
    faultOf = () => undefined;
    process.removeAllListeners("unhandledRejection");
    for (const l of listeners) process.on("unhandledRejection", l);
    try {
      if (alice) await alice.destroy(quiet).catch(() => undefined);
      process.env.KUBECONFIG = state.kubeconfigPath;
      if (base) await base.destroy(quiet);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
      await proxy?.close();
      if (eng) fs.rmSync(eng.workDir, { recursive: true, force: true });
    }
  });

  it("a Deployment apply the server never answers: up fails within the request timeout, then succeeds without the fault", { timeout: 300_000 }, async () => {
    const routesBefore = await forkRoutes();
    // The provider creates with server-side apply (a PATCH of the named object) or a POST.
    faultOf = (r) => (isDeploymentWrite(r) ? "hang" : undefined);
    const started = Date.now();
    const err = await alice.up(quiet).then(
      () => undefined,
      (e: Error) => e,
    );
    const seconds = (Date.now() - started) / 1000;
    faultOf = () => undefined;
    assert.ok(err, "up succeeded although its Deployment create was never answered");
    assert.ok(proxy.requests.some((r) => r.fault === "hang"), "the fault was never hit");
    assert.match(err.message, /Client\.Timeout exceeded|context deadline exceeded|timeout/i);
    // The provider may retry the create; each attempt ends after the timeout, never after minutes.
    assert.ok(seconds < 180, `up took ${seconds} s with a ${TIMEOUT_S} s request timeout`);
    const again = await alice.up(quiet);
    assert.equal(again.summary.result, "succeeded");
    assert.ok(await get(rest, "apps/v1", "Deployment", "shop", "api-alice"));
    assert.deepEqual(await forkRoutes(), [...routesBefore, "forkstack-alice"].sort());
  });

  it("forkctl up whose first Deployment apply is answered 503: it says it runs the update once more, and the fork is up", { timeout: 300_000 }, async () => {
    let failed = 0;
    faultOf = (r) => (isDeploymentWrite(r) && failed++ === 0 ? "503" : undefined);
    // forkctl waits about 10 s before the second run; the test's clock need not wait for it.
    const run = await forkctl(["up", "alice-ci", "--service", "shop/api=registry.example.com/shop/api:ci", "--ttl", "1h", "--no-cluster", "--output", "json"], { waits: false });
    faultOf = () => undefined;
    assert.equal(run.code, 0, run.stderr.split("\n").filter((l) => l.startsWith("forkctl")).join("\n"));
    assert.equal(failed >= 2, true, "the Deployment apply was not sent again");
    assert.match(run.stderr, /^forkctl: up alice-ci failed on a server error \(.*the server is currently unable to handle the request\); running it once more in \d+ s$/m);
    assert.equal(JSON.parse(run.stdout).id, "alice-ci");
    assert.ok(await get(rest, "apps/v1", "Deployment", "shop", "api-alice-ci"));
    const down = await forkctl(["down", "alice-ci"]);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(!(await forkRoutes()).some((r) => r.startsWith("forkstack-alice-ci")));
  });

  it("forkctl up whose pulumi CLI is SIGKILLed mid-update leaves the stack locked; the next forkctl up clears the lock and brings the fork up", { timeout: 300_000 }, async () => {
    const argv = ["up", "alice-k", "--service", "shop/api=registry.example.com/shop/api:k", "--ttl", "1h", "--no-cluster"];
    // The Deployment apply hangs, so the CLI is surely mid-update when it is killed.
    faultOf = (r) => (isDeploymentWrite(r) ? "hang" : undefined);
    // Long enough that the hung apply is still waiting when the CLI is killed.
    process.env.PULUMI_K8S_CLIENT_TIMEOUT = "60";
    let cli: number[];
    try {
      const first = forkctl(argv, { waits: false });
      await waitFor("the Deployment apply to hang", async () => proxy.requests.some((r) => r.fault === "hang" && r.path.includes("alice-k")), 120_000);
      cli = [cliOf("up", "alice-k")];
      process.kill(cli[0], "SIGKILL");
      const killed = await first;
      assert.equal(killed.code, 1, killed.stderr);
    } finally {
      process.env.PULUMI_K8S_CLIENT_TIMEOUT = String(TIMEOUT_S);
      faultOf = () => undefined;
    }
    const again = await forkctl(argv, { waits: false });
    assert.equal(again.code, 0, again.stderr.split("\n").filter((l) => l.startsWith("forkctl") || /error/.test(l)).join("\n"));
    assert.match(again.stderr, new RegExp(`^forkctl: stack alice-k is locked by a run that is gone \\(.*\\(pid ${cli[0]}\\) since .*\\); clearing its lock \\(pulumi cancel\\)$`, "m"));
    assert.ok(await get(rest, "apps/v1", "Deployment", "shop", "api-alice-k"));
    assert.ok((await forkRoutes()).includes("forkstack-alice-k"));
    const down = await forkctl(["down", "alice-k"]);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(!(await forkRoutes()).some((r) => r.startsWith("forkstack-alice-k")));
  });

  /** The pid of the one Pulumi CLI running `verb` for `stack`. */
  function cliOf(verb: "up" | "destroy", stack: string): number {
    const pids = execFileSync("pgrep", ["-f", `pulumi ${verb} .*--stack ${stack}( |$)`], { encoding: "utf8" }).trim().split("\n").map(Number);
    assert.equal(pids.length, 1, `pulumi ${verb} processes of ${stack}: ${pids.join(" ")}`);
    return pids[0];
  }
  const leasePath = "/apis/coordination.k8s.io/v1/namespaces/shop/leases";
  const isVsWrite = (r: { method: string; path: string }) => r.method !== "GET" && /\/virtualservices/.test(r.path);

  it("forkctl down whose CLI is SIGKILLed while it holds the Service's turn: the next down clears the lock, passes over the turn left behind, and leaves nothing of the fork", { timeout: 400_000 }, async () => {
    const up = await forkctl(["up", "alice-d", "--service", "shop/api=registry.example.com/shop/api:d", "--ttl", "1h", "--no-cluster"]);
    assert.equal(up.code, 0, up.stderr);
    // Its VirtualService write hangs: the route write holds the Service's turn while it waits.
    faultOf = (r) => (isVsWrite(r) ? "hang" : undefined);
    let cli: number;
    try {
      const first = forkctl(["down", "alice-d"], { waits: false });
      await waitFor("the VirtualService write to hang", async () => proxy.requests.some((r) => r.fault === "hang" && /\/virtualservices/.test(r.path)), 120_000);
      const turn = await get(rest, "coordination.k8s.io/v1", "Lease", "shop", "forkstack-routes.api");
      assert.match(String(turn?.spec?.holderIdentity), /^alice-d\//, "the turn was not held while the write hung: the scenario did not happen");
      cli = cliOf("destroy", "alice-d");
      process.kill(cli, "SIGKILL");
      assert.equal((await first).code, 1);
    } finally {
      faultOf = () => undefined;
    }
    const started = Date.now();
    const again = await forkctl(["down", "alice-d"], { waits: false });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(again.code, 0, again.stderr.split("\n").filter((l) => l.startsWith("forkctl") || /error/.test(l)).join("\n"));
    assert.match(again.stderr, new RegExp(`^forkctl: stack alice-d is locked by a run that is gone \\(.*\\(pid ${cli!}\\) since .*\\); clearing its lock \\(pulumi cancel\\)$`, "m"));
    // A turn whose holder died is passed over once not renewed for its 15 s; the killed run's
    // provider, if it outlived the CLI, renews for at most the 40 s a turn lasts.
    assert.ok(seconds < 90, `the second down took ${seconds} s`);
    assert.equal(await get(rest, "apps/v1", "Deployment", "shop", "api-alice-d"), undefined);
    assert.ok(!(await forkRoutes()).some((r) => r.startsWith("forkstack-alice-d")), `left: ${await forkRoutes()}`);
  });

  it("forkctl up whose CLI gets Ctrl-C (SIGINT) mid-update: the CLI ends the update and frees the stack; the next up needs no lock cleared", { timeout: 300_000 }, async () => {
    const argv = ["up", "alice-i", "--service", "shop/api=registry.example.com/shop/api:i", "--ttl", "1h", "--no-cluster"];
    faultOf = (r) => (isDeploymentWrite(r) ? "hang" : undefined);
    try {
      const first = forkctl(argv, { waits: false });
      await waitFor("the Deployment apply to hang", async () => proxy.requests.some((r) => r.fault === "hang" && r.path.includes("alice-i")), 120_000);
      process.kill(cliOf("up", "alice-i"), "SIGINT");
      const interrupted = await first;
      assert.equal(interrupted.code, 1, interrupted.stderr);
      assert.equal(interrupted.stderr.split("\n").filter((l) => l.startsWith("forkctl up alice-i: ")).length, 1, interrupted.stderr);
    } finally {
      faultOf = () => undefined;
    }
    const again = await forkctl(argv, { waits: false });
    assert.equal(again.code, 0, again.stderr.split("\n").filter((l) => l.startsWith("forkctl") || /error/.test(l)).join("\n"));
    assert.doesNotMatch(again.stderr, /locked|clearing its lock/);
    assert.ok((await forkRoutes()).includes("forkstack-alice-i"));
    assert.equal((await forkctl(["down", "alice-i"])).code, 0);
    assert.ok(!(await forkRoutes()).some((r) => r.startsWith("forkstack-alice-i")));
  });

  it("an app team edits its VirtualService while the fork's writes there are answered 503: the edit stays, the fork's route lands once on top, and leaving gives the edited spec back", { timeout: 300_000 }, async () => {
    const app = { apiVersion: VS, kind: "VirtualService", metadata: { name: "cart", namespace: "shop" }, spec: { hosts: ["cart"], http: [{ name: "app", timeout: "5s", route: [{ destination: { host: "cart" } }] }] } };
    await call(rest, "POST", `/apis/${VS}/namespaces/shop/virtualservices`, app);
    const canary = { name: "app-canary", match: [{ headers: { "x-canary": { exact: "1" } } }], route: [{ destination: { host: "cart" } }] };
    // The team's edit starts at the fork's first write there; the fork's writes answer 503 until it has landed.
    let edit: Promise<unknown> | undefined;
    let edited = false;
    faultOf = (r) => {
      if (!isVsWrite(r) || !r.path.includes("/virtualservices/cart")) return undefined;
      edit ??= call(rest, "PATCH", `/apis/${VS}/namespaces/shop/virtualservices/cart`, [{ op: "add", path: "/spec/http/-", value: canary }, { op: "replace", path: "/spec/http/0/timeout", value: "7s" }], { contentType: "application/json-patch+json" }).then(() => (edited = true));
      return edited ? undefined : "503";
    };
    try {
      const run = await forkctl(["up", "alice-e", "--service", "shop/cart=registry.example.com/shop/cart:e", "--ttl", "1h", "--no-cluster"]);
      assert.equal(run.code, 0, run.stderr.split("\n").filter((l) => l.startsWith("forkctl") || /error/.test(l)).join("\n"));
    } finally {
      faultOf = () => undefined;
    }
    try {
      assert.ok(edited && proxy.requests.some((r) => r.fault === "503" && r.path.includes("/virtualservices/cart")), "the 503 and the team's edit did not happen");
      // The fork's routes follow the app's as edited: one per app route (the canary's match and the
      // default), each with the fork header, on top; the app's routes as the team left them.
      const during = await get(rest, VS, "VirtualService", "shop", "cart");
      assert.deepEqual(during?.spec.http.map((r: { name: string }) => r.name), ["forkstack-alice-e", "forkstack-alice-e--1", "app", "app-canary"]);
      assert.deepEqual(during?.spec.http.slice(2), [{ ...app.spec.http[0], timeout: "7s" }, canary]);
      assert.equal((await forkctl(["down", "alice-e"])).code, 0);
      const after = await get(rest, VS, "VirtualService", "shop", "cart");
      assert.deepEqual(after?.spec.http, [{ ...app.spec.http[0], timeout: "7s" }, canary]);
    } finally {
      await forkctl(["down", "alice-e"]);
      await call(rest, "DELETE", `/apis/${VS}/namespaces/shop/virtualservices/cart`);
    }
  });

  it("the API server unreachable for 6 s during forkctl up (a restart): the fork comes up all the same", { timeout: 300_000 }, async () => {
    const seen = proxy.requests.length;
    const up = forkctl(["up", "alice-r", "--service", "shop/api=registry.example.com/shop/api:r", "--ttl", "1h", "--no-cluster"]);
    // The restart begins with the update's first write to the cluster.
    await waitFor("the update's first write", async () => proxy.requests.slice(seen).some((r) => r.method !== "GET"), 120_000);
    await proxy.unavailableFor(6000);
    const run = await up;
    assert.equal(run.code, 0, run.stderr.split("\n").filter((l) => l.startsWith("forkctl") || /error/.test(l)).join("\n"));
    assert.ok(await get(rest, "apps/v1", "Deployment", "shop", "api-alice-r"));
    assert.ok((await forkRoutes()).includes("forkstack-alice-r"));
    const down = await forkctl(["down", "alice-r"]);
    assert.equal(down.code, 0, down.stderr);
  });

  it("every VirtualService write answered 503 while alice leaves: destroy fails saying what may be left; the next destroy removes it", { timeout: 600_000 }, async () => {
    // bob's route keeps the VirtualService shared, so alice leaves by retiring hers and removing it.
    const bobRoute = { name: "forkstack-bob", match: [{ headers: { "x-fork-identifier": { exact: "bob" } } }], route: [{ destination: { host: "api-bob.shop.svc.cluster.local" } }] };
    const [vs] = (await list(rest, VS, "VirtualService", "shop")).filter((v) => (v.spec.http ?? []).some((r: { name?: string }) => r.name === "forkstack-alice"));
    assert.ok(vs, "alice has no route");
    await call(rest, "PATCH", `/apis/${VS}/namespaces/shop/virtualservices/${vs.metadata.name}`, [{ op: "add", path: "/spec/http/0", value: bobRoute }], { contentType: "application/json-patch+json" });
    let renamed = false;
    faultOf = (r) => {
      if (!/\/virtualservices\//.test(r.path) || r.method === "GET") return undefined;
      // The retiring rename goes through; every write after it (the removal) answers 503.
      if (!renamed) {
        renamed = true;
        return undefined;
      }
      return "503";
    };
    const err = await alice.destroy(quiet).then(
      () => undefined,
      (e: Error) => e,
    );
    faultOf = () => undefined;
    assert.ok(err, "destroy succeeded although every removal answered 503");
    assert.match(err.message, /fork alice's routes may be left in the Service's VirtualService \(retired ones, forkstack-alice--gone, match only its own header\); the next pulumi up or destroy of the fork removes them/);
    assert.ok((await forkRoutes()).includes("forkstack-alice--gone"), "the retired route is not there: the scenario did not happen");
    await alice.destroy(quiet);
    assert.deepEqual(await forkRoutes(), ["forkstack-bob"]);
    // Leave the VirtualService as the base made it.
    const [after] = (await list(rest, VS, "VirtualService", "shop")).filter((v) => (v.spec.http ?? []).some((r: { name?: string }) => r.name === "forkstack-bob"));
    const at = (after.spec.http as { name?: string }[]).findIndex((r) => r.name === "forkstack-bob");
    await call(rest, "PATCH", `/apis/${VS}/namespaces/shop/virtualservices/${after.metadata.name}`, [{ op: "remove", path: `/spec/http/${at}` }], { contentType: "application/json-patch+json" });
  });

  it("alice's first write to the shared VirtualService applied but its answer lost: up succeeds, her route is there once", { timeout: 300_000 }, async () => {
    let lost = 0;
    faultOf = (r) => (r.method !== "GET" && /\/virtualservices/.test(r.path) && lost++ === 0 ? "lose-answer" : undefined);
    try {
      assert.equal((await alice.up(quiet)).summary.result, "succeeded");
    } finally {
      faultOf = () => undefined;
    }
    assert.ok(proxy.requests.some((r) => r.fault === "lose-answer"), "the fault was never hit");
    assert.deepEqual((await forkRoutes()).filter((r) => r === "forkstack-alice"), ["forkstack-alice"]);
    await alice.destroy(quiet);
    assert.ok(!(await forkRoutes()).some((r) => r.startsWith("forkstack-alice")));
  });

  it("a turn Lease held and renewed by a stuck job: alice's up passes over it within a minute and its route lands", { timeout: 300_000 }, async () => {
    // The stuck job: holds forkstack-routes.api with one acquireTime and renews it every 5 s, forever.
    const now = () => new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
    const acquired = now();
    const stuck = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "forkstack-routes.api" }, spec: { holderIdentity: "ci-stuck/0000", leaseDurationSeconds: 15, acquireTime: acquired, renewTime: acquired } };
    await call(rest, "POST", leasePath, stuck);
    let renewals = 0;
    const renew = setInterval(() => {
      call(rest, "GET", `${leasePath}/forkstack-routes.api`)
        .then((live: any) => (live.spec.holderIdentity === "ci-stuck/0000" ? call(rest, "PUT", `${leasePath}/forkstack-routes.api`, { ...live, spec: { ...live.spec, renewTime: now() } }).then(() => renewals++) : undefined))
        .catch(() => undefined);
    }, 5000);
    const started = Date.now();
    try {
      const res = await alice.up(quiet);
      assert.equal(res.summary.result, "succeeded");
    } finally {
      clearInterval(renew);
    }
    const seconds = (Date.now() - started) / 1000;
    assert.ok(renewals >= 3, `the stuck job renewed its Lease only ${renewals} times`);
    // 40 s of a turn at most, then the write: well under the 5 minutes a waiter used to wait.
    assert.ok(seconds < 90, `up took ${seconds} s behind a stuck turn`);
    assert.ok((await forkRoutes()).includes("forkstack-alice"));
    await alice.destroy(quiet);
    await call(rest, "DELETE", `${leasePath}/forkstack-routes.api`).catch(() => undefined);
  });
});
