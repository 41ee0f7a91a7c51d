import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../render/explainCli";

const ROOT = path.resolve(__dirname, "../..");
const FIXTURE = path.join(__dirname, "../fixtures/explain/alice.yaml");

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "explain-"));
  fs.copyFileSync(FIXTURE, path.join(dir, "cluster.yaml"));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The CLI in-process (render/explainCli.ts `main`, what the process runs); one test runs the process. */
function explain(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const out: string[] = [];
  const err: string[] = [];
  const status = main(args, { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) });
  return { status, stdout: out.join(""), stderr: err.join("") };
}

function explainProcess(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "render/explainCli.ts", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("npm run explain as a process", () => {
  it("exits 1 and prints the problem when the chain is broken", () => {
    const r = explainProcess("--render", dir, "--host", "bob.shop.dev.example.com", "--calls", "api");
    expect([r.status, r.stdout.includes("problem (hop 0): no Mapping for host bob.shop.dev.example.com")]).toEqual([1, true]);
  }, 60_000);
});

describe("npm run explain -- --verify", () => {
  it("names --render in one line with exit 2 when it is missing", () => {
    const r = explain("--verify");
    expect([r.status, r.stderr.trimEnd().split("\n").length, r.stderr]).toEqual([2, 1, expect.stringMatching(/^explain: .*--render.*; see npm run explain -- --help\n$/)]);
  });

  it("says in one line, exit 2, that it needs Go when the machine has none", () => {
    // bash, but no Go on PATH: e2e/build.sh cannot find (or build) the istio-routes tool.
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "render/explainCli.ts", "--render", dir, "--verify"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, PATH: "/usr/bin:/bin" },
    });
    expect(r.status).toBe(2);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("explain: --verify: e2e/build.sh istio-routes failed"))).toEqual([
      expect.stringMatching(/^explain: --verify: e2e\/build\.sh istio-routes failed \(exit \d+\); it needs Go \(https:\/\/go\.dev\/doc\/install\) and its module proxy$/),
    ]);
    expect(r.stdout).toBe("");
  }, 60_000);
});

describe("npm run explain", () => {
  it("prints the hops and exits 0 when the chain holds", () => {
    const r = explain("--render", dir, "--host", "alice.shop.dev.example.com", "--calls", "api,catalog");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("VirtualService shop/api route forkstack-alice");
    expect(r.stdout.trimEnd().endsWith("chain ok")).toBe(true);
  });

  it("exits 1 and names the problem when the chain is broken", () => {
    const r = explain("--render", dir, "--host", "bob.shop.dev.example.com", "--calls", "api");
    expect(r.status).toBe(1);
    expect(r.stdout).toContain("problem (hop 0): no Mapping for host bob.shop.dev.example.com");
  });

  it("prints JSON with --json, honouring client headers", () => {
    const r = explain("--render", dir, "--host", "shop.dev.example.com", "--header", "x-fork-identifier=alice", "--calls", "api", "--json");
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.hops.map((h: { target: string }) => h.target)).toEqual(["shop/frontend", "shop/api"]);
  });

  it("accepts a URL for --host, reading its host", () => {
    const r = explain("--render", dir, "--host", "https://alice.shop.dev.example.com/", "--calls", "api", "--json");
    expect([r.status, JSON.parse(r.stdout).hops[1].decidedBy]).toEqual([0, "VirtualService shop/api route forkstack-alice"]);
  });

  it("takes the path of a --host URL as the request path", () => {
    const r = explain("--render", dir, "--host", "https://shop.dev.example.com/nowhere", "--calls", "", "--json");
    const json = explain("--render", dir, "--host", "shop.dev.example.com", "--path", "/nowhere", "--calls", "", "--json");
    expect(r.stdout).toBe(json.stdout);
  });

  it("refuses a --host that is neither a host nor a URL, in one line with exit 2", () => {
    const r = explain("--render", dir, "--host", "alice shop", "--calls", "api");
    expect([r.status, r.stderr]).toEqual([2, 'explain: --host: "alice shop" is not a host name; write the host alone, e.g. --host alice.shop.dev.example.com, or a URL https://…\n']);
  });

  it("refuses a --host URL of another scheme, in one line with exit 2", () => {
    const r = explain("--render", dir, "--host", "ftp://alice.shop.dev.example.com/", "--calls", "api");
    expect([r.status, r.stderr]).toEqual([2, 'explain: --host: "ftp://alice.shop.dev.example.com/" has the scheme ftp:; use an http(s) URL or the host alone\n']);
  });

  it("fits every line of its answer in 100 columns", () => {
    const r = explain("--render", dir, "--host", "alice.shop.dev.example.com", "--calls", "api,catalog,inventory");
    expect(r.stdout.split("\n").filter((l) => [...l].length > 100)).toEqual([]);
  });

  it("rejects an unknown flag with one line and exit 2", () => {
    const r = explain("--render", dir, "--hots", "x", "--calls", "api");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`explain: --hots: "--hots" is not an option; use --render, --host, --path, --header, --calls, --header-name, --json or --verify; see npm run explain -- --help\n`);
  });

  it("names every missing required flag in one line with exit 2; --calls '' (the gateway hop alone) is given", () => {
    const none = explain();
    expect([none.status, none.stderr]).toEqual([
      2,
      "explain: --render, --host and --calls: (missing) are required; add them, e.g. --render render-out --host alice.shop.dev.example.com --calls api,catalog; see npm run explain -- --help\n",
    ]);
    const some = explain("--render", dir, "--host", "", "--calls", "");
    expect([some.status, some.stderr]).toEqual([2, "explain: --host: (missing) is required; add it, e.g. --host alice.shop.dev.example.com; see npm run explain -- --help\n"]);
    expect(explain("--render", dir, "--host", "alice.shop.dev.example.com", "--calls", "").status).toBe(0);
  });

  it("rejects a folder without cluster.yaml with one line and exit 2", () => {
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty, { recursive: true });
    const r = explain("--render", empty, "--host", "shop.dev.example.com", "--calls", "api");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`explain: --render: ${JSON.stringify(empty)} has no cluster.yaml; render first: npm run render -- --stack dev --out DIR\n`);
  });

  it("rejects a cluster.yaml with a document that is not a Kubernetes object, in one line with exit 2", () => {
    const bad = path.join(dir, "bad");
    fs.mkdirSync(bad, { recursive: true });
    fs.writeFileSync(path.join(bad, "cluster.yaml"), "kind: Service\n");
    const r = explain("--render", bad, "--host", "shop.dev.example.com", "--calls", "api");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`explain: ${path.join(bad, "cluster.yaml")}: "every document needs apiVersion, kind and metadata.name" cannot be read as Kubernetes objects; re-render it\n`);
  });

  it("rejects a --header without = with one line and exit 2", () => {
    const r = explain("--render", dir, "--host", "shop.dev.example.com", "--header", "x-fork-identifier", "--calls", "api");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`explain: --header: "x-fork-identifier" is not NAME=VALUE; write e.g. --header x-fork-identifier=alice\n`);
  });
});
