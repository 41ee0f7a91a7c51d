/**
 * `npm run demo` as a newcomer runs it, in-process (runDemo is what render/demo.ts runs as a
 * process): the real examples/ render offline with exit code 0, and a missing example file fails
 * in one line.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { demoInputs, runDemo } from "../../render/demo";

const ROOT = path.resolve(__dirname, "../..");

const made: string[] = [];
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe("demo: missing examples", () => {
  it("fails with one line naming the first missing example file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-demo-examples-"));
    fs.copyFileSync(path.join(ROOT, "examples/Pulumi.dev.yaml"), path.join(dir, "Pulumi.dev.yaml"));
    const err: string[] = [];
    const code = await runDemo({ examplesDir: dir, stdout: () => undefined, stderr: (t) => err.push(t) });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(code).toBe(1);
    expect(err).toEqual([`demo: ${path.join(dir, "Pulumi.alice.yaml")} is missing; the demo renders the example stacks in ${dir} (restore it from git)\n`]);
  });

  it("reads the base, two forks and the cluster seed", () => {
    expect(demoInputs()).toEqual(["Pulumi.dev.yaml", "Pulumi.alice.yaml", "Pulumi.bob.yaml", "cluster/shop.yaml"]);
  });
});

// Renders the real program (index.ts → components/base.ts, components/forkProgram.ts) on examples/.
describe("demo: the examples", () => {
  let run: { code: number | null; stdout: string; stderr: string };
  let outDir: string;

  // In-process (render/demo.ts `runDemo`, what `npm run demo` runs): no ts-node start of its own.
  beforeAll(async () => {
    const out: string[] = [];
    const err: string[] = [];
    const now = process.env.FORKSTACK_NOW;
    delete process.env.FORKSTACK_NOW;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-demo-test-"));
    made.push(dir);
    outDir = path.join(dir, "render");
    try {
      const code = await runDemo({ stdout: (t) => void out.push(t), stderr: (t) => void err.push(t), argv: ["--out", outDir] });
      run = { code, stdout: out.join(""), stderr: err.join("") };
    } finally {
      if (now !== undefined) process.env.FORKSTACK_NOW = now;
    }
  }, 300_000);

  it("exits 0", () => {
    expect({ code: run.code, stderr: run.stderr.split("\n").filter((l) => !l.startsWith("rendering stack ")) }).toEqual({ code: 0, stderr: [""] });
  });

  it("prints both forks' URLs", () => {
    expect(run.stdout).toContain("  URL:     https://alice.shop.dev.example.com/\n");
    expect(run.stdout).toContain("  URL:     https://bob.shop.dev.example.com/\n");
  });

  it("says what each fork copied", () => {
    expect(run.stdout).toContain("  copied:  api.shop → api-alice.shop (registry.example.com/shop/api:alice-1)\n");
    expect(run.stdout).toMatch(/ {2}copied: {2}api\.shop → api-bob\.shop \(registry\.example\.com\/shop\/api:bob-7\)\n {11}catalog\.shop → catalog-bob\.shop/);
  });

  it("prices the two forks against a full copy per fork", () => {
    // The shop runs 6 pods (catalog scaled to 2 by its HPA); alice copies 1 pod, bob 2.
    expect(run.stdout).toContain("2 forks cost 3 pods on top of the shared 6; copying the environment per fork would cost 12 pods.\n");
  });

  it("fits every line in 100 columns", () => {
    expect(run.stdout.split("\n").filter((l) => [...l].length > 100)).toEqual([]);
  });

  it("writes the render into --out and says how to follow another request through it", () => {
    expect(fs.readdirSync(outDir).sort()).toEqual(["cluster.yaml", "outputs.json", "resources.json"]);
    expect(run.stdout).toContain(
      `\nThe render (cluster.yaml, resources.json, outputs.json) is in\n  ${outDir}\nFollow another request through it:\n` +
        `  npm run explain -- --render ${outDir} \\\n      --host alice.shop.dev.example.com --calls api,catalog,inventory\n`,
    );
  });

  it("shows the extra header alice's Mapping adds", () => {
    expect(run.stdout).toContain("  the gateway also sets: x-feature-flags: new-checkout=on\n");
  });

  it("prints the cost line README.md quotes", () => {
    const line = /^\d+ forks? cost .*$/m.exec(run.stdout)?.[0];
    expect(fs.readFileSync(path.join(ROOT, "README.md"), "utf8")).toContain(`\n${line}\n`);
  });

  it("follows one request per fork to the fork's copy of api", () => {
    expect(run.stdout).toMatch(/A request to https:\/\/alice\.shop\.dev\.example\.com\/:\n(.*\n)*.*api-alice.*alice/);
    expect(run.stdout).toMatch(/A request to https:\/\/bob\.shop\.dev\.example\.com\/:\n(.*\n)*.*catalog-bob.*bob/);
  });
});

describe("demo: flags", () => {
  it("refuses an unknown flag in one line with exit code 2 before rendering anything", async () => {
    const err: string[] = [];
    const code = await runDemo({ argv: ["--keep"], stdout: () => undefined, stderr: (t) => void err.push(t) });
    expect([code, err]).toEqual([2, ['demo: --keep: "--keep" is not an option; use --out; see npm run demo -- --help\n']]);
  });
});

// `npm run demo` exactly as a newcomer runs it, as a process with a temp folder of its own.
describe("demo: as a process", () => {
  let run: { code: number | null; stdout: string; stderr: string };
  let tmp: string;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "forkstack-demo-tmpdir-"));
    made.push(tmp);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "FORKSTACK_NOW"));
    const r = spawnSync(process.execPath, ["scripts/run.js", "ts-node/dist/bin", "--transpile-only", "render/demo.ts"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 240_000,
      env: { ...env, TMPDIR: tmp, TMP: tmp, TEMP: tmp },
    });
    run = { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }, 300_000);

  it("exits 0", () => {
    expect([run.code, run.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("rendering stack "))]).toEqual([0, []]);
  });

  it("leaves nothing in its temp folder", () => {
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it("fits every line in 100 columns", () => {
    expect(run.stdout.split("\n").filter((l) => [...l].length > 100)).toEqual([]);
  });

  it("says nothing was written and how to keep the render", () => {
    expect(run.stdout).toContain("\nNothing was written. To follow other requests, keep the render (render-out/ is gitignored):\n  npm run demo -- --out render-out\n");
  });
});
