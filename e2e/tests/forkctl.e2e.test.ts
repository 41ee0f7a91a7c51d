/**
 * forkctl (docs/forkctl.md) with the real Pulumi CLI, a `file://` backend and the e2e API server,
 * run as a developer in the base's fork group: `up` (twice — the second is "no changes" and keeps
 * the expiry stamped by the first), a header-only fork, `down`, `up` and `extend` of the base refused (exit 2,
 * the base stack and its Pulumi.dev.yaml unchanged), a fork whose first update fails (listed as
 * failed, collected by gc), `ls`, `gc --dry-run` and `gc` with expired forks and one not (sweeping
 * a gone fork's retired route from an app team's VirtualService through the fork role), and `down`
 * (twice — the second finds no stack and succeeds); no file is left in the project folder.
 *
 * What runs is forkctl's own: bin/forkctl/cli.ts `main` (arguments, output, exit codes) over
 * `automationDeps` (the Automation API backend and the live cluster view through client-node).
 * Two things differ from `npx forkctl`, both said in docs/e2e.md: the program runs inline
 * (`AutomationOptions.program`, the real index.ts) because the Node.js language host cannot be built
 * here, and forkctl's clock is the test's, so that a fork can expire without waiting an hour.
 *
 * Self-contained: it brings up its own base stack and destroys it again, so the files after it
 * (pulumi.e2e.test.ts) start from the same cluster as without it.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import type { Stack } from "@pulumi/pulumi/automation";
import { automationDeps } from "../../bin/forkctl/automation";
import { main } from "../../bin/forkctl/cli";
import { isoSeconds } from "../../bin/forkctl/commands";
import { routeName } from "../../components/naming";
import { ensureNamespace, seedShop } from "../harness/fixtures";
import { fakeLoadBalancer } from "../harness/loadBalancer";
import { get, list } from "../harness/objects";
import { e2eProgram, Engine, engine } from "../harness/pulumi";
import { request, waitFor } from "../harness/rest";
import { exampleConfigs, forkGroupOf, ForkUser, forkUser, platformTlsSecret } from "../harness/stacks";
import { adminRest, e2eState } from "../harness/state";

const state = e2eState();
const rest = adminRest(state);
const BASE = "organization/forkstack/dev";
const VS = "networking.istio.io/v1";
const CATALOG_IMAGE = "registry.example.com/shop/catalog:pr-7";
const HOUR = 3_600_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The VirtualServices of `namespace` that hold a route of fork `id`. */
async function routesOf(id: string, namespace = "shop"): Promise<string[]> {
  const all = await list(rest, VS, "VirtualService", namespace);
  return all.filter((vs) => (vs.spec.http ?? []).some((r: any) => r.name === routeName(id))).map((vs) => vs.metadata.name);
}

describe("forkctl up / ls / gc / down with the real Pulumi CLI and a file:// backend", { timeout: 900_000 }, () => {
  let eng: Engine;
  let base: Stack;
  let user: ForkUser;
  /** forkctl's clock: the tests move it forward to make a fork expire. */
  const t0 = new Date(Math.floor(Date.now() / 1000) * 1000);
  let now = t0;

  async function forkctl(...argv: string[]): Promise<Run> {
    let stdout = "";
    let stderr = "";
    // The fork program's own reads (preflight) run in this process and use $KUBECONFIG, as the CLI does.
    process.env.KUBECONFIG = user.kubeconfig;
    const program = e2eProgram(require("../../index") as () => Promise<Record<string, unknown>>);
    const code = await main(
      argv,
      { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
      (opts) => ({
        ...automationDeps(opts, { workDir: eng.workDir, pulumiRoot: state.pulumiBinDir, envVars: { ...eng.env, KUBECONFIG: user.kubeconfig }, program }),
        now: () => now,
      }),
      { FORKSTACK_BASE: undefined },
    );
    return { code, stdout, stderr };
  }

  /** The project folder's files (forkctl must leave none behind), and what they were before the first forkctl. */
  const projectFiles = () => fs.readdirSync(eng.workDir).sort();
  let initialFiles: string[];
  let restoreRejections = () => {};

  const json = (run: Run) => {
    assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr.split("\n").slice(-15).join("\n")}`);
    return JSON.parse(run.stdout);
  };

  before(async () => {
    await seedShop(rest, "shop");
    await ensureNamespace(rest, "emissary");
    await platformTlsSecret(rest, "emissary");
    const cfg = exampleConfigs();
    // A price per vCPU-hour and GiB-hour, so that the report carries one.
    const dev = parse(cfg.dev);
    dev.config["forkstack:pricing"] = { vcpuHour: 0.05, gibHour: 0.01, currency: "USD" };
    eng = await engine(state, { dev: stringify(dev) });
    // CI owns every pr-* fork through its group (examples/Pulumi.dev.yaml forkstack:forkAccess.owners).
    user = forkUser(state, eng.workDir, "ci-pipeline", [forkGroupOf(cfg.dev), "forkstack-ci"], rest.ca);
    process.env.KUBECONFIG = state.kubeconfigPath;
    base = await eng.stack("dev", require("../../index") as () => Promise<Record<string, unknown>>, { KUBECONFIG: state.kubeconfigPath });
    const stopLb = fakeLoadBalancer(rest, "emissary");
    const res = await base.up({ onOutput: () => undefined }).finally(stopLb);
    assert.equal(res.summary.result, "succeeded");
    // The authorizer sees the base's new RoleBindings through its informer, a moment after the write.
    initialFiles = projectFiles();
    await waitFor("the fork role to take effect", async () => (await request(user.rest, "GET", `/apis/${VS}/namespaces/shop/virtualservices`)).status === 200, 10_000);
  });

  after(async () => {
    restoreRejections();
    process.env.KUBECONFIG = state.kubeconfigPath;
    try {
      if (base) await base.destroy({ onOutput: () => undefined });
    } finally {
      if (eng) fs.rmSync(eng.workDir, { recursive: true, force: true });
    }
  });

  it("up creates the fork, prints its URL, copy, expiry, cost and hop table, and stamps the expiry", { timeout: 300_000 }, async () => {
    const r = json(await forkctl("up", "pr-7", "--service", `shop/catalog=${CATALOG_IMAGE}`, "--env", "shop/catalog:PODINFO_UI_MESSAGE=catalog from pr-7", "--ttl", "1h", "--base", BASE, "--output", "json"));
    assert.equal(r.id, "pr-7");
    assert.equal(r.state, "ok");
    assert.equal(r.changed, true);
    assert.deepEqual(r.urls, { "shop.dev.example.com": "https://pr-7.shop.dev.example.com/" });
    assert.deepEqual(r.copies.map((c: any) => [c.service, c.image]), [["catalog.shop", CATALOG_IMAGE]]);
    assert.equal(r.expiresAt, isoSeconds(new Date(t0.getTime() + HOUR)));
    // The copy of catalog requests what the shared one does (examples/cluster/shop.yaml): 10m, 32Mi.
    assert.equal(r.cost.pods, 1);
    assert.equal(r.cost.cpu, 0.01);
    assert.equal(r.cost.memoryGiB, 32 / 1024);
    assert.ok(Math.abs(r.cost.pricePerHour.amount - (0.01 * 0.05 + (32 / 1024) * 0.01)) < 1e-9, JSON.stringify(r.cost));
    assert.match(r.explained, /frontend/);
    // What the API server holds now, read as admin.
    const copy = (r.copies[0].copy as string).split(".");
    const deployment = await get(rest, "apps/v1", "Deployment", copy[1], copy[0]);
    assert.ok(deployment, `no Deployment ${r.copies[0].copy}`);
    assert.equal(deployment.spec.template.spec.containers[0].image, CATALOG_IMAGE);
    assert.deepEqual(await routesOf("pr-7"), ["forkstack-catalog"]);
  });

  it("the same up again is 'no changes' and keeps the expiry stamped at creation", { timeout: 300_000 }, async () => {
    now = new Date(t0.getTime() + 10 * 60_000);
    const run = await forkctl("up", "pr-7", "--service", `shop/catalog=${CATALOG_IMAGE}`, "--env", "shop/catalog:PODINFO_UI_MESSAGE=catalog from pr-7", "--ttl", "1h", "--base", BASE, "--no-cluster");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^fork pr-7: no changes$/m);
    assert.match(run.stdout, new RegExp(`expires: ${isoSeconds(new Date(t0.getTime() + HOUR))} \\(in 1 h\\)`));
  });

  it("a header-only fork with a longer ttl copies nothing", { timeout: 300_000 }, async () => {
    const r = json(await forkctl("up", "pr-8", "--header", "x-feature-flags=beta", "--ttl", "7d", "--base", BASE, "--output", "json", "--no-cluster"));
    assert.deepEqual(r.copies, []);
    assert.deepEqual(r.urls, { "shop.dev.example.com": "https://pr-8.shop.dev.example.com/" });
    assert.deepEqual(await routesOf("pr-8"), []);
  });

  it("down, up and extend of the base stack are refused with exit code 2, the base and its Pulumi.dev.yaml unchanged", { timeout: 300_000 }, async () => {
    const configFile = path.join(eng.workDir, "Pulumi.dev.yaml");
    const before = { config: fs.readFileSync(configFile, "utf8"), history: await base.history(), outputs: await base.outputs(), tags: await base.listTags() };
    const runs = [
      ["down", "dev"],
      ["up", "dev", "--header", "x-feature-flags=beta", "--base", BASE],
      ["extend", "dev", "--ttl", "24h", "--base", BASE],
      // Named as another base's fork would be: the stack itself says it is no fork.
      ["up", "dev", "--header", "x-feature-flags=beta", "--base", "organization/forkstack/staging", "--no-cluster"],
      ["down", "dev", "--base", "organization/forkstack/staging"],
      // A fork of this base, named with another: refused by its tags and config, read from the backend.
      ["down", "pr-8", "--base", "organization/forkstack/staging"],
    ];
    for (const argv of runs) {
      const run = await forkctl(...argv);
      assert.equal(run.code, 2, `${argv.join(" ")}: exit ${run.code}: ${run.stderr}`);
      assert.equal(run.stdout, "");
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    }
    assert.match((await forkctl("down", "dev")).stderr, /^forkctl: <id>: "dev" is the base stack organization\/forkstack\/dev, not a fork; /);
    assert.match((await forkctl("down", "dev", "--base", "organization/forkstack/staging")).stderr, /^forkctl: <id>: "dev" is a stack without fork config .*, not a fork; /);
    assert.match((await forkctl("down", "pr-8", "--base", "organization/forkstack/staging")).stderr, /^forkctl: <id>: "pr-8" is a fork of organization\/forkstack\/dev, not of organization\/forkstack\/staging; pass --base organization\/forkstack\/dev/);
    assert.equal(fs.readFileSync(configFile, "utf8"), before.config);
    assert.deepEqual(await base.history(), before.history);
    assert.deepEqual(await base.outputs(), before.outputs);
    assert.deepEqual(await base.listTags(), before.tags);
    assert.deepEqual((await forkctl("ls", "--output", "json")).stdout.includes('"pr-8"'), true);
  });

  it("a fork whose first up fails says why in one line, leaves no file, and is listed as failed with that line", { timeout: 300_000 }, async () => {
    // Here the program runs inline, in this process: when it throws, the SDK's inline runtime lets
    // the same refusal escape as unhandled rejections after the update (it watches for them only
    // while the program runs). `npx forkctl` runs the program in the language host's own process,
    // where the CLI reports it. Only that refusal is let through; anything else still fails the file.
    const refusalOfPr9 = (reason: unknown) => reason instanceof Error && reason.message.startsWith('stack pr-9: forkstack:fork.services[0].name: "nope.shop" is not a Service');
    const listeners = process.listeners("unhandledRejection");
    process.removeAllListeners("unhandledRejection");
    process.on("unhandledRejection", (reason, promise) => {
      if (!refusalOfPr9(reason)) for (const l of listeners) l(reason, promise);
    });
    restoreRejections = () => {
      process.removeAllListeners("unhandledRejection");
      for (const l of listeners) process.on("unhandledRejection", l);
    };
    const run = await forkctl("up", "pr-9", "--service", "shop/nope=registry.example.com/shop/nope:1", "--ttl", "1h", "--base", BASE, "--no-cluster");
    assert.equal(run.code, 1, run.stderr);
    const ours = run.stderr.split("\n").filter((l) => l.startsWith("forkctl"));
    assert.equal(ours.length, 1, run.stderr);
    assert.match(ours[0], /^forkctl up pr-9: stack pr-9: forkstack:fork\.services\[0\]\.name: "nope\.shop" is not a Service in the shared cluster; /);
    assert.doesNotMatch(run.stderr, /code: -2/);
    assert.deepEqual(projectFiles(), initialFiles);
    const [failed] = json(await forkctl("ls", "--output", "json")).filter((f: any) => f.id === "pr-9");
    assert.equal(failed.state, "failed");
    assert.equal(failed.error, ours[0].replace("forkctl up pr-9: ", ""));
    assert.equal(failed.expiresAt, isoSeconds(new Date(now.getTime() + HOUR)));
  });

  it("ls lists the forks (and not the base stack) with their expiry, last update and state", async () => {
    const forks = json(await forkctl("ls", "--output", "json"));
    assert.deepEqual(
      forks.map((f: any) => [f.id, f.state, f.expiresAt]),
      [
        ["pr-7", "ok", isoSeconds(new Date(t0.getTime() + HOUR))],
        ["pr-8", "ok", isoSeconds(new Date(t0.getTime() + 10 * 60_000 + 7 * 24 * HOUR))],
        ["pr-9", "failed", isoSeconds(new Date(t0.getTime() + 10 * 60_000 + HOUR))],
      ],
    );
    for (const f of forks.filter((f: any) => f.state === "ok")) assert.ok(!Number.isNaN(Date.parse(f.lastUpdate)), `${f.id}: lastUpdate ${f.lastUpdate}`);
  });

  /**
   * What a leave that could not finish its removal leaves when no fork writes there again
   * (fork/routePatch.ts): the retired route of pr-3, a fork with no stack, above the app team's
   * route in cart's VirtualService. Written as the admin.
   */
  const appCart = {
    apiVersion: VS,
    kind: "VirtualService",
    metadata: { name: "cart", namespace: "shop" },
    spec: {
      hosts: ["cart"],
      http: [
        { name: `${routeName("pr-3")}--gone`, match: [{ headers: { "x-fork-identifier": { exact: "pr-3" } } }], route: [{ destination: { host: "cart-pr-3.shop.svc.cluster.local" } }] },
        { name: "app", timeout: "5s", route: [{ destination: { host: "cart" } }] },
      ],
    },
  };
  const cartRoutes = async () => ((await get(rest, VS, "VirtualService", "shop", "cart"))?.spec.http ?? []).map((r: any) => r.name);
  const swept = { swept: [{ virtualService: "shop/cart", routes: ["forkstack-pr-3--gone"] }], failed: [] };

  it("gc --dry-run two hours later names the expired forks, the failed one too, and a gone fork's retired route, and changes nothing", async () => {
    const created = await request(rest, "POST", `/apis/${VS}/namespaces/shop/virtualservices`, appCart);
    assert.equal(created.status, 201, created.body);
    now = new Date(t0.getTime() + 2 * HOUR);
    const r = json(await forkctl("gc", "--dry-run", "--output", "json"));
    assert.deepEqual(r, { dryRun: true, removed: ["pr-7", "pr-9"], failed: [], kept: ["pr-8"], sweep: swept });
    assert.equal((await routesOf("pr-7")).length, 1);
    assert.deepEqual(await cartRoutes(), ["forkstack-pr-3--gone", "app"]);
  });

  it("gc destroys the expired forks — pr-7's copy and its route, and the failed pr-9 — keeps the other, and sweeps pr-3's retired route as the CI user", { timeout: 300_000 }, async () => {
    const r = json(await forkctl("gc", "--output", "json"));
    assert.deepEqual(r, { dryRun: false, removed: ["pr-7", "pr-9"], failed: [], kept: ["pr-8"], sweep: swept });
    // Through the fork role's policy (removing a retired route is anyone's to do); the app's route stays as it was.
    const cart = await get(rest, VS, "VirtualService", "shop", "cart");
    assert.deepEqual(cart?.spec.http, [appCart.spec.http[1]]);
    assert.equal((await request(rest, "DELETE", `/apis/${VS}/namespaces/shop/virtualservices/cart`)).status, 200);
    assert.equal(await get(rest, "apps/v1", "Deployment", "shop", "catalog-pr-7"), undefined);
    assert.deepEqual(await routesOf("pr-7"), []);
    const forks = json(await forkctl("ls", "--output", "json"));
    assert.deepEqual(forks.map((f: any) => f.id), ["pr-8"]);
  });

  it("down destroys and removes a fork; down of a fork that is gone succeeds and says so", { timeout: 300_000 }, async () => {
    assert.deepEqual(json(await forkctl("down", "pr-8", "--output", "json")), { id: "pr-8", removed: true });
    const again = await forkctl("down", "pr-8");
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), "fork pr-8: no such stack, nothing to do");
    assert.equal((await forkctl("ls")).stdout.trim(), "no forks");
    const mappings = await list(rest, "getambassador.io/v3alpha1", "Mapping", "emissary");
    assert.deepEqual(mappings.filter((m) => /pr-[789]/.test(m.spec.hostname ?? "")).map((m) => m.metadata.name), []);
    // Nothing forkctl did left a file in the project folder (no Pulumi.pr-*.yaml).
    assert.deepEqual(projectFiles(), initialFiles);
  });
});
