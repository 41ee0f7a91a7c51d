/**
 * forkctl's failures with the real Pulumi CLI (docs/forkctl.md "Exit codes and errors"): each
 * Pulumi failure a new user meets — no CLI on PATH, not logged in, no passphrase, the Node.js
 * language plugin missing — is reported as its real cause and fix in one line, with exit code 1,
 * and leaves no stack and no file behind. A stack of another project in the same backend is out of
 * forkctl's reach: its qualified name is refused (exit 2) and the bare name never selects it.
 *
 * No cluster is needed: every run is `--no-cluster` or fails before the program would run. The
 * program runs inline (as in forkctl.e2e.test.ts) except where the missing language plugin is the
 * point: there forkctl runs the project folder's program through the CLI, as `npx forkctl` does.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { automationDeps, AutomationOptions } from "../../bin/forkctl/automation";
import { main } from "../../bin/forkctl/cli";
import { e2eProgram, Engine, engine } from "../harness/pulumi";
import { exampleConfigs } from "../harness/stacks";
import { e2eState } from "../harness/state";

const state = e2eState();
const BASE = "organization/forkstack/dev";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("forkctl's Pulumi failures with the real CLI: the cause and its fix in one line, nothing left behind", { timeout: 600_000 }, () => {
  let eng: Engine;
  let other: Stack;
  let otherDir: string;
  const program = e2eProgram(require("../../index") as () => Promise<Record<string, unknown>>);

  /** forkctl's `main` over the real Automation API backend, with `env` in place of the engine's and `backend` options over the defaults. */
  async function forkctl(env: Record<string, string>, backend: Partial<AutomationOptions>, ...argv: string[]): Promise<Run> {
    let stdout = "";
    let stderr = "";
    const code = await main(
      argv,
      { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
      (opts) => automationDeps(opts, { workDir: eng.workDir, pulumiRoot: state.pulumiBinDir, envVars: env, program, ...backend }),
      { FORKSTACK_BASE: undefined },
    );
    return { code, stdout, stderr };
  }

  const without = (...keys: string[]) => Object.fromEntries(Object.entries(eng.env).filter(([k]) => !keys.includes(k)));
  /** This project's stacks in the engine's backend, as the CLI lists them. */
  const stacks = async () => (await (await LocalWorkspace.create({ workDir: eng.workDir, envVars: eng.env, pulumiCommand: await pulumiCommand() })).listStacks()).map((s) => s.name).sort();
  const pulumiCommand = async () => (await import("@pulumi/pulumi/automation")).PulumiCommand.get({ root: state.pulumiBinDir!, skipVersionCheck: true });
  const files = () => fs.readdirSync(eng.workDir).sort();

  /**
   * The run failed with exit code 1 and one line of forkctl's, which `line` matches, and returns it.
   * Other stderr lines are the engine's progress (`Updating (pr-22):`), as a user sees it.
   */
  function failedWith(run: Run, line: RegExp): string {
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, "");
    const ours = run.stderr.split("\n").filter((l) => l.startsWith("forkctl"));
    assert.equal(ours.length, 1, run.stderr);
    assert.match(ours[0], line);
    assert.doesNotMatch(run.stderr, /code: -2|CommandError|PULUMI_CONFIG_PASSPHRASE=|at .*\.ts:\d+/);
    return ours[0];
  }

  before(async () => {
    eng = await engine(state, { dev: exampleConfigs().dev });
    // A stack of another project, `web`, in the same backend, with one finished update and a tag.
    otherDir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-e2e-web-"));
    fs.writeFileSync(path.join(otherDir, "Pulumi.yaml"), "name: web\nruntime: nodejs\n");
    other = await LocalWorkspace.createOrSelectStack(
      { stackName: "web", projectName: "web", program: async () => ({ replicas: 2 }) },
      { workDir: otherDir, envVars: eng.env, pulumiCommand: await pulumiCommand(), secretsProvider: "passphrase" },
    );
    await other.setTag("team", "web");
    assert.equal((await other.up({ onOutput: () => undefined })).summary.result, "succeeded");
  });

  after(() => {
    for (const dir of [eng?.workDir, otherDir]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("no Pulumi CLI on PATH", async () => {
    const saved = process.env.PATH;
    // Only node's own folder: no `pulumi` anywhere on PATH, for forkctl or the CLI it would start.
    process.env.PATH = path.dirname(process.execPath);
    try {
      const run = await forkctl({ ...eng.env, PATH: process.env.PATH }, { pulumiRoot: undefined }, "up", "pr-20", "--header", "x-feature-flags=beta", "--ttl", "1h", "--base", BASE, "--no-cluster");
      failedWith(run, /^forkctl up pr-20: the Pulumi CLI is not on PATH \(.*ENOENT.*\); install it \(https:\/\/www\.pulumi\.com\/docs\/iac\/download-install\/\) or put its folder on PATH$/);
    } finally {
      process.env.PATH = saved;
    }
    assert.deepEqual(await stacks(), []);
  });

  it("not logged in to any backend", async () => {
    // A fresh PULUMI_HOME without credentials, no PULUMI_BACKEND_URL: the CLI's non-interactive login refusal.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-e2e-home-"));
    try {
      const run = await forkctl({ ...without("PULUMI_BACKEND_URL"), PULUMI_HOME: home }, {}, "ls");
      failedWith(run, /^forkctl ls: not logged in to a Pulumi backend \(PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions\); set PULUMI_ACCESS_TOKEN for Pulumi Cloud, or PULUMI_BACKEND_URL/);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it("no passphrase for a new fork's secrets: no stack is created", async () => {
    const before = files();
    const run = await forkctl(without("PULUMI_CONFIG_PASSPHRASE"), {}, "up", "pr-21", "--header", "x-feature-flags=beta", "--ttl", "1h", "--base", BASE, "--no-cluster");
    failedWith(run, /^forkctl up pr-21: no passphrase for the stack's secrets \(.*passphrase must be set with PULUMI_CONFIG_PASSPHRASE.*\); set PULUMI_CONFIG_PASSPHRASE/);
    assert.deepEqual(await stacks(), []);
    assert.deepEqual(files(), before);
  });

  it("the Node.js language plugin missing: the fork is listed as failed with that line, and down removes it", async () => {
    const before = files();
    // The project folder's own program through the CLI (no inline program), as `npx forkctl` runs it;
    // the CLI built here has no pulumi-language-nodejs next to it, and PATH has none either.
    const run = await forkctl(eng.env, { program: undefined }, "up", "pr-22", "--header", "x-feature-flags=beta", "--ttl", "1h", "--base", BASE, "--no-cluster");
    const line = failedWith(run, /^forkctl up pr-22: the Pulumi Node\.js language plugin is missing \(.*pulumi-language-nodejs.*\); install the Pulumi CLI from its release archive/);
    assert.deepEqual(files(), before);
    const ls = await forkctl(eng.env, {}, "ls", "--output", "json");
    assert.equal(ls.code, 0, ls.stderr);
    const [failed] = JSON.parse(ls.stdout);
    assert.equal(failed.id, "pr-22");
    assert.equal(failed.state, "failed");
    // The record keeps what went wrong and the fix within a tag value's 256 characters.
    assert.equal(failed.error, line.replace("forkctl up pr-22: ", "").replace(/ \(failed to load language plugin nodejs: [^)]*\)/, ""));
    assert.ok(failed.error.length <= 256, failed.error);
    const down = await forkctl(eng.env, {}, "down", "pr-22");
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await stacks(), []);
    assert.deepEqual(files(), before);
  });

  it("a lock left by a run on this machine that is gone: down clears it (the real pulumi cancel) and goes on", async () => {
    // A fork whose first update failed (as above), then locked as a SIGKILLed pulumi run leaves it:
    // the self-managed backend's lock file, naming this machine and a pid that has ended.
    await forkctl(eng.env, { program: undefined }, "up", "pr-23", "--header", "x-feature-flags=beta", "--ttl", "1h", "--base", BASE, "--no-cluster");
    const gone = spawnSync(process.execPath, ["-e", ""]).pid!;
    const locks = path.join(eng.env.PULUMI_BACKEND_URL.replace("file://", ""), ".pulumi", "locks", "organization", "forkstack", "pr-23");
    fs.mkdirSync(locks, { recursive: true });
    fs.writeFileSync(path.join(locks, "7c0ffee0-0000-4000-8000-000000000000.json"), JSON.stringify({ pid: gone, username: "ci", hostname: os.hostname(), timestamp: "2026-12-01T09:59:00Z" }));
    const down = await forkctl(eng.env, {}, "down", "pr-23");
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, new RegExp(`^forkctl: stack pr-23 is locked by a run that is gone \\(ci@${os.hostname().replace(/[.]/g, "\\.")} \\(pid ${gone}\\) since 2026-12-01T09:59:00Z\\); clearing its lock \\(pulumi cancel\\)$`, "m"));
    assert.deepEqual(await stacks(), []);
    assert.equal(fs.existsSync(locks) ? fs.readdirSync(locks).length : 0, 0);
  });

  it("a stack of another project is out of reach: its qualified name is refused, the bare name never selects it", async () => {
    const before = { history: await other.history(), tags: await other.listTags(), outputs: await other.outputs(), config: fs.readdirSync(otherDir).sort() };
    const refused = await forkctl(eng.env, {}, "down", "organization/web/web");
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.stderr.trimEnd().split("\n").length, 1, refused.stderr);
    assert.match(refused.stderr, /^forkctl: <id>: "organization\/web\/web" /);
    // `web` names this project's stack organization/forkstack/web, which does not exist.
    const down = await forkctl(eng.env, {}, "down", "web", "--output", "json");
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(JSON.parse(down.stdout), { id: "web", removed: false });
    const extend = await forkctl(eng.env, {}, "extend", "web", "--ttl", "1h", "--no-cluster");
    assert.equal(extend.code, 1, extend.stderr);
    assert.match(extend.stderr, /^forkctl extend web: fork web has no forkctl update to extend /);
    assert.deepEqual(await stacks(), []);
    assert.deepEqual({ history: await other.history(), tags: await other.listTags(), outputs: await other.outputs(), config: fs.readdirSync(otherDir).sort() }, before);
  });
});
