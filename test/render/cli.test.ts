/**
 * The render CLI as a person runs it: a child process, its exit code, stdout and stderr, and the
 * files it leaves. The first block needs no program (input mistakes are caught before any stack
 * runs); the second renders the real index.ts on the fixtures in test/fixtures/render/shop.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { KubeObject } from "../../render/cluster";
import { hasSchema, validateAgainstSchema } from "../helpers/schemas";
import { validateEmissary } from "../helpers/emissary";
import { main } from "../../render/cli";

const ROOT = path.resolve(__dirname, "../..");
const SHOP = path.join(ROOT, "test/fixtures/render/shop");
const SEED = path.join(SHOP, "cluster.yaml");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in-process (render/cli.ts `main`, what the process runs): the same parsing, render
 * and one-line errors, without a ts-node start per call. One test below runs it as a process.
 */
async function runCli(args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  // Renders pin their clock to RENDER_EPOCH unless FORKSTACK_NOW is set: keep it unset here.
  const now = process.env.FORKSTACK_NOW;
  delete process.env.FORKSTACK_NOW;
  try {
    const code = await main(args, { stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) }, ROOT);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    if (now !== undefined) process.env.FORKSTACK_NOW = now;
  }
}

function runCliProcess(args: string[]): Run {
  const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "render/cli.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 120_000,
    // Renders pin their clock to RENDER_EPOCH unless FORKSTACK_NOW is set: keep it unset here.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "FORKSTACK_NOW")),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const made: string[] = [];
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function tmpOut(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-cli-"));
  made.push(dir);
  return path.join(dir, "out");
}

/** The error lines of stderr (progress and warnings excluded). */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l !== "" && !l.startsWith("rendering stack ") && !l.startsWith("warning: "));
}

function readCluster(out: string): KubeObject[] {
  return YAML.parseAllDocuments(fs.readFileSync(path.join(out, "cluster.yaml"), "utf8")).map((d) => d.toJS());
}

const ofFork = (objects: KubeObject[], fork: string) => objects.filter((o) => o.metadata.labels?.["forkstack.dev/fork"] === fork);
const routeNames = (vs: KubeObject | undefined) => ((vs?.spec as any)?.http ?? []).map((r: any) => r.name);
const find = (objects: KubeObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

describe("render CLI as a process", () => {
  it("exits 2 with one line on stderr for an unknown flag", () => {
    const r = runCliProcess(["--bogus", "--stack", "base", "--out", tmpOut()]);
    expect([r.code, errorLines(r.stderr)]).toEqual([2, [expect.stringMatching(/^render: --bogus/)]]);
  }, 120_000);
});

describe("render CLI: input mistakes", () => {
  it("rejects an unknown flag with one line and exit code 2", async () => {
    const r = await runCli(["--bogus", "--stack", "base", "--out", tmpOut()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`render: --bogus: "--bogus" is not an option; use --config-dir, --cluster, --stack, --out, --json or --now; see npm run render -- --help\n`);
  });

  it("requires --out and writes nothing without it", async () => {
    const r = await runCli(["--config-dir", SHOP, "--stack", "base"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("render: --out: (missing) is required; add it, e.g. --out render-out; see npm run render -- --help\n");
  });

  it("names every missing required flag in one line", async () => {
    const r = await runCli([]);
    expect([r.code, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toBe("render: --stack and --out: (missing) are required; add them, e.g. --stack dev --out render-out; see npm run render -- --help\n");
  });

  it("names a stack's missing config file and writes nothing", async () => {
    const out = tmpOut();
    const r = await runCli(["--config-dir", SHOP, "--stack", "base", "--stack", "ghost", "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `render: --stack: "ghost" has no config file ${path.join(SHOP, "Pulumi.ghost.yaml")}; write ${path.join(SHOP, "Pulumi.ghost.yaml")}, or pass --config-dir with the folder that holds Pulumi.ghost.yaml\n`,
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  it("rejects a positional argument", async () => {
    const r = await runCli(["base", "--out", tmpOut()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('render: argument: "base" is not expected; name stacks with --stack NAME; see npm run render -- --help\n');
  });

  it("refuses an --out directory that holds other files and leaves it as it was", async () => {
    const out = tmpOut();
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, "keep.txt"), "mine");
    const r = await runCli(["--config-dir", SHOP, "--stack", "base", "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^render: --out: ".*" holds other files \(keep\.txt\); name a new or empty directory/);
    expect(fs.readdirSync(out)).toEqual(["keep.txt"]);
  });

  it("names an unreadable --cluster file", async () => {
    const r = await runCli(["--config-dir", SHOP, "--cluster", "nope.yaml", "--stack", "base", "--out", tmpOut()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('render: --cluster: "nope.yaml" cannot be read; pass a YAML file of Kubernetes objects that exists\n');
  });

  it("rejects a fork rendered without its base stack before it", async () => {
    const out = tmpOut();
    const r = await runCli(["--config-dir", SHOP, "--stack", "a", "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'render: stack a: forkstack:baseStack: "organization/forkstack/base" names stack "base", which is not rendered before "a"; add --stack base before --stack a\n',
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  it("prints the usage for --help and exits 0", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--stack NAME");
  });
});

// These render the real program (index.ts → components/base.ts and components/forkProgram.ts).
describe("render CLI: the real program on the shop fixtures", () => {
  let both: { run: Run; out: string; objects: KubeObject[] };
  let onlyB: { run: Run; out: string; objects: KubeObject[] };

  async function render(stacks: string[], extra: string[] = []) {
    const out = tmpOut();
    const run = await runCli(["--config-dir", SHOP, "--cluster", SEED, ...stacks.flatMap((s) => ["--stack", s]), "--out", out, ...extra]);
    if (run.code !== 0) throw new Error(`render ${stacks.join(",")} failed (${run.code}): ${run.stderr}`);
    return { run, out, objects: readCluster(out) };
  }

  beforeAll(async () => {
    both = await render(["base", "a", "b"]);
    onlyB = await render(["base", "b"]);
  }, 300_000);

  it("says which folders it created for --out", () => {
    expect(both.run.stderr).toContain(`created ${both.out}\n`);
  });

  it("reports each stack on stdout and its progress on stderr", () => {
    expect(both.run.stdout).toMatch(/^rendered 3 stacks into .*: cluster\.yaml \(\d+ objects\), resources\.json, outputs\.json\n/);
    expect(both.run.stdout).toContain("https://a.shop.dev.example.com/");
    expect(both.run.stderr).toContain("rendering stack b (3/3)…");
  });

  it("puts the routes of both forks into the one VirtualService of the shared api", () => {
    const covering = both.objects.filter((o) => o.kind === "VirtualService" && JSON.stringify((o.spec as any).hosts).includes("api.shop"));
    expect(covering).toHaveLength(1);
    // b, rendered after a, is inserted first (fork/routePatch.ts).
    expect(routeNames(covering[0])).toEqual(["forkstack-b", "forkstack-a", "default"]);
  });

  it("keeps the app team's route and retries in the catalog VirtualService below fork b's route", () => {
    const catalog = find(both.objects, "VirtualService", "catalog");
    expect(routeNames(catalog)).toEqual(["forkstack-b", "primary"]);
    expect((catalog!.spec as any).http[1].retries).toEqual({ attempts: 3, perTryTimeout: "2s" });
  });

  // Fork a's routes, spelled out here rather than with naming.ts so the test does not trust the code it checks.
  const isRouteOfA = (name: unknown) => typeof name === "string" && /^forkstack-a(--\d+)?$/.test(name);

  it("finds fork a's copy of api, its Mapping and its one route in [base, a, b] (what the next test takes out)", () => {
    expect(ofFork(both.objects, "a").map((o) => `${o.kind} ${o.metadata.name}`).sort()).toEqual(["Deployment api-a", "Mapping fork-a-shop-dev-example-com", "Service api-a"]);
    const routesOfA = both.objects.filter((o) => o.kind === "VirtualService").flatMap((vs) => routeNames(vs).filter(isRouteOfA).map((r: string) => `${vs.metadata.name} ${r}`));
    expect(routesOfA).toEqual(["forkstack-api forkstack-a"]);
  });

  // Fork a never rendered is the state `pulumi destroy` of a must leave: equal to [base, b] in
  // everything but resourceVersion. This holds for the VirtualService forkstack created for api
  // (fork a was first, so a created it) because its created-by annotation names forkstack, not
  // the fork that created it, and the fork routes keep their relative order, so b's sits above
  // the default route either way.
  it("renders exactly [base, b] when fork a's objects and routes are taken out of [base, a, b]", () => {
    const withoutA = both.objects
      .filter((o) => o.metadata.labels?.["forkstack.dev/fork"] !== "a")
      .map((o) => (o.kind === "VirtualService" ? { ...o, spec: { ...(o.spec as any), http: (o.spec as any).http.filter((r: any) => !isRouteOfA(r.name)) } } : o));
    // resourceVersion counts writes, and [base, a, b] wrote more; nothing else may differ.
    const normalize = (objects: KubeObject[]) =>
      objects
        .map((o) => {
          const { resourceVersion: _rv, ...metadata } = o.metadata;
          return { ...o, metadata };
        })
        .sort((x, y) => `${x.kind}/${x.metadata.namespace}/${x.metadata.name}`.localeCompare(`${y.kind}/${y.metadata.namespace}/${y.metadata.name}`));
    expect(normalize(withoutA)).toEqual(normalize(onlyB.objects));
  });

  it("renders fork b's objects the same with or without fork a", () => {
    const strip = (objects: KubeObject[]) =>
      ofFork(objects, "b").map((o) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } }));
    expect(strip(onlyB.objects)).toEqual(strip(both.objects));
    expect(strip(onlyB.objects).map((o) => `${o.kind} ${o.metadata.name}`).sort()).toEqual([
      "Deployment api-b",
      "Deployment catalog-b",
      "Mapping fork-b-shop-dev-example-com",
      "Service api-b",
      "Service catalog-b",
    ]);
  });

  it("keeps the shared host's Mapping pointed at the shared entry and removing the fork header", () => {
    const shared = both.objects.find((o) => o.kind === "Mapping" && (o.spec as any).hostname === "shop.dev.example.com");
    expect(shared?.spec).toMatchObject({ service: "frontend.shop:80", remove_request_headers: ["x-fork-identifier"] });
  });

  it("copies nothing for a header-only fork", async () => {
    const hdr = await render(["base", "hdr"]);
    expect(ofFork(hdr.objects, "hdr").map((o) => o.kind)).toEqual(["Mapping"]);
    const resources = JSON.parse(fs.readFileSync(path.join(hdr.out, "resources.json"), "utf8"));
    const created = resources.filter((r: any) => r.stack === "hdr" && !r.read && /:(Deployment|Service)$/.test(r.type));
    expect(created).toEqual([]);
  }, 120_000);

  it("validates every rendered object against its published schema", () => {
    const checked: string[] = [];
    for (const o of both.objects) {
      if (o.apiVersion.startsWith("getambassador.io/")) validateEmissary(o);
      else if (hasSchema(o)) validateAgainstSchema(o);
      else continue;
      checked.push(o.kind);
    }
    expect(checked).toEqual(expect.arrayContaining(["Deployment", "Service", "VirtualService", "Mapping"]));
  });

  it("prints a machine-readable summary with --json", async () => {
    const r = (await render(["base", "hdr"], ["--json"])).run;
    const summary = JSON.parse(r.stdout);
    expect(summary.stacks.map((s: any) => [s.stack, s.kind])).toEqual([
      ["base", "base"],
      ["hdr", "fork"],
    ]);
  }, 120_000);

  it("rejects an invalid fork id with one line naming the stack and field, and writes nothing", async () => {
    const out = tmpOut();
    const r = await runCli(["--config-dir", SHOP, "--cluster", SEED, "--stack", "base", "--stack", "badid", "--out", out]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^render: stack badid: forkstack:fork\.id: "Bad_Id" is not a lowercase DNS label; /)]);
    expect(fs.existsSync(out)).toBe(false);
  }, 120_000);

  it("rejects a fork of a service the cluster does not have, and writes nothing", async () => {
    const out = tmpOut();
    const r = await runCli(["--config-dir", SHOP, "--cluster", SEED, "--stack", "base", "--stack", "nosvc", "--out", out]);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^render: stack nosvc: forkstack:fork\.services\[0\]\..*payments/)]);
    expect(fs.existsSync(out)).toBe(false);
  }, 120_000);
});

describe("render CLI: forks that touch shared pieces twice (issue 15)", () => {
  /** A config dir with the shop fixtures plus extra stacks. */
  function dirWith(extra: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-cli-cfg-"));
    made.push(dir);
    for (const f of fs.readdirSync(SHOP)) fs.copyFileSync(path.join(SHOP, f), path.join(dir, f));
    for (const [name, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, `Pulumi.${name}.yaml`), text);
    return dir;
  }

  it("refuses a second stack with a fork id another stack owns, naming both, and writes nothing", async () => {
    const dir = dirWith({ "a-copy": fs.readFileSync(path.join(SHOP, "Pulumi.a.yaml"), "utf8") });
    const out = tmpOut();
    const r = await runCli(["--config-dir", dir, "--cluster", SEED, "--stack", "base", "--stack", "a", "--stack", "a-copy", "--out", out]);
    expect([r.code, errorLines(r.stderr), fs.existsSync(out)]).toEqual([
      1,
      [expect.stringMatching(/^render: stack a-copy: forkstack:fork\.id: "a" is already used by stack forkstack\/a \(.+\), not by this stack forkstack\/a-copy; /)],
      false,
    ]);
  }, 120_000);

  it("refuses a misspelled key in a fork stack instead of running the shared image", async () => {
    const dir = dirWith({ typo: "config:\n  forkstack:baseStack: organization/forkstack/base\n  forkstack:fork:\n    id: typo\n    services:\n      - { name: api, namespace: shop, imgae: registry.example.com/api:t-1 }\n" });
    const r = await runCli(["--config-dir", dir, "--cluster", SEED, "--stack", "base", "--stack", "typo", "--out", tmpOut()]);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^render: stack typo: forkstack:fork\.services\[0\]\.imgae: .* did you mean forkstack:fork\.services\[0\]\.image\?/)]);
  }, 120_000);
});
