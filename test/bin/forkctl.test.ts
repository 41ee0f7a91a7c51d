/**
 * forkctl's command logic through the ForkBackend interface. Two fakes:
 * - RenderBackend runs the real program (index.ts) under the offline render for every `up`, with
 *   the config forkctl wrote, against the sample shop: what forkctl writes is what the program
 *   reads, and the report is built from real outputs and a real (simulated) cluster.
 * - CannedBackend holds stacks with given outputs, for listing, gc, down and lock handling.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { parseForkConfig } from "../../components/config";
import { ForkBackend, LastUpdate, LockHolder, lockHolders, StackInfo, StackLockedError, UpOutcome } from "../../bin/forkctl/backend";
import { ClusterView, cpuCores, ForkctlDeps, memoryGiB } from "../../bin/forkctl/commands";
import { COMMANDS, main, onInterrupt } from "../../bin/forkctl/cli";
import { commentMarker } from "../../bin/forkctl/format";
import { KubeObject, SimulatedCluster } from "../../render/cluster";
import { simulatedAccess } from "../../render/simulatedApi";
import { applyClaim, sweepGoneForks } from "../../components/fork/routeSync";
import { serviceFqdn } from "../../components/naming";
import { renderStacks } from "../../render/render";

const EXAMPLES = path.join(__dirname, "..", "..", "examples");
const SHOP = path.join(EXAMPLES, "cluster", "shop.yaml");
const T0 = new Date("2026-12-01T10:00:00Z");

interface StoredStack {
  config: Record<string, string>;
  outputs: Record<string, unknown>;
  history: LastUpdate[];
  lastUpdate?: string;
  updateInProgress?: boolean;
  tags?: Record<string, string>;
}

function applyTags(current: Record<string, string> | undefined, tags: Readonly<Record<string, string | null>>): Record<string, string> {
  const out = { ...(current ?? {}) };
  for (const [k, v] of Object.entries(tags)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** Stacks in memory; `up` is left to subclasses. Records every call. */
abstract class MemoryBackend implements ForkBackend {
  readonly stacks = new Map<string, StoredStack>();
  readonly calls: string[] = [];
  /** `up`/`destroy` reject with StackLockedError this many more times, naming `lockedBy` as the holder. */
  locked = 0;
  lockedBy: LockHolder[] = [];
  readonly failDestroy = new Set<string>();
  /** `up` of these stacks fails after creating and tagging the stack, as the engine's error. */
  readonly failUp = new Map<string, Error>();
  clock = T0;

  async listStacks(): Promise<StackInfo[]> {
    this.calls.push("listStacks");
    return [...this.stacks.entries()].map(([name, s]) => ({ name, updateInProgress: s.updateInProgress === true, ...(s.lastUpdate ? { lastUpdate: s.lastUpdate } : {}) }));
  }
  async outputs(stack: string) {
    this.calls.push(`outputs ${stack}`);
    // A fully qualified name (organization/forkstack/dev) selects the same stack, as in Pulumi.
    return this.stacks.get(stack.split("/").pop()!)?.outputs;
  }
  async lastUpdate(stack: string) {
    this.calls.push(`lastUpdate ${stack}`);
    return this.stacks.get(stack)?.history[0];
  }
  async tags(stack: string) {
    this.calls.push(`tags ${stack}`);
    const s = this.stacks.get(stack);
    return s === undefined ? undefined : { ...(s.tags ?? {}) };
  }
  async setTags(stack: string, tags: Readonly<Record<string, string | null>>) {
    this.calls.push(`setTags ${stack}`);
    const s = this.stacks.get(stack);
    if (s === undefined) throw new Error(`no stack named '${stack}' found`);
    s.tags = applyTags(s.tags, tags);
  }
  async up(stack: string, config: Readonly<Record<string, string>>, tags: Readonly<Record<string, string | null>>): Promise<UpOutcome> {
    this.calls.push(`up ${stack}`);
    if (this.locked > 0) {
      this.locked--;
      throw new StackLockedError(stack, this.lockedBy);
    }
    const previous = this.stacks.get(stack);
    const created: StoredStack = previous ?? { config: {}, outputs: {}, history: [] };
    created.tags = applyTags(created.tags, tags);
    this.stacks.set(stack, created);
    const failure = this.failUp.get(stack);
    if (failure) {
      created.history = [{ kind: "update", result: "failed", config: { ...config } }, ...created.history];
      throw failure;
    }
    const outputs = await this.run(stack, config);
    const changed = previous === undefined || JSON.stringify(previous.config) !== JSON.stringify(config);
    this.stacks.set(stack, {
      config: { ...config },
      outputs,
      history: [{ kind: "update", result: "succeeded", config: { ...config } }, ...(previous?.history ?? [])],
      lastUpdate: this.clock.toISOString(),
      tags: created.tags,
    });
    return { changed, outputs };
  }
  async cancel(stack: string): Promise<void> {
    this.calls.push(`cancel ${stack}`);
    this.locked = 0;
  }
  async destroyAndRemove(stack: string): Promise<boolean> {
    this.calls.push(`destroy ${stack}`);
    if (this.locked > 0) {
      this.locked--;
      throw new StackLockedError(stack, this.lockedBy);
    }
    if (this.failDestroy.has(stack)) throw new Error(`deleting Deployment shop/api-${stack}: the server is unavailable`);
    return this.stacks.delete(stack);
  }
  protected abstract run(stack: string, config: Readonly<Record<string, string>>): Promise<Record<string, unknown>>;
}

/** `up` runs index.ts under the offline render: base dev of examples/, then the fork with forkctl's config. */
class RenderBackend extends MemoryBackend {
  objects: KubeObject[] = [];
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkctl-"));

  constructor() {
    super();
    const base = YAML.parse(fs.readFileSync(path.join(EXAMPLES, "Pulumi.dev.yaml"), "utf8"));
    base.config["forkstack:pricing"] = { vcpuHour: 0.04, gibHour: 0.005, currency: "USD" };
    fs.writeFileSync(path.join(this.dir, "Pulumi.dev.yaml"), YAML.stringify(base));
  }

  async run(stack: string, config: Readonly<Record<string, string>>) {
    // As `pulumi config set` stores them: plain strings; the program parses the JSON.
    fs.writeFileSync(path.join(this.dir, `Pulumi.${stack}.yaml`), YAML.stringify({ config }));
    const render = await renderStacks({ stacks: ["dev", stack], configDir: this.dir, clusterFiles: [SHOP], now: this.clock.toISOString() });
    this.objects = render.cluster.all();
    const [dev, fork] = render.results;
    this.stacks.set("dev", { config: {}, outputs: dev.outputs, history: [] });
    return fork.outputs;
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `up` returns outputs shaped like the program's from the fork value, without a cluster. */
class CannedBackend extends MemoryBackend {
  async run(stack: string, config: Readonly<Record<string, string>>) {
    const fork = JSON.parse(config["forkstack:fork"]);
    return { forkId: fork.id, urls: { "shop.dev.example.com": `https://${fork.id}.shop.dev.example.com` }, copies: [], expiresAt: fork.expiresAt ?? null };
  }

  /** A fork stack as an earlier forkctl up left it. */
  addFork(id: string, expiresAt: string | null, extra: Partial<StoredStack> = {}) {
    const fork = { id, ...(expiresAt ? { ttl: "1h", expiresAt } : {}) };
    const config = { "forkstack:baseStack": "organization/forkstack/dev", "forkstack:fork": JSON.stringify(fork) };
    this.stacks.set(id, {
      config,
      outputs: { forkId: id, urls: { "shop.dev.example.com": `https://${id}.shop.dev.example.com` }, copies: [], expiresAt },
      history: [{ kind: "update", result: "succeeded", config }],
      lastUpdate: "2026-11-30T09:00:00.000Z",
      ...extra,
    });
  }
}

function deps(backend: MemoryBackend, cluster?: ClusterView, extra: Partial<ForkctlDeps> = {}): ForkctlDeps & { waits: number[]; lines: string[] } {
  const waits: number[] = [];
  const lines: string[] = [];
  return {
    backend,
    now: () => backend.clock,
    sleep: async (ms) => {
      waits.push(ms);
    },
    progress: (line) => lines.push(line),
    random: () => 0.5,
    lockRetry: { attempts: 4, firstWaitMs: 1000 },
    ...(cluster ? { cluster } : {}),
    waits,
    lines,
    ...extra,
  };
}

/** The Automation API's CommandError for a `pulumi up` whose engine reported `error` on `resource`. */
function upFailure(resource: string, error: string): Error {
  const err = new Error(`code: -2\n stdout: \n stderr: Command failed with exit code 1: pulumi up\nDiagnostics:\n  ${resource}:\n    error: ${error}\n\nResources:\n    1 errored\n`);
  err.name = "CommandError";
  return err;
}

async function forkctl(d: ForkctlDeps, ...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) }, () => d, {});
  return { code, stdout, stderr };
}

const ALICE = ["up", "alice", "--service", "shop/api=registry.example.com/shop/api:alice-1", "--env", "shop/api:FEATURE_X=on", "--header", "x-feature-flags=new-checkout=on", "--ttl", "72h"];

describe("forkctl arguments", () => {
  it.each([
    [["up", "Alice", "--service", "shop/api=img:1"], /^forkctl: <id>: "Alice" is not a lowercase DNS label; /],
    [["up", "alice", "--service", "shop"], /^forkctl: --service: "shop" is not NAMESPACE\/NAME\[=IMAGE\]; /],
    [["up", "alice", "--service", "shop/api", "--replicas", "shop/api=0"], /^forkctl: --replicas: "shop\/api=0" does not give a whole number from 1 to 20; e\.g\. --replicas shop\/api=2/],
    [["up", "alice", "--service", "shop/api", "--replicas", "shop/api=two"], /^forkctl: --replicas: "shop\/api=two" does not give a whole number/],
    [["up", "alice", "--service", "shop/api", "--replicas", "shop/api"], /^forkctl: --replicas: "shop\/api" is not NAMESPACE\/NAME=N; e\.g\. --replicas shop\/api=2\n$/],
    [["up", "alice", "--service", "shop/api", "--replicas", "shop/cart=2"], /^forkctl: --replicas: "shop\/cart" names no --service of this fork; add --service shop\/cart /],
    [["extend", "alice", "--replicas", "shop/api=2", "--ttl", "1h"], /^forkctl: --replicas: .* is not an option of forkctl extend; /],
    [["up", "alice", "--service", "shop/api=img:1", "--env", "shop/cart:X=1"], /^forkctl: --env: "shop\/cart" names no --service of this fork; /],
    [["up", "alice", "--service", "shop/api=Not An Image"], /^forkctl: --service: "shop\/api=Not" is not NAMESPACE\/NAME=IMAGE|is not NAMESPACE/],
    [["up", "alice", "--service", "shop/api=img:1", "--ttl", "3 days"], /^forkctl: --ttl: "3 days" is not a duration; /],
    [["up", "alice", "--header", "Bad Header=x"], /^forkctl: forkstack:fork\.headers\.Bad Header: /],
    [["up", "alice", "--base", "not a stack"], /^forkctl: --base: "not a stack" is not a stack reference; /],
    [["up", "alice", "--dry-run"], /^forkctl: --dry-run: true is not an option of forkctl up; /],
    [["extend", "alice"], /^forkctl: --ttl: \(missing\) is required; /],
    [["down"], /^forkctl: <id>: \(missing\) is required; /],
    [["ls", "extra"], /^forkctl: argument: "extra" is not expected; /],
    [["launch", "alice"], /^forkctl: command: "launch" is not a forkctl command; use one of up, extend, down, ls, gc/],
    [["bogus", "--help"], /^forkctl: command: "bogus" is not a forkctl command; use one of up, extend, down, ls, gc/],
    [["ls", "--output", "yaml"], /^forkctl: --output: "yaml" is not an output format; use text, json, markdown/],
    [["ls", "--colour"], /^forkctl: --colour: .*is not an option/],
  ])("refuses %j in one line with exit code 2, before any stack is touched", async (argv, message) => {
    const backend = new CannedBackend();
    const r = await forkctl(deps(backend), ...argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(backend.calls).toEqual([]);
  });

  it("prints every command with its arguments for --help (flags: test/cliHelp.test.ts)", async () => {
    const r = await forkctl(deps(new CannedBackend()), "--help");
    expect(r.code).toBe(0);
    for (const [name, command] of Object.entries(COMMANDS)) expect(r.stdout).toMatch(new RegExp(`^  ${`${name} ${command.args}`.trim()} +\\S`, "m"));
    expect(r.stdout).toContain("exit code");
  });

  it("refuses a flag the command does not take, pointing to that command's help", async () => {
    const r = await forkctl(deps(new CannedBackend()), "ls", "--ttl", "1h");
    expect([r.code, r.stderr]).toEqual([2, 'forkctl: --ttl: "1h" is not an option of forkctl ls; see forkctl ls --help\n']);
  });
});

describe("forkctl up against the real program", () => {
  let backend: RenderBackend;
  beforeEach(() => {
    backend = new RenderBackend();
  });
  afterEach(() => backend.cleanup());
  const view = (b: RenderBackend): ClusterView => ({ snapshot: async () => b.objects, sweepGoneForks: async () => ({ swept: [], failed: [] }) });

  it("writes the fork contract the program accepts, and prints the fork's URL", async () => {
    const r = await forkctl(deps(backend, view(backend)), ...ALICE);
    expect(r.code).toBe(0);
    const written = backend.stacks.get("alice")!.config;
    expect(written["forkstack:baseStack"]).toBe("organization/forkstack/dev");
    expect(parseForkConfig(JSON.parse(written["forkstack:fork"]))).toMatchObject({
      id: "alice",
      services: [{ name: "api", namespace: "shop", image: "registry.example.com/shop/api:alice-1", env: { FEATURE_X: "on" } }],
      headers: { "x-feature-flags": "new-checkout=on" },
      ttl: "72h",
      expiresAt: "2026-12-04T10:00:00Z",
    });
    expect(r.stdout).toContain("https://alice.shop.dev.example.com/");
    expect(r.stdout).toContain("copy api.shop → api-alice.shop (registry.example.com/shop/api:alice-1)");
  });

  it("forks a service keeping its image (--service without =IMAGE) with the --replicas given", async () => {
    const r = await forkctl(deps(backend), "up", "carol", "--service", "shop/api", "--replicas", "shop/api=2", "--output", "json");
    expect([r.code, r.stderr.split("\n").filter((l) => l.startsWith("forkctl"))]).toEqual([0, []]);
    const fork = JSON.parse(backend.stacks.get("carol")!.config["forkstack:fork"]);
    expect(fork).toEqual({ id: "carol", services: [{ name: "api", namespace: "shop", replicas: 2 }] });
    expect(parseForkConfig(fork).services[0]).toMatchObject({ name: "api", namespace: "shop", image: undefined, replicas: 2 });
  });

  it("keeps the expiry stamped at creation on a later update, which then changes nothing", async () => {
    await forkctl(deps(backend), ...ALICE);
    backend.clock = new Date("2026-12-02T15:00:00Z");
    const again = await forkctl(deps(backend), ...ALICE, "--output", "json");
    const record = JSON.parse(again.stdout);
    expect([record.expiresAt, record.changed]).toEqual(["2026-12-04T10:00:00Z", false]);
    expect(again.stdout).not.toContain("2026-12-05T15:00:00Z");
  });

  it("writes the same config for the same arguments in another order", async () => {
    const args = ["up", "bob", "--service", "shop/catalog=img/catalog:1", "--service", "shop/api=img/api:1"];
    await forkctl(deps(backend), ...args);
    const first = backend.stacks.get("bob")!.config;
    await forkctl(deps(backend), "up", "bob", "--service", "shop/api=img/api:1", "--service", "shop/catalog=img/catalog:1");
    expect(backend.stacks.get("bob")!.config).toEqual(first);
  });

  it("moves the expiry with extend and keeps the rest of the fork", async () => {
    await forkctl(deps(backend), ...ALICE);
    backend.clock = new Date("2026-12-03T00:00:00Z");
    const r = await forkctl(deps(backend), "extend", "alice", "--ttl", "24h", "--output", "json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).expiresAt).toBe("2026-12-04T00:00:00Z");
    const fork = JSON.parse(backend.stacks.get("alice")!.config["forkstack:fork"]);
    expect(fork).toMatchObject({ services: [{ image: "registry.example.com/shop/api:alice-1" }], ttl: "24h", expiresAt: "2026-12-04T00:00:00Z" });
  });

  it("writes a pull-request comment with URLs, copies, expiry, cost with price and the hop table", async () => {
    const r = await forkctl(deps(backend, view(backend)), ...ALICE, "--output", "markdown");
    const md = r.stdout;
    expect(md.split("\n")[0]).toBe(commentMarker("alice"));
    expect(md).toContain("| shop.dev.example.com | https://alice.shop.dev.example.com/ |");
    expect(md).toContain("| api.shop | api-alice.shop | registry.example.com/shop/api:alice-1 |");
    expect(md).toContain("**Expires:** 2026-12-04T10:00:00Z (in 3 days)");
    // The copy of api requests what the shared api does (10m CPU, 32Mi) for its one replica.
    expect(md).toContain("**Cost:** 1 pod, 0.01 vCPU, 0.031 GiB requested, about 0.0006 USD per hour");
    // The hop table: the fork's Mapping sends the entry request to the shared frontend.
    expect(md).toMatch(/0\s+frontend\.shop:80\s+Mapping emissary\/[^\s]+\s+frontend \(Service shop\/frontend\)/);
    expect(md).toContain("chain ok");
  });

  it("leaves cost and hop table out, saying why, when the cluster cannot be read", async () => {
    const broken: ClusterView = { snapshot: async () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:6443")), sweepGoneForks: async () => ({ swept: [], failed: [] }) };
    const r = await forkctl(deps(backend, broken), ...ALICE);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("note: the cluster could not be read (connect ECONNREFUSED 127.0.0.1:6443)");
    expect(r.stdout).toContain("cost: unknown");
  });

  it("fails with exit code 1 and the program's one line when the fork is refused", async () => {
    const r = await forkctl(deps(backend), "up", "alice", "--service", "shop/apx=img/api:1");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^forkctl up alice: .*forkstack:fork\.services\[0\]\.name: "apx\.shop" is not a Service/);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });
});

describe("Ctrl-C while forkctl runs", () => {
  it("says it waits for pulumi to free the stack on the first signal, and exits 130 on the second", () => {
    const said: string[] = [];
    const exits: number[] = [];
    const handle = onInterrupt({ stderr: (t) => said.push(t) }, (code) => exits.push(code));
    handle("SIGINT");
    expect([said, exits]).toEqual([["forkctl: SIGINT: waiting for pulumi to stop the update and free the stack; SIGINT again to stop waiting (the next forkctl run clears a lock left behind)\n"], []]);
    handle("SIGTERM");
    expect([said.length, exits]).toEqual([1, [130]]);
  });
});

describe("forkctl ls, gc and down", () => {
  it("lists fork stacks only, with URLs, expiry, last update and state", async () => {
    const backend = new CannedBackend();
    backend.stacks.set("dev", { config: {}, outputs: { headerName: "x-fork-identifier" }, history: [] });
    backend.addFork("pr-1", "2026-12-01T09:00:00Z");
    backend.addFork("pr-2", "2026-12-05T09:00:00Z");
    backend.addFork("pr-3", null, { updateInProgress: true });
    const r = await forkctl(deps(backend), "ls", "--output", "json");
    expect(JSON.parse(r.stdout).map((f: any) => [f.id, f.state, f.urls["shop.dev.example.com"], f.lastUpdate])).toEqual([
      ["pr-1", "expired", "https://pr-1.shop.dev.example.com", "2026-11-30T09:00:00.000Z"],
      ["pr-2", "ok", "https://pr-2.shop.dev.example.com", "2026-11-30T09:00:00.000Z"],
      ["pr-3", "updating", "https://pr-3.shop.dev.example.com", "2026-11-30T09:00:00.000Z"],
    ]);
  });

  it("shows a fork whose last update failed as failed", async () => {
    const backend = new CannedBackend();
    backend.addFork("pr-4", null);
    backend.stacks.get("pr-4")!.history.unshift({ kind: "update", result: "failed", config: backend.stacks.get("pr-4")!.config });
    const r = await forkctl(deps(backend), "ls");
    expect(r.stdout).toMatch(/pr-4 .* failed$/m);
  });

  it("gc destroys only expired forks, goes on past a failure, and exits 1", async () => {
    const backend = new CannedBackend();
    backend.addFork("old-1", "2026-11-30T00:00:00Z");
    backend.addFork("old-2", "2026-12-01T09:59:59Z");
    backend.addFork("old-3", "2026-11-01T00:00:00Z");
    backend.addFork("fresh", "2026-12-01T10:00:01Z");
    backend.addFork("forever", null);
    backend.failDestroy.add("old-2");
    const r = await forkctl(deps(backend), "gc", "--output", "json");
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result.removed).toEqual(["old-1", "old-3"]);
    expect(result.failed).toEqual([{ id: "old-2", error: "deleting Deployment shop/api-old-2: the server is unavailable" }]);
    expect(result.kept.sort()).toEqual(["forever", "fresh"]);
    expect([...backend.stacks.keys()].sort()).toEqual(["forever", "fresh", "old-2"]);
  });

  it("gc --dry-run destroys nothing", async () => {
    const backend = new CannedBackend();
    backend.addFork("old-1", "2026-11-30T00:00:00Z");
    const r = await forkctl(deps(backend), "gc", "--dry-run");
    expect([r.code, r.stdout.split("\n")[0]]).toEqual([0, "would destroy: old-1"]);
    expect(backend.calls.filter((c) => c.startsWith("destroy"))).toEqual([]);
  });

  /**
   * Shared VirtualService shop/api as a simulated cluster holds it: live routes of `live`, then
   * retired routes (a leave that could not finish its removal) of `retired`.
   */
  async function sharedRoutes(live: string[], retired: string[]) {
    const cluster = new SimulatedCluster();
    const api = simulatedAccess(cluster).virtualServices;
    const noWait = { sleep: async () => undefined };
    for (const id of [...live, ...retired]) await applyClaim(api, { forkId: id, headerName: "x-fork-identifier", service: { name: "api", namespace: "shop" }, targetHost: serviceFqdn(`api-${id}`, "shop") }, noWait);
    const [vs] = cluster.list("networking.istio.io/v1", "VirtualService");
    const http = (vs.spec as any).http.map((r: { name: string }) => (retired.some((id) => r.name === `forkstack-${id}`) ? { ...r, name: `${r.name}--gone` } : r));
    cluster.put({ ...vs, spec: { ...(vs.spec as object), http } });
    const routes = () => ((cluster.list("networking.istio.io/v1", "VirtualService")[0]?.spec as any)?.http ?? []).map((r: { name: string }) => r.name);
    const view: ClusterView = { snapshot: async () => [], sweepGoneForks: (header, gone, dryRun) => sweepGoneForks(api, header, gone, { ...noWait, dryRun }) };
    return { view, routes };
  }

  it("gc then sweeps the retired routes of forks without a stack, and keeps those of forks whose stack is still there", async () => {
    const backend = new CannedBackend();
    backend.stacks.set("dev", { config: {}, outputs: { headerName: "x-fork-identifier" }, history: [] });
    backend.addFork("old-1", "2026-11-30T00:00:00Z");
    backend.addFork("stuck", "2026-11-30T00:00:00Z");
    backend.addFork("fresh", "2026-12-05T00:00:00Z");
    backend.failDestroy.add("stuck");
    // old-1's and stuck's destroys (earlier runs) left their routes retired; ghost's stack is long gone.
    const { view, routes } = await sharedRoutes(["fresh"], ["ghost", "old-1", "stuck"]);
    const dry = await forkctl(deps(backend, view), "gc", "--dry-run");
    expect(dry.stdout).toContain("would sweep: forkstack-ghost--gone from VirtualService shop/forkstack-api\n");
    const r = await forkctl(deps(backend, view), "gc");
    expect([r.code, r.stdout.split("\n"), routes()]).toEqual([
      1,
      [
        "destroyed: old-1",
        "failed: stuck: deleting Deployment shop/api-stuck: the server is unavailable",
        "kept: fresh",
        "swept: forkstack-ghost--gone, forkstack-old-1--gone from VirtualService shop/forkstack-api",
        "",
      ],
      ["forkstack-stuck--gone", "forkstack-fresh", "default"],
    ]);
  });

  it("gc exits 1 when a VirtualService refuses the sweep, after sweeping the others", async () => {
    const backend = new CannedBackend();
    const view: ClusterView = {
      snapshot: async () => [],
      sweepGoneForks: async () => ({ swept: [{ virtualService: "shop/api", routes: ["forkstack-ghost--gone"] }], failed: [{ virtualService: "pay/pay", error: "403 Forbidden" }] }),
    };
    const r = await forkctl(deps(backend, view), "gc");
    expect([r.code, r.stdout]).toEqual([1, "destroyed: none\nkept: none\nswept: forkstack-ghost--gone from VirtualService shop/api\nfailed: sweeping VirtualService pay/pay: 403 Forbidden\n"]);
  });

  it("down of a stack that is already gone succeeds", async () => {
    const r = await forkctl(deps(new CannedBackend()), "down", "pr-9");
    expect([r.code, r.stdout]).toEqual([0, "fork pr-9: no such stack, nothing to do\n"]);
  });

  it("down destroys and removes the stack", async () => {
    const backend = new CannedBackend();
    backend.addFork("pr-9", null);
    const r = await forkctl(deps(backend), "down", "pr-9");
    expect([r.code, backend.stacks.has("pr-9")]).toEqual([0, false]);
  });
});

describe("forkctl acts only on forks of its base", () => {
  /** A backend with the base, another project's stack, a fork of another base, and a stack without fork config. */
  function mixed(): CannedBackend {
    const backend = new CannedBackend();
    backend.stacks.set("dev", { config: {}, outputs: { headerName: "x-fork-identifier" }, history: [{ kind: "update", result: "succeeded", config: { "forkstack:domain": "dev.example.com" } }] });
    backend.stacks.set("web", { config: {}, outputs: {}, history: [{ kind: "update", result: "succeeded", config: {} }], tags: { "pulumi:project": "web" } });
    backend.addFork("stg-1", "2026-11-01T00:00:00Z");
    backend.stacks.get("stg-1")!.history[0] = { kind: "update", result: "succeeded", config: { "forkstack:baseStack": "organization/forkstack/staging", "forkstack:fork": '{"id":"stg-1","expiresAt":"2026-11-01T00:00:00Z"}' } };
    backend.stacks.set("scratch", { config: {}, outputs: {}, history: [] });
    return backend;
  }

  it.each([
    ["dev", 'forkctl: <id>: "dev" is the base stack organization/forkstack/dev, not a fork; forkctl acts only on forks of the base; choose another fork id (manage the base with pulumi itself)'],
    ["web", 'forkctl: <id>: "web" is a stack of project web, not of forkstack; forkctl acts only on forks of the base; choose another fork id'],
    ["stg-1", 'forkctl: <id>: "stg-1" is a fork of organization/forkstack/staging, not of organization/forkstack/dev; pass --base organization/forkstack/staging (or FORKSTACK_BASE=organization/forkstack/staging) to act on it'],
    ["scratch", /^forkctl: <id>: "scratch" is a stack without fork config \(no forkstack:fork in its config, no forkstack:fork tag\), not a fork; /],
  ])("refuses %s for up, extend and down with exit code 2 in one line, changing nothing", async (id, message) => {
    const backend = mixed();
    const before = JSON.stringify([...backend.stacks]);
    for (const argv of [["up", id, "--service", "shop/api=img/api:1"], ["extend", id, "--ttl", "1h"], ["down", id]]) {
      const r = await forkctl(deps(backend), ...argv);
      expect(r.code).toBe(2);
      if (typeof message === "string") expect(r.stderr).toBe(`${message}\n`);
      else expect(r.stderr).toMatch(message);
    }
    expect(JSON.stringify([...backend.stacks])).toBe(before);
    expect(backend.calls.filter((c) => /^(up|destroy|setTags) /.test(c))).toEqual([]);
  });

  it("up of a new id creates the fork and tags it", async () => {
    const backend = mixed();
    const r = await forkctl(deps(backend), "up", "pr-1", "--service", "shop/api=img/api:1", "--ttl", "1h");
    expect(r.code).toBe(0);
    expect(backend.stacks.get("pr-1")!.tags).toEqual({ "forkstack:fork": "pr-1", "forkstack:base": "organization/forkstack/dev", "forkstack:expiresAt": "2026-12-01T11:00:00Z" });
  });

  it("ls and gc pass over every stack that is not a fork of the base", async () => {
    const backend = mixed();
    backend.clock = new Date("2027-06-01T00:00:00Z");
    expect((await forkctl(deps(backend), "ls")).stdout).toBe("no forks\n");
    const gc = JSON.parse((await forkctl(deps(backend), "gc", "--output", "json")).stdout);
    expect(gc).toEqual({ dryRun: false, removed: [], failed: [], kept: [], sweepNote: "no cluster view: retired routes of forks that are gone were not swept" });
    expect([...backend.stacks.keys()].sort()).toEqual(["dev", "scratch", "stg-1", "web"]);
    // With its base named, the other base's expired fork is collected.
    const other = JSON.parse((await forkctl(deps(backend), "gc", "--base", "organization/forkstack/staging", "--output", "json")).stdout);
    expect(other.removed).toEqual(["stg-1"]);
  });
});

describe("a fork whose first update failed", () => {
  const failure = () => upFailure("pulumi:pulumi:Stack (forkstack-pr-9)", 'forkstack:fork.services[0].name: "nope.shop" is not a Service in the shared cluster; check the name');

  it("fails with its cause in one line, then is listed as failed with it, and gc collects it once expired", async () => {
    const backend = new CannedBackend();
    backend.failUp.set("pr-9", failure());
    const r = await forkctl(deps(backend), "up", "pr-9", "--service", "shop/nope=img:1", "--ttl", "1h");
    expect([r.code, r.stderr]).toEqual([1, 'forkctl up pr-9: forkstack:fork.services[0].name: "nope.shop" is not a Service in the shared cluster; check the name\n']);
    const [fork] = JSON.parse((await forkctl(deps(backend), "ls", "--output", "json")).stdout);
    expect(fork).toMatchObject({ id: "pr-9", state: "failed", expiresAt: "2026-12-01T11:00:00Z", error: 'forkstack:fork.services[0].name: "nope.shop" is not a Service in the shared cluster; check the name' });
    backend.clock = new Date("2026-12-01T12:00:00Z");
    const gc = JSON.parse((await forkctl(deps(backend), "gc", "--output", "json")).stdout);
    expect(gc.removed).toEqual(["pr-9"]);
    expect(backend.stacks.has("pr-9")).toBe(false);
  });

  it("a fork created but never updated (only forkctl's tags) is listed as failed and down removes it", async () => {
    const backend = new CannedBackend();
    backend.stacks.set("pr-8", { config: {}, outputs: {}, history: [], tags: { "forkstack:fork": "pr-8", "forkstack:base": "organization/forkstack/dev" } });
    const [fork] = JSON.parse((await forkctl(deps(backend), "ls", "--output", "json")).stdout);
    expect(fork).toMatchObject({ id: "pr-8", state: "failed", error: "no update of this fork has finished" });
    const r = await forkctl(deps(backend), "down", "pr-8");
    expect([r.code, backend.stacks.has("pr-8")]).toEqual([0, false]);
  });
});

describe("a transient server error", () => {
  const serverFailure = () =>
    upFailure(
      "pulumi-nodejs:dynamic:Resource (routes-api)",
      'adding routes of fork "pr-9": listing VirtualServices: HTTP 503: the server is currently unable to handle the request; the API server kept failing through every retry (overloaded or restarting): run the update again',
    );

  /** A backend whose first `up` fails with `failure`; `calls()` counts the `up`s. */
  function failingOnce(failure: Error): { backend: CannedBackend; calls: () => number } {
    const backend = new CannedBackend();
    const up = backend.up.bind(backend);
    let calls = 0;
    backend.up = async (...args) => (++calls === 1 ? Promise.reject(failure) : up(...args));
    return { backend, calls: () => calls };
  }

  it("runs up once more after a jittered wait, and says so", async () => {
    const { backend, calls } = failingOnce(serverFailure());
    const d = deps(backend);
    const r = await forkctl(d, "up", "pr-9", "--service", "shop/api=img/api:1", "--ttl", "1h");
    expect([r.code, calls(), d.waits]).toEqual([0, 2, [10_000]]);
    expect(d.lines).toEqual([expect.stringMatching(/^forkctl: up pr-9 failed on a server error \(adding routes of fork "pr-9": listing VirtualServices: HTTP 503: .*\); running it once more in 10 s$/)]);
  });

  it.each([
    "the server is currently unable to handle the request",
    "Too many requests, please try again later.",
    'Patch "https://127.0.0.1:6443/apis/apps/v1/namespaces/shop/deployments/api-pr-9": dial tcp 127.0.0.1:6443: connect: connection refused',
    // Seen in the e2e fault tier: a connection dropped as the server went down.
    'Patch "https://127.0.0.1:45069/apis/apps/v1/namespaces/shop/deployments/api-pr-9?fieldManager=pulumi-kubernetes-1f3baa28&fieldValidation=Warn&force=false&timeout=5s": read tcp 127.0.0.1:38722->127.0.0.1:45069: read: connection reset by peer',
  ])("recognises the Kubernetes provider's own report of a shed, unavailable or restarting server: %s", async (answer) => {
    const { backend, calls } = failingOnce(
      upFailure(
        "kubernetes:apps/v1:Deployment (pr-9-shop-api-deployment)",
        `resource "urn:pulumi:pr-9::forkstack::kubernetes:apps/v1:Deployment::pr-9-shop-api-deployment" was not successfully created by the Kubernetes API server: ${answer}`,
      ),
    );
    const r = await forkctl(deps(backend), "up", "pr-9", "--service", "shop/api=img/api:1", "--ttl", "1h");
    expect([r.code, calls()]).toEqual([0, 2]);
  });

  it("fails in one line when the second run fails too; a refusal is never run again", async () => {
    const backend = new CannedBackend();
    backend.failUp.set("pr-9", serverFailure());
    const r = await forkctl(deps(backend), "up", "pr-9", "--service", "shop/api=img/api:1", "--ttl", "1h");
    expect(r.code).toBe(1);
    expect(backend.calls.filter((c) => c === "up pr-9")).toHaveLength(2);
    const refused = new CannedBackend();
    refused.failUp.set("pr-9", new Error('forkstack:fork.services[0].name: "nope.shop" is not a Service in the shared cluster; check the name'));
    await forkctl(deps(refused), "up", "pr-9", "--service", "shop/nope=img:1", "--ttl", "1h");
    expect(refused.calls.filter((c) => c === "up pr-9")).toHaveLength(1);
  });
});

describe("a stack locked by another update", () => {
  it("is retried with growing, jittered waits until the lock is gone", async () => {
    const backend = new CannedBackend();
    backend.locked = 2;
    const d = deps(backend, undefined, { random: () => 0.25 });
    const r = await forkctl(d, "up", "pr-5", "--service", "shop/api=img/api:1");
    expect(r.code).toBe(0);
    expect(d.waits).toEqual([750, 1500]);
    expect(d.lines).toContain("forkctl: stack pr-5 is locked by another update; trying again in 1 s (1/3)");
  });

  it("is reported plainly after the last try, with exit code 1", async () => {
    const backend = new CannedBackend();
    backend.locked = 99;
    const r = await forkctl(deps(backend), "up", "pr-5", "--service", "shop/api=img/api:1");
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split("\n").pop()).toBe(
      "forkctl up pr-5: stack pr-5 is still locked by another update after 4 tries over 7 s; wait for it to finish (pulumi stack history --stack pr-5) or, if it died, run pulumi cancel --stack pr-5 --yes",
    );
    expect(backend.calls.filter((c) => c === "up pr-5")).toHaveLength(4);
  });
});

describe("a lock whose holder the backend names", () => {
  const holder = (host: string, pid = 4242): LockHolder => ({ user: "ci", host, pid, since: "2026-12-01T09:59:00Z" });

  it("reads the holders from a self-managed backend's lock error, as pulumi words it", () => {
    const message =
      "the stack is currently locked by 2 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
      "  file:///state/.pulumi/locks/organization/forkstack/pr-5/3f1c.json: created by runner@ci-7 (pid 811) at 2026-12-01T09:59:00Z\n" +
      "  file:///state/.pulumi/locks/organization/forkstack/pr-5/8a2b.json: created by dev@laptop.local (pid 99) at 2026-12-01T10:00:00+01:00";
    expect(lockHolders(message)).toEqual([
      { user: "runner", host: "ci-7", pid: 811, since: "2026-12-01T09:59:00Z" },
      { user: "dev", host: "laptop.local", pid: 99, since: "2026-12-01T10:00:00+01:00" },
    ]);
    expect(lockHolders("[409] Conflict: Another update is currently in progress.")).toEqual([]);
  });

  it("a run on this machine that is gone (killed): its lock is cleared once, said, and the update goes on", async () => {
    const backend = new CannedBackend();
    backend.locked = 1;
    backend.lockedBy = [holder("ci-1")];
    const d = deps(backend, undefined, { host: { name: "ci-1", alive: () => false } });
    const r = await forkctl(d, "up", "pr-5", "--service", "shop/api=img/api:1");
    expect([r.code, d.waits, backend.calls.filter((c) => /^(up|cancel) /.test(c))]).toEqual([0, [], ["up pr-5", "cancel pr-5", "up pr-5"]]);
    expect(d.lines).toEqual(["forkctl: stack pr-5 is locked by a run that is gone (ci@ci-1 (pid 4242) since 2026-12-01T09:59:00Z); clearing its lock (pulumi cancel)"]);
  });

  it("a run still alive here, or one on another machine, is waited for and named, never cleared", async () => {
    for (const host of [{ name: "ci-1", alive: () => true }, { name: "ci-2", alive: () => false }]) {
      const backend = new CannedBackend();
      backend.locked = 99;
      backend.lockedBy = [holder("ci-1")];
      const r = await forkctl(deps(backend, undefined, { host }), "up", "pr-5", "--service", "shop/api=img/api:1");
      expect(r.code).toBe(1);
      expect(backend.calls).not.toContain("cancel pr-5");
      expect(r.stderr.trimEnd().split("\n").pop()).toBe(
        "forkctl up pr-5: stack pr-5 is still locked by another update (by ci@ci-1 (pid 4242) since 2026-12-01T09:59:00Z) after 4 tries over 7 s; wait for it to finish (pulumi stack history --stack pr-5) or, if it died, run pulumi cancel --stack pr-5 --yes",
      );
    }
  });
});

describe("quantities", () => {
  it.each([
    ["250m", 0.25],
    ["2", 2],
    ["1.5", 1.5],
    [undefined, 0],
  ])("reads CPU %j as %d cores", (q, cores) => {
    expect(cpuCores(q)).toBeCloseTo(cores);
  });

  it.each([
    ["512Mi", 0.5],
    ["1Gi", 1],
    ["1G", 1e9 / 1024 ** 3],
    ["128974848", 128974848 / 1024 ** 3],
    ["1e9", 1e9 / 1024 ** 3],
  ])("reads memory %j as %d GiB", (q, gib) => {
    expect(memoryGiB(q)).toBeCloseTo(gib);
  });
});
