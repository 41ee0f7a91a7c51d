/**
 * forkctl's real Automation API path, with a stand-in `pulumi` executable
 * (test/fixtures/bin/pulumi-stub.js) that records what it is asked: the project folder is the
 * program, the fork contract reaches `pulumi up` in a config file of its own (never the checkout's),
 * forkctl's tags mark the fork, a locked stack surfaces as StackLockedError, a stack that is not a
 * fork of the base is refused with nothing changed, and a fork whose first update failed is listed
 * and collected.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { StackLockedError } from "../../bin/forkctl/backend";
import { AutomationBackend, PROJECT_ROOT } from "../../bin/forkctl/automation";
import { main } from "../../bin/forkctl/cli";

let dir: string;
let backend: AutomationBackend;
const STUB_ENV = { FORKSTACK_STUB_YAML: require.resolve("yaml") };
const log = () =>
  (fs.existsSync(path.join(dir, "log.jsonl")) ? fs.readFileSync(path.join(dir, "log.jsonl"), "utf8") : "")
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { args: string[]; cwd: string });
const state = () => JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"));

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkctl-stub-"));
  fs.mkdirSync(path.join(dir, "bin"));
  fs.copyFileSync(path.join(__dirname, "..", "fixtures", "bin", "pulumi-stub.js"), path.join(dir, "bin", "pulumi"));
  fs.chmodSync(path.join(dir, "bin", "pulumi"), 0o755);
  backend = new AutomationBackend({ pulumiRoot: dir, envVars: STUB_ENV });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

let now = new Date("2026-12-01T10:00:00Z");
beforeEach(() => {
  now = new Date("2026-12-01T10:00:00Z");
});

async function forkctl(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const deps = { backend, now: () => now, sleep: async () => {}, progress: (l: string) => (stderr += `${l}\n`), lockRetry: { attempts: 2, firstWaitMs: 1 } };
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, () => deps, {});
  return { code, stdout, stderr };
}

describe("forkctl on the Automation API", () => {
  it("creates the stack, writes the fork contract as config and runs up in the project folder", async () => {
    const r = await forkctl("up", "pr-7", "--service", "shop/api=registry.example.com/shop/api:pr-7", "--ttl", "72h", "--no-cluster");
    expect(r.code).toBe(0);
    const calls = log();
    expect(calls.every((c) => fs.realpathSync(c.cwd) === fs.realpathSync(PROJECT_ROOT))).toBe(true);
    expect(calls.find((c) => c.args[0] === "stack" && c.args[1] === "init")?.args.slice(0, 3)).toEqual(["stack", "init", "pr-7"]);
    // The config reaches `pulumi up` in a file of its own; nothing is written with `pulumi config`.
    const upCall = calls.find((c) => c.args[0] === "up")!;
    expect(upCall.args).toContain("--config-file");
    expect(path.dirname(upCall.args[upCall.args.indexOf("--config-file") + 1])).not.toBe(PROJECT_ROOT);
    expect(calls.filter((c) => c.args[0] === "config")).toEqual([]);
    // The checkout is left as it was: no Pulumi.pr-7.yaml (the CLI writes one on stack init).
    expect(fs.existsSync(path.join(PROJECT_ROOT, "Pulumi.pr-7.yaml"))).toBe(false);
    expect(state().stacks["pr-7"].tags).toEqual({ "forkstack:fork": "pr-7", "forkstack:base": "organization/forkstack/dev", "forkstack:expiresAt": "2026-12-04T10:00:00Z" });
    const config = state().stacks["pr-7"].config;
    expect(config["forkstack:baseStack"]).toBe("organization/forkstack/dev");
    expect(JSON.parse(config["forkstack:fork"])).toEqual({
      id: "pr-7",
      services: [{ name: "api", namespace: "shop", image: "registry.example.com/shop/api:pr-7" }],
      ttl: "72h",
      expiresAt: "2026-12-04T10:00:00Z",
    });
    expect(r.stdout).toContain("https://pr-7.shop.dev.example.com/");
    // The engine's output streams to the progress lines.
    expect(r.stderr).toContain("+ 7 created");
  });

  it("reports no changes when the same fork is updated again, keeping its expiry", async () => {
    await forkctl("up", "pr-7", "--service", "shop/api=img/api:1", "--ttl", "72h", "--no-cluster");
    const again = await forkctl("up", "pr-7", "--service", "shop/api=img/api:1", "--ttl", "72h", "--no-cluster");
    expect(again.stdout.split("\n")[0]).toBe("fork pr-7: no changes");
    expect(JSON.parse(state().stacks["pr-7"].config["forkstack:fork"]).expiresAt).toBe("2026-12-04T10:00:00Z");
  });

  it("lists the fork, masks secret outputs, then destroys and removes its stack", async () => {
    await forkctl("up", "pr-7", "--service", "shop/api=img/api:1", "--no-cluster");
    const ls = await forkctl("ls", "--output", "json");
    expect(JSON.parse(ls.stdout).map((f: { id: string }) => f.id)).toEqual(["pr-7"]);
    expect(await backend.outputs("pr-7")).toMatchObject({ kubeconfig: "[secret]" });
    const down = await forkctl("down", "pr-7");
    expect([down.code, down.stdout.trim()]).toEqual([0, "fork pr-7 destroyed and its stack removed"]);
    expect(log().map((c) => c.args.slice(0, 2).join(" "))).toEqual(expect.arrayContaining(["destroy --yes", "stack rm"]));
    expect(state().stacks["pr-7"]).toBeUndefined();
    expect((await forkctl("down", "pr-7")).stdout.trim()).toBe("fork pr-7: no such stack, nothing to do");
  });

  it("ends a stack output the backend does not answer after its timeout, in one line", async () => {
    await forkctl("up", "pr-7", "--service", "shop/api=img/api:1", "--no-cluster");
    backend = new AutomationBackend({ pulumiRoot: dir, envVars: { ...STUB_ENV, FORKSTACK_STUB_HANG_OUTPUT: "1" }, outputsTimeoutMs: 1500 });
    const r = await forkctl("ls");
    expect([r.code, r.stderr]).toEqual([1, "forkctl ls: pulumi stack output --stack pr-7: no answer from the backend in 1.5 s; check the backend (pulumi whoami -v) and try again\n"]);
  });

  it("clears the lock of a run on this machine that is gone (pulumi cancel), and goes on", async () => {
    await forkctl("up", "pr-7", "--service", "shop/api=img/api:1", "--no-cluster");
    // A process that has ended: its pid names no live process (as after a SIGKILLed pulumi up).
    const { spawnSync } = await import("child_process");
    const gone = spawnSync(process.execPath, ["-e", ""]).pid!;
    const s = state();
    Object.assign(s.stacks["pr-7"], { locked: true, lockedBy: { user: "ci", host: os.hostname(), pid: gone } });
    fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(s));
    const r = await forkctl("up", "pr-7", "--service", "shop/api=img/api:2", "--no-cluster");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`forkctl: stack pr-7 is locked by a run that is gone (ci@${os.hostname()} (pid ${gone}) since 2026-12-01T09:59:00Z); clearing its lock (pulumi cancel)`);
    expect(log().map((c) => c.args[0])).toContain("cancel");
    expect(state().stacks["pr-7"].locked).toBeUndefined();
  });

  it("turns the CLI's lock error into StackLockedError", async () => {
    await forkctl("up", "pr-7", "--service", "shop/api=img/api:1", "--no-cluster");
    const s = state();
    s.stacks["pr-7"].locked = true;
    fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(s));
    await expect(backend.up("pr-7", { "forkstack:baseStack": "organization/forkstack/dev", "forkstack:fork": '{"id":"pr-7"}' }, {}, () => {})).rejects.toBeInstanceOf(StackLockedError);
  });
});

/** A project folder of its own (Pulumi.yaml and a tracked base config), so the checkout's files can be compared. */
function projectDir(): string {
  const work = path.join(dir, "project");
  fs.mkdirSync(work);
  fs.copyFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), path.join(work, "Pulumi.yaml"));
  fs.writeFileSync(path.join(work, "Pulumi.dev.yaml"), "encryptionsalt: v1:base-salt\nconfig:\n  forkstack:domain: dev.example.com\n");
  backend = new AutomationBackend({ pulumiRoot: dir, workDir: work, envVars: STUB_ENV });
  return work;
}

/** Every file of a folder with its bytes. */
const files = (folder: string) => Object.fromEntries(fs.readdirSync(folder).sort().map((f) => [f, fs.readFileSync(path.join(folder, f), "utf8")]));

const update = (result: string, config: Record<string, string>) => ({
  kind: "update",
  result,
  startTime: "2026-11-30T09:00:00.000Z",
  endTime: "2026-11-30T09:00:05.000Z",
  message: "",
  environment: {},
  version: 1,
  config: Object.fromEntries(Object.entries(config).map(([k, value]) => [k, { value, secret: false }])),
});

describe("forkctl acts only on forks of its base", () => {
  beforeEach(() => {
    fs.writeFileSync(
      path.join(dir, "state.json"),
      JSON.stringify({
        stacks: {
          // The base itself.
          dev: { config: {}, outputs: { headerName: "x-fork-identifier" }, history: [update("succeeded", { "forkstack:domain": "dev.example.com" })], tags: { "pulumi:project": "forkstack" } },
          // Another project's stack (a DIY backend without project scoping lists it here too).
          web: { config: {}, outputs: {}, history: [update("succeeded", { "web:replicas": "2" })], tags: { "pulumi:project": "web" } },
          // A fork of another base: by its config, and by forkctl's tags.
          "stg-1": { config: {}, outputs: { forkId: "stg-1" }, history: [update("succeeded", { "forkstack:baseStack": "organization/forkstack/staging", "forkstack:fork": '{"id":"stg-1"}' })] },
          "stg-2": { config: {}, outputs: {}, history: [], tags: { "forkstack:fork": "stg-2", "forkstack:base": "organization/forkstack/staging" } },
          // A stack of this project without fork config.
          scratch: { config: {}, outputs: {}, history: [] },
        },
      }),
    );
  });

  it.each([
    ["dev", /^forkctl: <id>: "dev" is the base stack organization\/forkstack\/dev, not a fork; /],
    ["web", /^forkctl: <id>: "web" is a stack of project web, not of forkstack; /],
    ["stg-1", /^forkctl: <id>: "stg-1" is a fork of organization\/forkstack\/staging, not of organization\/forkstack\/dev; pass --base organization\/forkstack\/staging/],
    ["stg-2", /^forkctl: <id>: "stg-2" is a fork of organization\/forkstack\/staging, not of organization\/forkstack\/dev; /],
    ["scratch", /^forkctl: <id>: "scratch" is a stack without fork config .*, not a fork; /],
  ])("refuses %s for up, down and extend in one line with exit code 2, changing no state and no file", async (id, message) => {
    const work = projectDir();
    const before = { state: fs.readFileSync(path.join(dir, "state.json"), "utf8"), files: files(work) };
    for (const argv of [["down", id], ["up", id, "--service", "shop/api=img/api:1", "--no-cluster"], ["extend", id, "--ttl", "1h", "--no-cluster"]]) {
      const r = await forkctl(...argv);
      expect([argv[0], r.code, r.stdout]).toEqual([argv[0], 2, ""]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    }
    expect(fs.readFileSync(path.join(dir, "state.json"), "utf8")).toBe(before.state);
    expect(files(work)).toEqual(before.files);
    const writes = log().filter((c) => ["up", "destroy", "config"].includes(c.args[0]) || (c.args[0] === "stack" && ["rm", "init"].includes(c.args[1])) || (c.args[1] === "tag" && c.args[2] !== "ls"));
    expect(writes).toEqual([]);
  });

  it("neither lists nor collects them", async () => {
    projectDir();
    now = new Date("2027-12-01T00:00:00Z");
    expect((await forkctl("ls")).stdout.trim()).toBe("no forks");
    expect((await forkctl("gc", "--output", "json")).stdout.trim()).toBe(JSON.stringify({ dryRun: false, removed: [], failed: [], kept: [], sweepNote: "no cluster view: retired routes of forks that are gone were not swept" }, null, 2));
    expect(Object.keys(state().stacks).sort()).toEqual(["dev", "scratch", "stg-1", "stg-2", "web"]);
  });

  it("acts on a fork of another base with --base", async () => {
    projectDir();
    const r = await forkctl("down", "stg-1", "--base", "organization/forkstack/staging");
    expect([r.code, r.stdout.trim()]).toEqual([0, "fork stg-1 destroyed and its stack removed"]);
  });
});

describe("a fork whose first update failed", () => {
  it("fails in one line, leaves no file, is listed as failed with its error and collected by gc", async () => {
    const work = projectDir();
    const before = files(work);
    const r = await forkctl("up", "pr-9", "--service", "shop/nope=img/nope:1", "--ttl", "1h", "--no-cluster");
    expect(r.code).toBe(1);
    const refusal = 'forkstack:fork.services[0].name: "nope.shop" is not a Service in the shared cluster; check the name and namespace (kubectl get services -n shop)';
    expect(r.stderr.trimEnd().split("\n").pop()).toBe(`forkctl up pr-9: ${refusal}`);
    expect(files(work)).toEqual(before);
    const [fork] = JSON.parse((await forkctl("ls", "--output", "json")).stdout);
    expect(fork).toMatchObject({ id: "pr-9", state: "failed", error: refusal, expiresAt: "2026-12-01T11:00:00Z" });
    expect((await forkctl("ls")).stdout).toMatch(/^pr-9 .* failed: forkstack:fork\.services\[0\]\.name: "nope\.shop" is not a Service/m);
    now = new Date("2026-12-01T12:00:00Z");
    const gc = await forkctl("gc", "--output", "json");
    expect([gc.code, JSON.parse(gc.stdout).removed]).toEqual([0, ["pr-9"]]);
    expect(state().stacks["pr-9"]).toBeUndefined();
    expect(files(work)).toEqual(before);
  });

  it("a later successful up clears the error", async () => {
    projectDir();
    await forkctl("up", "pr-9", "--service", "shop/nope=img/nope:1", "--no-cluster");
    expect(state().stacks["pr-9"].tags["forkstack:error"]).toMatch(/is not a Service/);
    const ok = await forkctl("up", "pr-9", "--service", "shop/api=img/api:1", "--no-cluster");
    expect(ok.code).toBe(0);
    expect(state().stacks["pr-9"].tags["forkstack:error"]).toBeUndefined();
    expect(JSON.parse((await forkctl("ls", "--output", "json")).stdout)[0].state).toBe("ok");
  });
});

describe("a checkout's own Pulumi.<fork>.yaml", () => {
  it("is read for its salt and other keys, never written or deleted", async () => {
    const work = projectDir();
    const tracked = "encryptionsalt: v1:alice-salt\nconfig:\n  kubernetes:context: dev\n  forkstack:fork:\n    id: alice\n    ttl: 1h\n  forkstack:baseStack: organization/forkstack/dev\n";
    fs.writeFileSync(path.join(work, "Pulumi.alice.yaml"), tracked);
    const r = await forkctl("up", "alice", "--service", "shop/api=img/api:2", "--no-cluster");
    expect(r.code).toBe(0);
    const seen = state().stacks.alice.configFileSeen;
    expect(seen.encryptionsalt).toBe("v1:alice-salt");
    expect(Object.keys(seen.config).sort()).toEqual(["forkstack:baseStack", "forkstack:fork", "kubernetes:context"]);
    expect(JSON.parse(seen.config["forkstack:fork"])).toEqual({ id: "alice", services: [{ name: "api", namespace: "shop", image: "img/api:2" }] });
    expect(fs.readFileSync(path.join(work, "Pulumi.alice.yaml"), "utf8")).toBe(tracked);
    expect((await forkctl("down", "alice")).code).toBe(0);
    expect(fs.readFileSync(path.join(work, "Pulumi.alice.yaml"), "utf8")).toBe(tracked);
  });
});
