/**
 * forkctl's real Automation API path, with a stand-in `pulumi` executable
 * (test/fixtures/bin/pulumi-stub.js) that records what it is asked: the project folder is the
 * program, the fork contract is written as stack config, and a locked stack surfaces as
 * StackLockedError.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { StackLockedError } from "../../bin/forkctl/backend";
import { AutomationBackend, PROJECT_ROOT } from "../../bin/forkctl/automation";
import { main } from "../../bin/forkctl/cli";

let dir: string;
let backend: AutomationBackend;
const log = () =>
  fs
    .readFileSync(path.join(dir, "log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { args: string[]; cwd: string });
const state = () => JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"));

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkctl-stub-"));
  fs.mkdirSync(path.join(dir, "bin"));
  fs.copyFileSync(path.join(__dirname, "..", "fixtures", "bin", "pulumi-stub.js"), path.join(dir, "bin", "pulumi"));
  fs.chmodSync(path.join(dir, "bin", "pulumi"), 0o755);
  backend = new AutomationBackend({ pulumiRoot: dir });
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function forkctl(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const deps = { backend, now: () => new Date("2026-12-01T10:00:00Z"), sleep: async () => {}, progress: (l: string) => (stderr += `${l}\n`), lockRetry: { attempts: 2, firstWaitMs: 1 } };
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, () => deps, {});
  return { code, stdout, stderr };
}

describe("forkctl on the Automation API", () => {
  it("creates the stack, writes the fork contract as config and runs up in the project folder", async () => {
    const r = await forkctl("up", "pr-7", "--service", "shop/api=registry.example.com/shop/api:pr-7", "--ttl", "72h", "--no-cluster");
    expect(r.code).toBe(0);
    const calls = log();
    expect(calls.every((c) => fs.realpathSync(c.cwd) === fs.realpathSync(PROJECT_ROOT))).toBe(true);
    const commands = calls.map((c) => c.args.filter((a) => !a.startsWith("-"))[0]);
    expect(commands).toEqual(expect.arrayContaining(["stack", "config", "up"]));
    expect(commands.indexOf("config")).toBeLessThan(commands.lastIndexOf("up"));
    expect(calls.find((c) => c.args[0] === "stack" && c.args[1] === "init")?.args.slice(0, 3)).toEqual(["stack", "init", "pr-7"]);
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

  it("turns the CLI's lock error into StackLockedError", async () => {
    await forkctl("up", "pr-7", "--service", "shop/api=img/api:1", "--no-cluster");
    const s = state();
    s.stacks["pr-7"].locked = true;
    fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(s));
    await expect(backend.up("pr-7", { "forkstack:baseStack": "organization/forkstack/dev", "forkstack:fork": '{"id":"pr-7"}' }, () => {})).rejects.toBeInstanceOf(StackLockedError);
  });
});
